"""Run the real Discord adapter against the fake Discord, and read its output back as Replies.

:class:`DiscordHarness` owns a background event loop with the fake Discord and a real
:class:`~bot.platforms.discord.bot.ReboundBot` logged in to it over REST and the gateway.
:class:`DiscordDriver` implements the transcript ``Driver`` protocol: every step is a gateway
event (MESSAGE_CREATE or INTERACTION_CREATE); it waits until the bot reports the event handled
(so an event dropped by discord.py's parser fails the test instead of passing silently) and
parses the REST calls the bot made into neutral :class:`Reply` objects. It also checks
Discord's limits on everything the bot sent. ``@deliver`` runs one scheduler pass through the
real REST-only :class:`~bot.platforms.discord.send.DiscordSender` (its own loop and client,
as in the scheduler process); the DMs it posted are read back the same way, so the reminder's
buttons are then pressed on the running bot.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from pydantic import SecretStr

from bot.config import Settings
from bot.conversation.engine import Engine
from bot.conversation.messages import Choice, Form, Image, Reply
from bot.platforms.discord import convert as render
from bot.platforms.discord.bot import ReboundBot
from bot.platforms.discord.send import DiscordSender

from .discord_fake import (
    APPLICATION_COMMAND,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    Call,
    FakeDiscord,
)

T = TypeVar("T")
WAIT = 15.0  # seconds before a step that never completes fails the test


class LoopThread:
    """An asyncio loop in a thread, so synchronous tests and drivers can drive async code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = WAIT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Cancel what is still pending (discord.py's ready timer, say), then stop."""

        async def cancel_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        self.run(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT)
        self.loop.close()


def bot_settings(settings: Settings, fake: FakeDiscord, **discord: Any) -> Settings:
    """The engine's settings with the Discord section pointed at the fake."""
    section = settings.discord.model_copy(
        update={
            "token": SecretStr(fake.token),
            "api_base": fake.api_base,
            "gateway_url": fake.gateway_url,
            **discord,
        }
    )
    return settings.model_copy(update={"discord": section})


class DiscordHarness:
    """The fake Discord plus a real bot connected to it, on one background loop."""

    def __init__(self, engine: Engine, **discord: Any) -> None:
        self.engine = engine
        self.loop = LoopThread()
        self.fake = FakeDiscord()
        self.loop.run(self.fake.start())
        self.settings = bot_settings(engine.settings, self.fake, **discord)
        self.bot: ReboundBot | None = None
        self._task: asyncio.Task[None] | None = None
        self._sender: DiscordSender | None = None
        self.start_bot()

    @property
    def sender(self) -> DiscordSender:
        """The reminder sender, built as the scheduler builds it; kept across passes."""
        if self._sender is None:
            self._sender = DiscordSender(
                self.settings,
                self.engine.messages,
                on_outcome=self.engine.record_delivery,
                timeout=WAIT,
            )
        return self._sender

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = WAIT) -> T:
        return self.loop.run(coro, timeout)

    def start_bot(self) -> ReboundBot:
        async def go() -> ReboundBot:
            bot = ReboundBot(self.engine, self.settings)
            self.fake.identified.clear()
            self._task = asyncio.create_task(bot.start(self.fake.token))
            waiter = asyncio.create_task(self.fake.identified.wait())
            done, _ = await asyncio.wait({self._task, waiter}, return_when="FIRST_COMPLETED")
            if self._task in done:  # start() ended before the gateway said hello: show why
                waiter.cancel()
                self._task.result()
                raise AssertionError("the bot stopped before identifying")
            return bot

        self.bot = self.run(go())
        return self.bot

    def stop_bot(self) -> None:
        bot, task = self.bot, self._task
        self.bot = self._task = None
        if bot is not None and task is not None:

            async def go() -> None:
                await bot.close()
                await task

            self.run(go())

    def restart(self) -> ReboundBot:
        """A new bot process in all but name: nothing carried over except the database."""
        self.stop_bot()
        return self.start_bot()

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None
        self.stop_bot()
        self.run(self.fake.stop())
        self.loop.close()


