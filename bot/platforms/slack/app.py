"""The Slack adapter: a Bolt app whose listeners translate, call the engine, and post. Thin.

* The conversation happens in the app's DM ("Messages" tab). ``/rebound <words>`` and
  ``@Rebound <words>`` work anywhere: in a channel the person gets an ephemeral "I've sent you a
  DM" and the coaching carries on in the DM, so nothing personal is ever posted to a channel.
* Ack first, always: over HTTP with an inbox (``rebound slack --http``), events, button
  presses and slash commands are verified, written to the durable inbox and acknowledged before
  any turn runs; the inbox worker (:mod:`.worker`) dispatches them to these same listeners
  later (docs/performance.md). Otherwise (Socket Mode, or ``http_app`` without an inbox) events
  are acknowledged by Bolt before the listener runs, commands and button presses call ``ack()``
  on their first line, and only then does the engine (synchronous, in a worker thread) take its
  turn. The one exception is a modal submission, which must be answered with its field errors;
  the engine's turn takes milliseconds.
* Slack retries an event it thinks was missed (``X-Slack-Retry-Num``), even while the answer is
  on its way. Every event passes its ``event_id`` to the engine, which records it in the same
  transaction as the turn, so a retry is answered once, across processes.
* Buttons carry the step token, forms open as modals from the "Fill in" button's trigger id, and
  a used message is updated so its buttons can't be pressed twice.
* Nothing in a payload decides where a reply goes: replies go to the person's own DM (from
  ``conversations.open``), a message is only edited in that DM, and a button value sent to
  someone else is an old button. A payload that names no user is acknowledged and ignored.
* Every request Slack sends gets a 2xx, even an event or a button this app has no use for:
  Slack retries anything else. In HTTP mode the signature is checked before the body is read,
  so garbage costs a 4xx and one short log line.

``on_handled(kind)`` is called after every listener finishes, for metrics and for tests that
must know the work behind an early ack is done.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine as SQLEngine

from bot.config import Settings
from bot.conversation.engine import Engine
from bot.conversation.inbox import GroupCommit, Inbox
from bot.conversation.messages import Inbound, Reply, UserKey
from bot.platforms.slack import convert as render
from bot.platforms.slack.send import SlackPoster, error_code, open_dm, post_replies, web_client

log = logging.getLogger(__name__)

COMMAND = "/rebound"
# The events the listeners handle; with the scopes, slack/manifest.yml must match (tested).
EVENTS = ("message", "app_mention", "app_home_opened")
REVOCATION_EVENTS = ("app_uninstalled", "tokens_revoked")
# Exactly what the listeners below and send.py call need.
BOT_SCOPES = [
    "app_mentions:read",
    "chat:write",
    "commands",
    "files:write",
    "im:history",
    "im:write",
    # users.info: the name a person goes by (offered as the name to sign with), and whether
    # someone asking for /rebound admin is a workspace admin.
    "users:read",
]
EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
ANYTHING = re.compile(".*")  # the catch-all listeners: acknowledged, ignored
DM_CACHE = 10_000  # people whose DM channel id is remembered (it never changes)
NAME_CACHE = 10_000  # people whose profile name was asked for in this process

Listener = Callable[[AsyncArgs], Awaitable[None]]


class SlackAdapter:
    """The listeners. Each turns a payload into an ``Inbound`` and the replies into API calls."""

    def __init__(self, engine: Engine, on_handled: Callable[[str], None] | None = None) -> None:
        missing = [k for k in render.CHROME_KEYS if k not in engine.messages]
        if missing:
            raise ValueError(f"_messages.yaml lacks what Slack shows: {', '.join(missing)}")
        self.engine = engine
        self.msg = engine.messages
        self.on_handled = on_handled
        self._dms: OrderedDict[UserKey, str] = OrderedDict()
        self._names: OrderedDict[UserKey, str | None] = OrderedDict()

    def register(self, app: AsyncApp) -> None:
        events: dict[str, Listener] = {
            "message": self.on_message,
            "app_mention": self.on_mention,
            "app_home_opened": self.on_home_opened,
        }
        for name in EVENTS:
            app.event(name)(self._wrap(name, events[name]))
        app.command(COMMAND)(self._wrap("command", self.on_command))
        app.action(re.compile(f"^{render.CHOICE_ACTION}_"))(self._wrap("choice", self.on_choice))
        app.action(render.OPEN_FORM_ACTION)(self._wrap("open_form", self.on_open_form))
        app.action(render.HOME_CONTINUE_ACTION)(self._wrap("continue", self.on_continue))
        app.view(render.FORM_CALLBACK)(self._wrap("submit", self.on_submit))
        if app.installation_store is not None:
            app.enable_token_revocation_listeners()  # Bolt deletes the workspace's tokens
        else:
            for name in REVOCATION_EVENTS:
                app.event(name)(self._wrap(name, self.on_uninstalled))
        # Last, so they only see what nothing above matched: Bolt would answer 404 (and Slack
        # would retry) for an event type or an action id we don't use.
        app.event(ANYTHING)(self._wrap("ignored", self.on_ignored))
        app.action(ANYTHING)(self._wrap("ignored", self.on_ignored))
        app.view(ANYTHING)(self._wrap("ignored", self.on_ignored))
        app.view_closed(ANYTHING)(self._wrap("ignored", self.on_ignored))
        app.shortcut(ANYTHING)(self._wrap("ignored", self.on_ignored))

    def _wrap(self, kind: str, handler: Listener) -> Listener:
        async def listener(args: AsyncArgs) -> None:
            try:
                await handler(args)
            except Exception:
                log.exception("slack %s listener failed", kind)
            finally:
                if self.on_handled is not None:
                    self.on_handled(kind)

        return listener

    # ------------------------------------------------------------------ conversation

    async def on_message(self, args: AsyncArgs) -> None:
        event = args.event or {}
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return  # edits, joins, other bots: not the person talking to us
        user = _user(args, "message")
        if user is None:
            return
        inbound = render.message_to_inbound(user, event.get("text") or "", _event_id(args))
        inbound = _queued(args, inbound)
        await self._turn_in_dm(args.client, inbound)  # their own DM, not the event's channel

    async def on_mention(self, args: AsyncArgs) -> None:
        event = args.event or {}
        user = _user(args, "app_mention")
        if user is None or not event.get("channel"):
            return
        text = render.strip_mentions(event.get("text") or "")
        inbound = _queued(args, render.message_to_inbound(user, text, _event_id(args)))
        moved = await self._turn_in_dm(args.client, inbound)
        await args.client.chat_postEphemeral(  # seen by this person only, where they wrote
            channel=event["channel"],
            user=user.user_id,
            text=self.msg["moved_to_dm" if moved else "slack_dm_blocked"],
        )

    async def on_command(self, args: AsyncArgs) -> None:
        await args.ack()
        command = args.command or {}
        user = _user(args, "command")
        if user is None:
            return
        try:
            dm: str | None = await self._dm(args.client, user)
        except SlackApiError as exc:
            log.warning("cannot DM a Slack user: %s", error_code(exc))
            dm = None
        in_dm = dm is not None and command.get("channel_id") == dm
        text = (command.get("text") or "").strip()
        inbound = _queued(
            args, await self._staff_check(args.client, render.message_to_inbound(user, text, None))
        )
        moved = dm is not None and await self._turn_in_dm(args.client, inbound, dm)
        if not in_dm or not moved:
            key = "moved_to_dm" if moved else "slack_dm_blocked"
            await args.respond(text=self.msg[key], response_type="ephemeral")

    async def on_choice(self, args: AsyncArgs) -> None:
        await args.ack()
        user = _user(args, "button")
        if user is None:
            return
        inbound, label = render.choice_to_inbound(user, args.action or {})
        inbound = _queued(args, inbound)
        dm = await self._dm(args.client, user)
        await self._close_message(args, dm, label)
        await self._turn(args.client, dm, inbound)

    async def on_open_form(self, args: AsyncArgs) -> None:
        """Open the modal for the step the person is on; a stale button gets the engine's answer."""
        await args.ack()
        user = _user(args, "button")
        if user is None:
            return
        value = (args.action or {}).get("value", "")
        token, form_id = render.decode_value(value)
        if render.value_owner(value) != user.user_id:
            token = None  # someone else's "Fill in": an old button to this person
        form = await asyncio.to_thread(self.engine.current_form, user, token) if token else None
        dm = await self._dm(args.client, user)
        if form is not None and form.id == form_id:
            container = args.body.get("container") or {}
            ts = container.get("message_ts") if container.get("channel_id") == dm else None
            view = render.to_modal(form, token, dm, ts, owner=user.user_id, words=self.msg)
            await args.client.views_open(trigger_id=args.body["trigger_id"], view=view)
            return
        # An old "Fill in": tidy that message; the engine explains and asks the current step.
        await self._close_message(args, dm, "")
        await self._turn(args.client, dm, Inbound(user=user, form={}, token=token))

    async def on_submit(self, args: AsyncArgs) -> None:
        view = args.view or {}
        user = _user(args, "form")
        if user is None:
            await args.ack()
            return
        inbound = await self._named(args.client, render.form_to_inbound(user, view))
        replies = await asyncio.to_thread(self.engine.handle, inbound)
        errors = render.modal_errors(view, replies[-1].errors) if replies else None
        if errors:
            await args.ack(response_action="errors", errors=errors)
            return
        await args.ack()
        dm = await self._dm(args.client, user)
        meta = render.decode_metadata(view)
        if meta.get("c") == dm and meta.get("m") and inbound.token is not None:
            title = (view.get("title") or {}).get("text", "")
            await self._update(args.client, dm, str(meta["m"]), None, title)
        await post_replies(args.client, dm, replies, self.msg, user.user_id)

    async def on_continue(self, args: AsyncArgs) -> None:
        await args.ack()
        user = _user(args, "button")
        if user is None:
            return
        replies = await asyncio.to_thread(self.engine.resume, user)
        await post_replies(
            args.client, await self._dm(args.client, user), replies, self.msg, user.user_id
        )

    async def on_home_opened(self, args: AsyncArgs) -> None:
        event = args.event or {}
        user = _user(args, "app_home_opened")
        if event.get("tab") != "home" or user is None:
            return
        summary = await asyncio.to_thread(self.engine.overview, user)
        await args.client.views_publish(
            user_id=user.user_id, view=render.to_home_view(summary, self.msg)
        )

    async def on_uninstalled(self, args: AsyncArgs) -> None:
        log.warning("the Slack app was removed from workspace %s", args.context.team_id)

    async def on_ignored(self, args: AsyncArgs) -> None:
        """Something this app has no use for: a 200 so Slack doesn't retry it, and a short note
        (the type only, never the payload)."""
        if args.ack is not None:
            await args.ack()
        body = args.body or {}
        kind = (body.get("event") or {}).get("type") or body.get("type") or "unknown"
        log.info("ignored a Slack %s request", str(kind)[:40])

    # ------------------------------------------------------------------ helpers

    async def _staff_check(self, client: AsyncWebClient, inbound: Inbound) -> Inbound:
        """For the admins' commands only: ask Slack (``users.info``) whether the person is an
        admin or owner of this workspace, and say so in the inbound. Anyone else, and any
        failure to ask, is not an admin."""
        if not self.engine.is_staff_command(inbound.text):
            return inbound
        try:
            found = await client.users_info(user=inbound.user.user_id)
        except SlackApiError as exc:
            log.warning("could not check a Slack user's role: %s", error_code(exc))
            return inbound
        person = found.get("user") or {}
        is_admin = any(person.get(k) is True for k in ("is_admin", "is_owner", "is_primary_owner"))
        admin_of = inbound.user.workspace if is_admin and not person.get("deleted") else None
        return replace(inbound, admin_of=admin_of)

    async def _turn(self, client: AsyncWebClient, channel: str, inbound: Inbound) -> None:
        inbound = await self._named(client, inbound)
        replies: list[Reply] = (
            await asyncio.to_thread(self.engine.handle, inbound)
            if inbound.text or inbound.choice or inbound.form is not None
            else await asyncio.to_thread(self.engine.resume, inbound.user)
        )
        await post_replies(client, channel, replies, self.msg, inbound.user.user_id)

    async def _turn_in_dm(
        self, client: AsyncWebClient, inbound: Inbound, dm: str | None = None
    ) -> bool:
        """Take the turn and answer in the person's DM; False if Slack would not let us DM them."""
        try:
            channel = dm or await self._dm(client, inbound.user)
            await self._turn(client, channel, inbound)
        except SlackApiError as exc:
            log.warning("cannot DM a Slack user: %s", error_code(exc))
            return False
        return True

    async def _named(self, client: AsyncWebClient, inbound: Inbound) -> Inbound:
        """The turn with the person's Slack name on it (``users.info``), which the engine keeps
        as their display name: the greeting's name and the default to sign emails with.

        Asked once per person per process; a refusal (an install from before ``users:read``,
        a rate limit) is remembered too and costs only the name, never the turn."""
        user = inbound.user
        if user in self._names:
            self._names.move_to_end(user)
            name = self._names[user]
        else:
            try:
                found = await client.users_info(user=user.user_id)
                name = render.profile_name(found.get("user") or {})
            except SlackApiError as exc:
                log.info("no Slack profile name: %s", error_code(exc))
                name = None
            except Exception as exc:  # the network: the turn matters more than the name
                log.info("no Slack profile name: %s", type(exc).__name__)
                name = None
            self._names[user] = name
            if len(self._names) > NAME_CACHE:
                self._names.popitem(last=False)
        return replace(inbound, display_name=name) if name else inbound

    async def _dm(self, client: AsyncWebClient, user: UserKey) -> str:
        """The person's own DM with the app, the only place a reply goes (whatever the payload
        names). Asked of Slack once and remembered: a DM's id never changes."""
        known = self._dms.get(user)
        if known is not None:
            self._dms.move_to_end(user)
            return known
        channel = await open_dm(client, user.user_id)
        self._dms[user] = channel
        if len(self._dms) > DM_CACHE:
            self._dms.popitem(last=False)
        return channel

    async def _close_message(self, args: AsyncArgs, dm: str, label: str) -> None:
        """Replace the used message's buttons with what was picked (not on App Home), and only
        in the person's own DM."""
        body = args.body
        container = body.get("container") or {}
        message = body.get("message")
        if container.get("type") != "message" or not message:
            return
        channel, ts = container.get("channel_id"), container.get("message_ts")
        if channel != dm or not ts:
            return
        await self._update(args.client, channel, ts, message, label)

    async def _update(
        self,
        client: AsyncWebClient,
        channel: str,
        ts: str,
        message: dict[str, Any] | None,
        label: str,
    ) -> None:
        try:
            if message is None:
                found = await client.conversations_history(
                    channel=channel, latest=ts, inclusive=True, limit=1
                )
                message = (found.get("messages") or [{}])[0]
            await client.chat_update(
                channel=channel,
                ts=ts,
                text=message.get("text") or " ",
                blocks=render.answered(message.get("blocks") or [], label),
            )
        except SlackApiError as exc:  # the message was deleted: nothing to tidy
            log.info("could not update a used message: %s", error_code(exc))


