"""The Slack adapter: a Bolt app whose listeners translate, call the engine, and post. Thin.

* The conversation happens in the app's DM ("Messages" tab). ``/rebound <words>`` and
  ``@Rebound <words>`` work anywhere: in a channel the person gets an ephemeral "I've sent you a
  DM" and the coaching carries on in the DM, so nothing personal is ever posted to a channel.
* Ack first, always: events are acknowledged by Bolt before the listener runs, commands and
  button presses call ``ack()`` on their first line, and only then does the engine (synchronous,
  in a worker thread) take its turn. The one exception is a modal submission, which must be
  answered with its field errors; the engine's turn takes milliseconds.
* Slack retries an event it thinks was missed (``X-Slack-Retry-Num``), even while the answer is
  on its way. Every event passes its ``event_id`` to the engine, which records it in the same
  transaction as the turn, so a retry is answered once, across processes.
* Buttons carry the step token, forms open as modals from the "Fill in" button's trigger id, and
  a used message is updated so its buttons can't be pressed twice.

``on_handled(kind)`` is called after every listener finishes, for metrics and for tests that
must know the work behind an early ack is done.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine as SQLEngine

from bot.config import Settings
from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, Reply, UserKey
from bot.platforms.slack import convert as render
from bot.platforms.slack.send import error_code, open_dm, post_replies, web_client

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
]
EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

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
        inbound = render.message_to_inbound(_user(args), event.get("text") or "", _event_id(args))
        await self._turn(args.client, event["channel"], inbound)

    async def on_mention(self, args: AsyncArgs) -> None:
        event = args.event or {}
        text = render.strip_mentions(event.get("text") or "")
        inbound = render.message_to_inbound(_user(args), text, _event_id(args))
        moved = await self._turn_in_dm(args.client, inbound)
        await args.client.chat_postEphemeral(
            channel=event["channel"],
            user=inbound.user.user_id,
            text=self.msg["moved_to_dm" if moved else "dm_blocked"],
        )

    async def on_command(self, args: AsyncArgs) -> None:
        await args.ack()
        command = args.command or {}
        user = _user(args)
        try:
            dm: str | None = await open_dm(args.client, user.user_id)
        except SlackApiError as exc:
            log.warning("cannot DM a Slack user: %s", error_code(exc))
            dm = None
        in_dm = dm is not None and command.get("channel_id") == dm
        text = (command.get("text") or "").strip()
        inbound = render.message_to_inbound(user, text, None)
        moved = dm is not None and await self._turn_in_dm(args.client, inbound, dm)
        if not in_dm or not moved:
            key = "moved_to_dm" if moved else "dm_blocked"
            await args.respond(text=self.msg[key], response_type="ephemeral")

    async def on_choice(self, args: AsyncArgs) -> None:
        await args.ack()
        inbound, label = render.choice_to_inbound(_user(args), args.action or {})
        await self._close_message(args, label)
        await self._turn(args.client, await self._channel(args), inbound)

    async def on_open_form(self, args: AsyncArgs) -> None:
        """Open the modal for the step the person is on; a stale button gets the engine's answer."""
        await args.ack()
        user = _user(args)
        token, form_id = render.decode_value((args.action or {}).get("value", ""))
        form = await asyncio.to_thread(self.engine.current_form, user, token)
        channel = await self._channel(args)
        if form is not None and form.id == form_id:
            ts = (args.body.get("container") or {}).get("message_ts")
            view = render.to_modal(form, token, channel, ts)
            await args.client.views_open(trigger_id=args.body["trigger_id"], view=view)
            return
        # An old "Fill in": tidy that message; the engine explains and asks the current step.
        await self._close_message(args, "")
        await self._turn(args.client, channel, Inbound(user=user, form={}, token=token))

    async def on_submit(self, args: AsyncArgs) -> None:
        view = args.view or {}
        inbound = render.form_to_inbound(_user(args), view)
        replies = await asyncio.to_thread(self.engine.handle, inbound)
        errors = render.modal_errors(view, replies[-1].errors) if replies else None
        if errors:
            await args.ack(response_action="errors", errors=errors)
            return
        await args.ack()
        meta = render.decode_metadata(view)
        channel, ts = meta.get("c"), meta.get("m")
        if channel and ts:
            title = (view.get("title") or {}).get("text", "")
            await self._update(args.client, channel, ts, None, title)
        channel = channel or await open_dm(args.client, inbound.user.user_id)
        await post_replies(args.client, channel, replies, self.msg["open_form"])

    async def on_continue(self, args: AsyncArgs) -> None:
        await args.ack()
        user = _user(args)
        replies = await asyncio.to_thread(self.engine.resume, user)
        await post_replies(
            args.client, await open_dm(args.client, user.user_id), replies, self.msg["open_form"]
        )

    async def on_home_opened(self, args: AsyncArgs) -> None:
        event = args.event or {}
        if event.get("tab") != "home":
            return
        user = _user(args)
        summary = await asyncio.to_thread(self.engine.overview, user)
        await args.client.views_publish(
            user_id=user.user_id, view=render.to_home_view(summary, self.msg)
        )

    async def on_uninstalled(self, args: AsyncArgs) -> None:
        log.warning("the Slack app was removed from workspace %s", args.context.team_id)

    # ------------------------------------------------------------------ helpers

    async def _turn(self, client: AsyncWebClient, channel: str, inbound: Inbound) -> None:
        replies: list[Reply] = (
            await asyncio.to_thread(self.engine.handle, inbound)
            if inbound.text or inbound.choice or inbound.form is not None
            else await asyncio.to_thread(self.engine.resume, inbound.user)
        )
        await post_replies(client, channel, replies, self.msg["open_form"])

    async def _turn_in_dm(
        self, client: AsyncWebClient, inbound: Inbound, dm: str | None = None
    ) -> bool:
        """Take the turn and answer in the person's DM; False if Slack would not let us DM them."""
        try:
            channel = dm or await open_dm(client, inbound.user.user_id)
            await self._turn(client, channel, inbound)
        except SlackApiError as exc:
            log.warning("cannot DM a Slack user: %s", error_code(exc))
            return False
        return True

    async def _channel(self, args: AsyncArgs) -> str:
        channel = (args.body.get("channel") or {}).get("id")
        return channel or await open_dm(args.client, _user(args).user_id)

    async def _close_message(self, args: AsyncArgs, label: str) -> None:
        """Replace the used message's buttons with what was picked (not on App Home)."""
        body = args.body
        container = body.get("container") or {}
        message = body.get("message")
        if container.get("type") != "message" or not message:
            return
        channel, ts = container.get("channel_id"), container.get("message_ts")
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