class DiscordDriver:
    """One person talking to the bot in DMs (and with /rebound), as the transcript runner."""

    def __init__(self, harness: DiscordHarness, name: str = "Alice", clock: Any = None) -> None:
        self.harness = harness
        self.fake = harness.fake
        self.user = self.fake.user(self.fake.snowflake(), name)
        self.clock = clock
        self.last: list[Reply] = []
        self.last_sent: list[tuple[Reply, str]] = []  # the last replies, with message ids
        self.calls: list[Call] = []  # the REST calls of the last step

    # ------------------------------------------------------------------ Driver protocol

    def text(self, text: str) -> list[Reply]:
        payload = self.fake.message_create(self.user, text)
        return self._step("MESSAGE_CREATE", payload)

    def press(self, label: str) -> list[Reply]:
        message, component, value = self._find(label)
        data: dict[str, Any] = {"custom_id": component["custom_id"], "component_type": 2}
        if component["type"] == 3:
            data.update(component_type=3, values=[value])
        return self.interact(MESSAGE_COMPONENT, data, message=message)

    def form(self, values: dict[str, str]) -> list[Reply]:
        """Open the form's modal(s) with its button and submit them, part after part."""
        message, button = self._form_button()
        while True:
            modal = self.open_form(message, button)
            if modal is None:  # no modal: the bot answered instead (an out-of-date form)
                return self.last
            replies = self.submit_form(modal, message, values)
            follow = self._continue_button(button["custom_id"])
            if follow is None:
                return replies
            message, button = follow

    def open_form(
        self, message: dict[str, Any] | None = None, button: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Press a "fill in" button; the modal the bot opened (checked against Discord's
        limits), or None if it answered with messages instead."""
        if message is None or button is None:
            message, button = self._form_button()
        data = {"custom_id": button["custom_id"], "component_type": 2}
        self.interact(MESSAGE_COMPONENT, data, message=message)
        modal = next((c.body["data"] for c in self.calls if _callback_type(c) == 9), None)
        if modal is not None:
            check_modal(modal)
        return modal

    def submit_form(
        self, modal: dict[str, Any], message: dict[str, Any], values: dict[str, str]
    ) -> list[Reply]:
        data = {"custom_id": modal["custom_id"], "components": fill_modal(modal, values)}
        return self.interact(MODAL_SUBMIT, data, message=self._live(message["id"]))

    def set_now(self, text: str) -> None:
        assert self.clock is not None, "this driver was made without a clock"
        self.clock.set(text)

    def deliver(self) -> list[Reply]:
        """``@deliver``: one scheduler pass with the Discord sender; its DMs count as the reply.

        ``run_pending`` returns once the sender has had Discord's answer to every message, so
        the calls are all recorded by then. The sender must stay off the gateway."""
        from bot.reminders.scheduler import ReminderScheduler

        start, identifies, unknown = (
            len(self.fake.calls),
            self.fake.identifies,
            len(self.fake.unknown),
        )
        ReminderScheduler(self.harness.engine, {"discord": self.harness.sender}).run_pending()
        assert self.fake.identifies == identifies, "the reminder sender opened a gateway session"
        calls = self.fake.calls[start:]
        assert len(self.fake.unknown) == unknown, f"unknown routes: {self.fake.unknown[unknown:]}"
        dm = self.fake.dm_channel(self.user)["id"]
        sent: list[tuple[Reply, str]] = []
        for call in calls:
            check_limits(call)
            if call.result is not None and call.method == "POST":
                assert call.result["channel_id"] == dm, f"posted outside the DM: {call.path}"
                sent.append((to_reply(call.result), call.result["id"]))
        self.calls = calls
        if sent:
            self.last, self.last_sent = [r for r, _ in sent], sent
        return [r for r, _ in sent]

    # ------------------------------------------------------------------ other events

    def command(self, subcommand: str, guild_id: str | None = None) -> list[Reply]:
        """``/rebound <subcommand>``, in a server (guild_id) or in the DM."""
        data: dict[str, Any] = {
            "id": self.fake.snowflake(),
            "name": "rebound",
            "type": 1,
            "options": [{"name": subcommand, "type": 1, "options": []}],
        }
        if guild_id:
            data["guild_id"] = guild_id
        return self.interact(APPLICATION_COMMAND, data, guild_id=guild_id)

    def interact(
        self,
        kind: int,
        data: dict[str, Any],
        message: dict[str, Any] | None = None,
        guild_id: str | None = None,
    ) -> list[Reply]:
        payload = self.fake.interaction(kind, self.user, data, guild_id=guild_id, message=message)
        return self._step("INTERACTION_CREATE", payload)

    # ------------------------------------------------------------------ plumbing

    def _step(self, event: str, payload: dict[str, Any]) -> list[Reply]:
        bot = self.harness.bot
        assert bot is not None, "the bot is not running"
        start = len(self.fake.calls)

        async def go() -> None:
            done = asyncio.ensure_future(
                bot.wait_for("rebound_handled", check=lambda key: str(key) == payload["id"])
            )
            await asyncio.sleep(0)  # the listener is registered before the event can arrive
            await self.fake.dispatch(event, payload)
            running = self.harness._task
            assert running is not None
            await asyncio.wait({done, running}, timeout=WAIT, return_when="FIRST_COMPLETED")
            if running.done():  # the client died (an exception in discord.py's parser, say)
                running.result()
            if not done.done():
                done.cancel()
                raise AssertionError(f"the bot never handled {event} {payload['id']}")

        self.harness.run(go(), timeout=WAIT + 5)
        self.calls = self.fake.calls[start:]
        sent: list[tuple[Reply, str]] = []
        replies: list[Reply] = []
        for call in self.calls:
            check_limits(call)
            if call.result is not None and call.method == "POST":
                replies.append(to_reply(call.result))
                sent.append((replies[-1], call.result["id"]))
            elif call.method == "PATCH" and call.path.endswith("/@original"):
                replies.append(Reply(text=(call.body or {}).get("content") or ""))
        if replies:
            self.last, self.last_sent = replies, sent
        return replies

    def _live(self, message_id: str) -> dict[str, Any]:
        return self.fake.messages[message_id]

    def _find(self, label: str) -> tuple[dict[str, Any], dict[str, Any], str]:
        wanted = label.lower()
        for reply, mid in reversed(self.last_sent):
            for choice in reply.choices:
                if choice.label.lower() != wanted and choice.id != label:
                    continue
                message = self._live(mid)
                for comp in _components(message):
                    match = render.CHOICE.fullmatch(comp.get("custom_id", ""))
                    is_button = match is not None and match["choice"] == choice.id
                    in_select = comp["type"] == 3 and any(
                        o["value"] == choice.id for o in comp["options"]
                    )
                    if is_button or in_select:
                        assert not comp.get("disabled"), f"button {label!r} is disabled"
                        return message, comp, choice.id
        raise AssertionError(f"no button {label!r} on the last messages")

    def _form_button(self) -> tuple[dict[str, Any], dict[str, Any]]:
        for reply, mid in reversed(self.last_sent):
            if reply.form is None:
                continue
            message = self._live(mid)
            for comp in _components(message):
                if render.FORM.fullmatch(comp.get("custom_id", "")):
                    return message, comp
        raise AssertionError("no form is open")

    def _continue_button(self, previous: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """After one part of a long form, the message with the button for the next part."""
        before = render.FORM.fullmatch(previous)
        assert before is not None
        for call in self.calls:
            for comp in _components(call.result or {}):
                now = render.FORM.fullmatch(comp.get("custom_id", ""))
                if now and now["token"] == before["token"] and int(now["part"]) > 0:
                    return self._live(call.result["id"]), comp  # type: ignore[index]
        return None


def _callback_type(call: Call) -> int | None:
    if call.path.endswith("/callback") and isinstance(call.body, dict):
        return int(call.body["type"])
    return None


def _components(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components", []) for c in row.get("components", [])]


def to_reply(message: dict[str, Any]) -> Reply:
    """A Discord message as the neutral reply it shows: text, choices, form button, files."""
    choices: list[Choice] = []
    token: str | None = None
    form: Form | None = None
    for comp in _components(message):
        cid = comp.get("custom_id", "")
        if match := render.CHOICE.fullmatch(cid):
            choices.append(Choice(match["choice"], comp["label"]))
        elif match := render.SELECT.fullmatch(cid):
            choices.extend(Choice(o["value"], o["label"]) for o in comp["options"])
        elif match := render.FORM.fullmatch(cid):
            form = Form(id=cid, title=comp["label"], fields=())
        if match:
            token = match["token"]
    image = file = None
    for attachment in message.get("attachments", []):
        if attachment.get("content_type") == "image/png":
            image = Image(attachment["filename"], attachment.get("description") or "")
        else:
            file = attachment["filename"]
    return Reply(
        text=message.get("content", ""),
        choices=tuple(choices),
        form=form,
        image=image,
        token=token,
        file=file,
    )


def check_limits(call: Call) -> None:
    """Discord's documented limits on what a bot may send."""
    body = call.body if isinstance(call.body, dict) else {}
    data = body.get("data", body) or {}
    assert len(data.get("content") or "") <= render.CONTENT_LIMIT, "content over 2000 characters"
    rows = data.get("components") or []
    if body.get("type") != 9:
        assert len(rows) <= 5, "more than 5 action rows"
    for row in rows:
        inner = row.get("components") or [row.get("component") or {}]
        assert len(inner) <= 5, "more than 5 components in a row"
        for comp in inner:
            assert len(comp.get("custom_id", "")) <= render.CUSTOM_ID_LIMIT, comp
            assert len(comp.get("label") or "") <= render.LABEL_LIMIT, comp
            assert len(comp.get("options") or []) <= render.MAX_OPTIONS, comp


def check_modal(modal: dict[str, Any]) -> None:
    assert len(modal["title"]) <= render.TITLE_LIMIT, modal["title"]
    assert 1 <= len(modal["components"]) <= render.MAX_MODAL_INPUTS, "a modal takes 1 to 5 inputs"
    for label in modal["components"]:
        assert label["type"] == 18 and len(label["label"]) <= render.TITLE_LIMIT, label


def fill_modal(modal: dict[str, Any], values: dict[str, str]) -> list[dict[str, Any]]:
    """A MODAL_SUBMIT ``components`` list answering the modal's inputs from ``values``."""
    out = []
    for label in modal["components"]:
        inner = label["component"]
        value = values.get(inner["custom_id"], "")
        answer: dict[str, Any] = {"type": inner["type"], "id": inner.get("id", 0)}
        answer["custom_id"] = inner["custom_id"]
        if inner["type"] == 3:
            answer["values"] = [value] if value else []
        else:
            answer["value"] = value
        out.append({"type": 18, "id": label.get("id", 0), "component": answer})
    return out