def _user(args: AsyncArgs, kind: str) -> UserKey | None:
    """Who did this; None (and one log line) for a payload naming nobody, which is ignored
    rather than taken as a person called "None"."""
    ctx = args.context
    if not isinstance(ctx.user_id, str) or not ctx.user_id:
        log.info("ignored a Slack %s with no user", kind)
        return None
    return render.user_key(ctx.team_id, ctx.enterprise_id, ctx.user_id)


# The context key an inbox worker sets on a queued request: the request's id in the inbox.
QUEUED = "rebound_queued"


def _queued(args: AsyncArgs, inbound: Inbound) -> Inbound:
    """A request taken from the inbox may be delivered again (its worker died), so it is
    recorded by its inbox id and its replies are kept until sent (``keep_replies``): a second
    delivery after the turn's commit sends those replies, once, instead of nothing."""
    ref = args.context.get(QUEUED)
    if not isinstance(ref, str) or not ref:
        return inbound
    return replace(inbound, event_id=ref, keep_replies=True)


def _event_id(args: AsyncArgs) -> str | None:
    event_id = args.body.get("event_id")
    return str(event_id) if event_id else None


def build_app(
    engine: Engine,
    settings: Settings,
    on_handled: Callable[[str], None] | None = None,
    *,
    installations: SQLEngine | None = None,
    process_before_response: bool = False,
) -> AsyncApp:
    """The Bolt app for this deployment: one workspace's bot token, or OAuth installations.

    ``installations`` is the database holding the installation store's tables (given by the
    composition root; needed only for OAuth). The adapter reads nothing else from it.
    ``process_before_response``: dispatch returns only when the listener has finished (the
    inbox worker, which must know an event was answered before it deletes it)."""
    from bot.platforms.slack.oauth import oauth_settings, uses_oauth

    slack = settings.slack
    secret = slack.signing_secret.get_secret_value() if slack.signing_secret else ""
    if uses_oauth(settings):
        if installations is None:
            raise ValueError("Slack OAuth needs the database that keeps the installations")
        app = AsyncApp(
            client=web_client(slack.api_url),
            signing_secret=secret,
            oauth_settings=oauth_settings(settings, installations, BOT_SCOPES),
            process_before_response=process_before_response,
        )
    else:
        token = slack.bot_token.get_secret_value() if slack.bot_token else None
        if not token:
            raise ValueError("slack.bot_token is not set (or slack.client_id for OAuth)")
        app = AsyncApp(
            client=web_client(slack.api_url, token),
            signing_secret=secret,
            process_before_response=process_before_response,
        )
    SlackAdapter(engine, on_handled).register(app)
    from bot.platforms.slack.oauth import token_lookup

    engine.posters.setdefault(
        render.PLATFORM, SlackPoster(slack.api_url, token_lookup(settings, installations))
    )
    return app