def _user(args: AsyncArgs) -> UserKey:
    ctx = args.context
    return render.user_key(ctx.team_id, ctx.enterprise_id, str(ctx.user_id))


def _event_id(args: AsyncArgs) -> str | None:
    event_id = args.body.get("event_id")
    return str(event_id) if event_id else None


def build_app(
    engine: Engine,
    settings: Settings,
    on_handled: Callable[[str], None] | None = None,
    *,
    installations: SQLEngine | None = None,
) -> AsyncApp:
    """The Bolt app for this deployment: one workspace's bot token, or OAuth installations.

    ``installations`` is the database holding the installation store's tables (given by the
    composition root; needed only for OAuth). The adapter reads nothing else from it."""
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
        )
    else:
        token = slack.bot_token.get_secret_value() if slack.bot_token else None
        if not token:
            raise ValueError("slack.bot_token is not set (or slack.client_id for OAuth)")
        app = AsyncApp(client=web_client(slack.api_url, token), signing_secret=secret)
    SlackAdapter(engine, on_handled).register(app)
    return app


def http_app(app: AsyncApp, healthy: Callable[[], Awaitable[bool]] | None = None) -> Any:
    """The ASGI app for HTTP mode: Slack's requests, the OAuth pages, and a health check."""
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    handler = AsyncSlackRequestHandler(app)

    async def slack(request: Request) -> Response:
        return await handler.handle(request)

    async def health(_request: Request) -> Response:
        ok = True if healthy is None else await healthy()
        return JSONResponse({"ok": ok}, status_code=200 if ok else 503)

    routes = [
        Route(EVENTS_PATH, slack, methods=["POST"]),
        Route(HEALTH_PATH, health, methods=["GET"]),
    ]
    if app.oauth_flow is not None:
        routes += [
            Route(app.oauth_flow.install_path, slack, methods=["GET"]),
            Route(app.oauth_flow.redirect_uri_path, slack, methods=["GET"]),
        ]
    return Starlette(routes=routes)
