"""Run the real Slack adapter over real HTTP against the fake Web API; read its output as Replies.

:class:`SlackHarness` serves the Bolt app (built by ``bot.platforms.slack.build_app``, wrapped by
``http_app`` and run by uvicorn, exactly as ``rebound slack --http`` does) on 127.0.0.1 port 0,
with its Web API client pointed at :class:`FakeSlack`. Requests are signed with slack_sdk's
``SignatureVerifier`` the way Slack signs them. The adapter acks before it works, so after each
request the harness waits for the adapter's ``on_handled`` signal, never for a fixed time.

:class:`SlackDriver` implements the transcript ``Driver`` protocol: typed lines are ``message.im``
events, presses are ``block_actions`` on the newest message offering that label, forms press
"Fill in", read the modal from ``views.open`` and submit it as ``view_submission``. The Web API
calls made in answer are parsed back into neutral :class:`Reply` objects.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier

from bot.config import Settings
from bot.conversation.engine import Engine
from bot.conversation.inbox import Inbox
from bot.conversation.messages import Choice, Form, Image, Reply
from bot.platforms.slack import convert as render
from bot.platforms.slack.app import build_app, http_app
from bot.platforms.slack.cli import http_server
from bot.platforms.slack.worker import SlackWorker

from .slack_api import APP_ID, TEAM, Call, FakeSlack

T = TypeVar("T")
WAIT = 15.0  # seconds before a step that never completes fails the test
SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"


async def _event() -> asyncio.Event:
    return asyncio.Event()


class LoopThread:
    """An asyncio loop in a daemon thread, for the fake and the app server."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = WAIT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT)


def slack_settings(settings: Settings, fake: FakeSlack, **slack: Any) -> Settings:
    section = settings.slack.model_copy(
        update={
            "bot_token": SecretStr(BOT_TOKEN),
            "signing_secret": SecretStr(SECRET),
            "api_url": fake.api_url,
            **slack,
        }
    )
    return settings.model_copy(update={"slack": section})