def inbox_key(ref: str, who: UserKey) -> str:
    """The inbox key of a queued request: the same as the engine's processed-event key for it
    (platform, workspace, the request's id), so the inbox can clear the kept replies."""
    return f"{who.platform}:{who.workspace}:{ref}"[:200]


def deferred(body: dict[str, Any]) -> tuple[str, UserKey] | None:
    """The id (event id, or the trigger id of a button or command) and the person of a request
    a worker may answer later; None for what must be answered in the HTTP response itself.

    Events, button presses and slash commands are acknowledged with an empty 200 and answered
    through the Web API, so they can wait in the inbox. Kept in the request: a modal submission
    (its response carries the field errors), the "Fill in" button (its ``trigger_id`` opens the
    modal and expires in 3 s), and Slack's own checks (``url_verification``, ``ssl_check``).
    """
    kind = body.get("type")
    team = body.get("team_id") or (body.get("team") or {}).get("id")
    enterprise = body.get("enterprise_id") or (body.get("enterprise") or {}).get("id")
    if kind == "event_callback":
        event = body.get("event") or {}
        user, ref = event.get("user"), body.get("event_id")
    elif kind == "block_actions":
        actions = body.get("actions") or []
        if any(a.get("action_id") == render.OPEN_FORM_ACTION for a in actions):
            return None
        user, ref = (body.get("user") or {}).get("id"), f"act:{body.get('trigger_id')}"
    elif body.get("command") and kind is None:
        user, ref = body.get("user_id"), f"cmd:{body.get('trigger_id')}"
    else:
        return None
    if not ref or ref.endswith(":None"):
        return None  # nothing to tell a retry from a new request by: answer it in the request
    who = render.user_key(
        team if isinstance(team, str) else None,
        enterprise if isinstance(enterprise, str) else None,
        user if isinstance(user, str) else "",
    )
    return str(ref), who


def http_app(
    app: AsyncApp,
    signing_secret: str,
    healthy: Callable[[], Awaitable[bool]] | None = None,
    *,
    inbox: Inbox | None = None,
    on_put: Callable[[], None] | None = None,
) -> Any:
    """The ASGI app for HTTP mode: Slack's requests, the OAuth pages, and a health check.

    ``POST /slack/events`` checks the signature (slack_sdk's ``SignatureVerifier``) before
    anything reads the body: Bolt parses first and verifies after, so unsigned garbage used to
    cost a 500 and a traceback. Unsigned: 401; signed but unreadable: 400; one short log line.

    With an ``inbox``, a verified request that can be answered later (:func:`deferred`) is
    written to it and acknowledged at once; a worker takes the turn (:mod:`.worker`), so the
    acknowledgement never waits behind anyone's turn. ``on_put`` wakes a worker in this
    process. A retry of a waiting event is acknowledged and not stored twice. If the inbox
    cannot be written (the database is away) the answer is a 503, and Slack retries later."""
    from slack_bolt.adapter.starlette.async_handler import (
        AsyncSlackRequestHandler,
        to_async_bolt_request,
        to_starlette_response,
    )
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    handler = AsyncSlackRequestHandler(app)
    verifier = SignatureVerifier(signing_secret)
    writer = GroupCommit(inbox) if inbox is not None else None

    async def events(request: Request) -> Response:
        body = await request.body()
        try:
            signed = verifier.is_valid_request(body, dict(request.headers))
        except ValueError:  # a timestamp that is not a number
            signed = False
        if not signed:
            log.warning("refused a Slack request: bad or missing signature")
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            bolt_request = to_async_bolt_request(request, body)
        except Exception as exc:  # what Bolt cannot parse: not JSON, no payload, wrong shape
            log.warning("refused a signed Slack request that could not be read (%s)",
                        type(exc).__name__)  # fmt: skip
            return JSONResponse({"error": "malformed request"}, status_code=400)
        later = deferred(bolt_request.body) if writer is not None else None
        if later is not None and writer is not None:
            ref, who = later
            payload = json.dumps(bolt_request.body, ensure_ascii=False)
            try:
                await writer.put(inbox_key(ref, who), who, payload)
            except Exception as exc:  # the database is away: Slack retries a non-2xx
                log.warning("could not queue a Slack request (%s)", type(exc).__name__)
                return JSONResponse({"error": "try again"}, status_code=503)
            if on_put is not None:
                on_put()
            return Response(status_code=200)
        return to_starlette_response(await app.async_dispatch(bolt_request))

    async def slack(request: Request) -> Response:
        return await handler.handle(request)

    async def health(_request: Request) -> Response:
        ok = True if healthy is None else await healthy()
        return JSONResponse({"ok": ok}, status_code=200 if ok else 503)

    routes = [
        Route(EVENTS_PATH, events, methods=["POST"]),
        Route(HEALTH_PATH, health, methods=["GET"]),
    ]
    if app.oauth_flow is not None:
        routes += [
            Route(app.oauth_flow.install_path, slack, methods=["GET"]),
            Route(app.oauth_flow.redirect_uri_path, slack, methods=["GET"]),
        ]
    return Starlette(routes=routes)