class SlackHarness:
    """The fake Slack, and the real app served over HTTP on loopback, on one background loop."""

    def __init__(
        self, engine: Engine, *, inbox: bool = False, worker: bool = True, **slack: Any
    ) -> None:
        """``inbox``: serve as ``rebound slack --http`` does, acknowledging through the durable
        inbox; ``worker`` false leaves the queued requests to workers started by the test."""
        self.engine = engine
        self.loop = LoopThread()
        self.fake = FakeSlack()
        self.loop.run(self.fake.start())
        self.settings = slack_settings(engine.settings, self.fake, **slack)
        self.done = 0
        self.kinds: list[str] = []
        self._cond = threading.Condition()
        self.app = build_app(
            engine, self.settings, on_handled=self._on_handled, installations=engine.db.engine
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.inbox: Inbox | None = None
        self.worker: SlackWorker | None = None
        self._stop_worker: asyncio.Event | None = None
        asgi = http_app(self.app, SECRET)
        if inbox:
            self.inbox = Inbox(engine.db)
            if worker:
                back = build_app(
                    engine, self.settings, on_handled=self._on_handled,
                    installations=engine.db.engine, process_before_response=True,
                )  # fmt: skip
                self.worker = SlackWorker(back, self.inbox, engine)
                self._stop_worker = self.loop.run(_event())
                self._working = asyncio.run_coroutine_threadsafe(
                    self.worker.run(self._stop_worker), self.loop.loop
                )
            notify = self.worker.notify if self.worker else None
            asgi = http_app(self.app, SECRET, inbox=self.inbox, on_put=notify)
        self.server = http_server(asgi, "127.0.0.1", self.port)
        self._serving = asyncio.run_coroutine_threadsafe(
            self.server.serve(sockets=[sock]), self.loop.loop
        )
        self.loop.run(self._until_started())
        self._ids = itertools.count(1)

    async def _until_started(self) -> None:
        while not self.server.started:
            if self._serving.done():
                self._serving.result()
            await asyncio.sleep(0.01)

    def close(self) -> None:
        self.server.should_exit = True
        self._serving.result(WAIT)
        if self._stop_worker is not None:
            self.loop.loop.call_soon_threadsafe(self._stop_worker.set)
            self._working.result(WAIT)
        self.loop.run(self.fake.stop())
        self.loop.close()

    def _on_handled(self, kind: str) -> None:
        with self._cond:
            self.done += 1
            self.kinds.append(kind)
            self._cond.notify_all()

    def wait_handled(self, target: int) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.done >= target, timeout=WAIT):
                raise AssertionError(f"the adapter handled {self.done} requests, expected {target}")

    def next_id(self) -> int:
        return next(self._ids)

    # ------------------------------------------------------------------ HTTP

    def request(
        self, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
    ) -> tuple[int, str, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            conn.request(method, path, body=body.encode(), headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read().decode(), dict(response.getheaders())
        finally:
            conn.close()

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = SECRET,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """POST to /slack/events, signed as Slack signs (or not, when ``secret`` is None)."""
        sent = {"Content-Type": content_type, **(headers or {})}
        if secret is not None:
            ts = str(int(time.time()) if timestamp is None else timestamp)
            signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
            sent.update({"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature})
        status, text, _ = self.request("POST", "/slack/events", body, sent)
        return status, text

    def event_body(self, event: dict[str, Any], event_id: str, team: str = TEAM) -> str:
        return json.dumps(
            {
                "token": "legacy-verification-token",
                "team_id": team,
                "api_app_id": APP_ID,
                "event": event,
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "authorizations": [
                    {
                        "enterprise_id": None,
                        "team_id": team,
                        "user_id": "UBOT",
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
            }
        )

    def send(self, body: str, content_type: str, **kwargs: Any) -> tuple[int, str]:
        """Post a request the adapter will act on, and wait until it has."""
        before = self.done
        status, text = self.post(body, content_type, **kwargs)
        assert status == 200, f"Slack request refused: {status} {text}"
        self.wait_handled(before + 1)
        return status, text

    def send_event(self, event: dict[str, Any], event_id: str, **kwargs: Any) -> None:
        self.send(self.event_body(event, event_id), "application/json", **kwargs)

    def send_payload(self, payload: dict[str, Any]) -> str:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self.send(body, "application/x-www-form-urlencoded")[1]

    def send_command(self, text: str, user: str, channel: str, team: str = TEAM) -> None:
        fields = {
            "token": "legacy",
            "team_id": team,
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": "general" if channel.startswith("C") else "directmessage",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/rebound",
            "text": text,
            "api_app_id": APP_ID,
            "response_url": self.fake.response_url(f"cmd{self.next_id()}"),
            "trigger_id": f"trig.{self.next_id()}",
        }
        self.send(urllib.parse.urlencode(fields), "application/x-www-form-urlencoded")


class SlackDriver:
    """One person in their DM with the app: the transcript Driver protocol over Slack."""

    def __init__(
        self, harness: SlackHarness, user: str = "U1", clock: Any = None, name: str = "Alice"
    ) -> None:
        self.h = harness
        self.fake = harness.fake
        self.user = user
        # What users.info says about them (like the Discord driver's global name).
        self.fake.profiles.setdefault(user, {"display_name": "", "real_name": name})
        self.dm = f"D{user}"
        self.clock = clock
        # Channels the bot may post in besides the DM (a staff channel, for a hand-off the
        # person approved): skipped when reading what the person saw.
        self.elsewhere: set[str] = set()

    def set_now(self, text: str) -> None:
        assert self.clock is not None
        self.clock.set(text)

    def deliver(self) -> list[Reply]:
        """``@deliver``: one scheduler pass with the Slack sender; its DMs count as the reply."""
        from bot.platforms.slack.send import SlackSender
        from bot.reminders.scheduler import ReminderScheduler

        sender = SlackSender.from_settings(self.h.settings, self.h.engine.messages)
        mark = self.fake.mark()
        ReminderScheduler(self.h.engine, {"slack": sender}).run_pending()
        return self.replies(mark)

    def text(self, text: str) -> list[Reply]:
        mark = self.fake.mark()
        n = self.h.next_id()
        event = {
            "type": "message",
            "channel": self.dm,
            "channel_type": "im",
            "user": self.user,
            "text": render.escape(text),
            "ts": f"{1600000000 + n}.000001",
            "event_ts": f"{1600000000 + n}.000001",
        }
        self.h.send_event(event, f"Ev{self.user}{n:05d}")
        return self.replies(mark)

    def press(self, label: str) -> list[Reply]:
        ts, message, element, option = self._find(label)
        action: dict[str, Any] = {
            "action_id": element["action_id"],
            "block_id": "rebound_actions",
            "type": element["type"],
            "action_ts": f"{time.time():.6f}",
        }
        if option is not None:
            action["selected_option"] = option
        else:
            action.update(text=element["text"], value=element["value"])
        mark = self.fake.mark()
        self.h.send_payload(self._action_payload(ts, message, action))
        return self.replies(mark)

    def form(self, values: dict[str, str]) -> list[Reply]:
        ts, message, element, _ = self._find(render.OPEN_FORM_ACTION, action_id=True)
        action = {
            "action_id": element["action_id"],
            "block_id": "rebound_actions",
            "type": "button",
            "text": element["text"],
            "value": element["value"],
            "action_ts": f"{time.time():.6f}",
        }
        mark = self.fake.mark()
        self.h.send_payload(self._action_payload(ts, message, action))
        opened = [c for c in self.fake.since(mark) if c.method == "views.open"]
        if not opened:  # a stale button: the engine answered in the DM instead
            return self.replies(mark)
        view = opened[-1].json("view")
        mark = self.fake.mark()
        answer = self.h.send_payload(self._submission(view, values))
        if answer.strip():
            ack = json.loads(answer)
            if ack.get("response_action") == "errors":
                errors = dict(ack["errors"])
                return [Reply(text=" ".join(errors.values()), errors=errors)]
        return self.replies(mark)

    # ------------------------------------------------------------------ payloads

    def _action_payload(
        self, ts: str, message: dict[str, Any], action: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "type": "block_actions",
            "user": {"id": self.user, "username": self.user.lower(), "team_id": TEAM},
            "api_app_id": APP_ID,
            "token": "legacy",
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": self.dm,
                "is_ephemeral": False,
            },
            "trigger_id": f"trig.{self.h.next_id()}",
            "team": {"id": TEAM, "domain": "example"},
            "channel": {"id": self.dm, "name": "directmessage"},
            "message": message,
            "response_url": self.fake.response_url(f"act{self.h.next_id()}"),
            "actions": [action],
        }

    def _submission(self, view: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
        state: dict[str, Any] = {}
        picked = self._pick_dates(view, values)
        for block in view["blocks"]:
            element = block["element"]
            given = values.get(block["block_id"], "")
            if element["type"] in ("datepicker", "timepicker"):
                key = "selected_date" if element["type"] == "datepicker" else "selected_time"
                chosen = picked.get(block["block_id"])
                state[block["block_id"]] = {"value": {"type": element["type"], key: chosen}}
            elif element["type"] == "static_select":
                picked = next(
                    (o for o in element["options"] if given in (o["value"], o["text"]["text"])),
                    None,
                )
                state[block["block_id"]] = {
                    "value": {"type": "static_select", "selected_option": picked}
                }
            else:
                state[block["block_id"]] = {
                    "value": {"type": element["type"], "value": given or None}
                }
        return {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "example"},
            "user": {"id": self.user, "username": self.user.lower(), "team_id": TEAM},
            "api_app_id": APP_ID,
            "token": "legacy",
            "trigger_id": f"trig.{self.h.next_id()}",
            "view": {**view, "id": "V1", "team_id": TEAM, "state": {"values": state}},
        }

    def _pick_dates(self, view: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
        """What the person picks in the date and time pickers for what the transcript wrote
        ("friday 2pm"): the date and time the engine reads it as, in the person's zone. What
        reads as no date can't be picked: the picker stays empty."""
        from zoneinfo import ZoneInfo

        from bot.conversation import inputs

        engine = self.h.engine
        words = engine.messages
        picked: dict[str, str] = {}
        blocks = {b["block_id"]: b["element"] for b in view["blocks"]}
        for block_id, element in blocks.items():
            given = values.get(block_id, "")
            if element["type"] != "datepicker" or not given:
                continue
            time_block = blocks.get(block_id + render.TIME_BLOCK)
            if time_block is None:
                zone = ZoneInfo(engine.settings.timezone)
                today = engine.clock().astimezone(zone).date()
                day_first = inputs.day_first_for(inputs.zone_name(zone))
                day, _ = inputs.parse_date(given, today, words, day_first=day_first)
                if day is not None:
                    picked[block_id] = day.isoformat()
                continue
            zone = ZoneInfo(time_block.get("timezone") or engine.settings.timezone)
            when, _ = inputs.parse_datetime(given, engine.clock(), zone, words)
            if when is not None:
                picked[block_id] = f"{when:%Y-%m-%d}"
                picked[block_id + render.TIME_BLOCK] = f"{when:%H:%M}"
        return picked

    def _find(
        self, label: str, action_id: bool = False
    ) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any] | None]:
        """The newest message in the DM offering ``label`` (or an element with that action id)."""
        wanted = label.lower()
        mine = sorted(
            ((ts, m) for (ch, ts), m in self.fake.messages.items() if ch == self.dm),
            key=lambda item: float(item[0]),
            reverse=True,
        )
        for ts, message in mine:
            for block in message.get("blocks", []):
                for element in block.get("elements", []) if block["type"] == "actions" else []:
                    if action_id:
                        if element.get("action_id") == label:
                            return ts, message, element, None
                        continue
                    if element["type"] == "static_select":
                        for option in element["options"]:
                            if _matches(option, wanted):
                                return ts, message, element, option
                    elif element["action_id"].startswith(render.CHOICE_ACTION) and _matches(
                        element, wanted
                    ):
                        return ts, message, element, None
        raise AssertionError(f"no button {label!r} on any message in the DM")

    # ------------------------------------------------------------------ reading the output

    def replies(self, mark: int) -> list[Reply]:
        """What the person saw after ``mark``: DM messages, ephemeral notes, uploaded files."""
        out: list[Reply] = []
        uploads: dict[str, Call] = {}
        for call in self.fake.since(mark):
            if call.method == "chat.postMessage" and call.args["channel"] in self.elsewhere:
                continue
            if call.method == "chat.postMessage":
                assert call.args["channel"] == self.dm, f"posted outside the DM: {call.args}"
                out.append(parse_message(call.args))
            elif call.method in ("chat.postEphemeral", "response_url"):
                out.append(Reply(text=call.args.get("text", "")))
            elif call.method == "files.getUploadURLExternal":
                uploads[call.args["filename"]] = call
            elif call.method == "files.completeUploadExternal":
                assert call.args["channel_id"] == self.dm, "file shared outside the DM"
                for name, upload in uploads.items():
                    alt = upload.args.get("alt_txt") or ""
                    if out and alt:
                        out[-1] = replace(out[-1], image=Image(path=name, alt=alt))
                    elif out:
                        out[-1] = replace(out[-1], file=name)
                uploads.clear()
        if self.fake.problems:
            raise AssertionError("Slack would refuse: " + "; ".join(self.fake.problems))
        return out


def _matches(element: dict[str, Any], wanted: str) -> bool:
    _token, choice = render.decode_value(element.get("value", ""))
    return element["text"]["text"].lower() == wanted or choice == wanted


def parse_message(args: dict[str, Any]) -> Reply:
    """A posted Block Kit message back into a neutral Reply (text, choices, form, token)."""
    blocks = args["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    texts = [render.unescape(b["text"]["text"]) for b in blocks if b["type"] == "section"]
    choices: list[Choice] = []
    token: str | None = None
    form: Form | None = None
    scale: tuple[int, int] | None = None
    for block in blocks:
        if block["type"] != "actions":
            continue
        for element in block["elements"]:
            options = element.get("options") or [element]
            if element["action_id"].startswith(render.SCALE_ACTION):
                token, number = render.decode_value(element["value"])
                low = scale[0] if scale else int(number)
                scale = (low, int(number))
                continue
            if element["action_id"] == render.OPEN_FORM_ACTION:
                token, form_id = render.decode_value(element["value"])
                form = Form(id=form_id, title="", fields=())
                continue
            for option in options:
                token, choice = render.decode_value(option["value"])
                choices.append(Choice(choice, option["text"]["text"]))
    return Reply(
        text="\n".join(texts), choices=tuple(choices), form=form, token=token, scale=scale
    )
