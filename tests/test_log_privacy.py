"""People's words never reach the logs, at any level (issue 11, item 14).

Everything runs with the root logger at DEBUG through a handler set up the way ``rebound``
sets up logging (``log_privacy.install()``), against the loopback fakes: a Slack request with
a bad signature (Bolt logs its body at INFO), a DM over HTTP and over Socket Mode, a message
sent with slack_sdk (which logs each request and response at DEBUG), and a Discord DM in and a
Discord message out (discord.py logs gateway events and REST payloads at DEBUG). The captured
output must be substantial (the SDKs did log) and must not contain the person's words. The
same holds for a database error logged with its traceback and for ``database.echo``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot import log_privacy
from bot.conversation.engine import Engine
from bot.conversation.messages import Reply
from bot.conversation.sender import Recipient
from bot.platforms.discord import convert as discord_render
from bot.platforms.slack.app import build_app
from bot.platforms.slack.cli import socket_handler
from bot.storage.db import Database

from .fakes.discord_driver import DiscordDriver, DiscordHarness
from .fakes.slack_api import FakeSlack
from .fakes.slack_driver import BOT_TOKEN, WAIT, LoopThread, SlackHarness, slack_settings

SENTINEL = "plum umbrella nineteen"  # what the person wrote; it must never be logged
APP_TOKEN = "xapp-1-A1-123-abcdef"


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """All log output at DEBUG, through a root handler with Rebound's filters installed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    log_privacy.install()
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _dm(text: str) -> dict[str, str]:
    return {
        "type": "message",
        "channel": "DU1",
        "channel_type": "im",
        "user": "U1",
        "text": text,
        "ts": "1700000000.000001",
        "event_ts": "1700000000.000001",
    }


@pytest.mark.parametrize("inbox", [False, True], ids=["in-request", "inbox"])
def test_slack_http_bad_signature_and_sends(
    engine: Engine, logs: io.StringIO, inbox: bool
) -> None:
    harness = SlackHarness(engine, inbox=inbox)
    try:
        body = harness.event_body(_dm(f"I keep thinking {SENTINEL}"), "EvBad1")
        status, _ = harness.post(body, "application/json", secret="not-the-secret")
        assert status == 401
        harness.send_event(_dm(f"hi, {SENTINEL}"), "EvGood1")
        sent = harness.loop.run(
            harness.app.client.chat_postMessage(channel="DU1", text=f"You said {SENTINEL}")
        )
        assert sent["ok"]
    finally:
        harness.close()
    output = logs.getvalue()
    assert "refused a Slack request" in output and "chat.postMessage" in output
    assert SENTINEL not in output
    assert BOT_TOKEN not in output


def test_slack_socket_mode_envelope(engine: Engine, logs: io.StringIO) -> None:
    loop, fake = LoopThread(), FakeSlack()
    loop.run(fake.start())
    handled = threading.Event()
    settings = slack_settings(engine.settings, fake, app_token=SecretStr(APP_TOKEN))
    app = build_app(engine, settings, on_handled=lambda _kind: handled.set())

    async def connect() -> Any:
        handler = socket_handler(app, APP_TOKEN)
        await handler.connect_async()
        return handler

    handler = loop.run(connect())
    try:
        envelope = {
            "envelope_id": "env-log",
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": {
                "team_id": "T0001",
                "api_app_id": "A0001",
                "event": _dm(f"hello {SENTINEL}"),
                "type": "event_callback",
                "event_id": "EvSockLog",
                "event_time": 1,
            },
        }
        loop.run(fake.socket_send(envelope))
        assert handled.wait(WAIT)
        loop.run(asyncio.wait_for(fake.socket_acked.wait(), WAIT))
    finally:
        loop.run(handler.close_async())
        loop.run(fake.stop())
        loop.close()
    output = logs.getvalue()
    assert "slack_sdk" in output or "slack_bolt" in output
    assert SENTINEL not in output and APP_TOKEN not in output


def test_discord_message_in_and_out(engine: Engine, logs: io.StringIO) -> None:
    harness = DiscordHarness(engine)
    try:
        person = DiscordDriver(harness)
        assert person.text(f"hi {SENTINEL}")
        who = discord_render.user_key(person.user["id"])
        harness.sender.deliver(Recipient(who), [Reply(text=f"You said {SENTINEL}")])
    finally:
        harness.close()
    output = logs.getvalue()
    assert "WebSocket Event" in output and "discord.http" in output
    assert SENTINEL not in output


def test_discord_interactions_leave_no_token_and_no_words_at_debug(
    engine: Engine, logs: io.StringIO
) -> None:
    """discord.py logs the URL of every interaction answer (``/interactions/<id>/<token>/...``,
    ``/webhooks/<app>/<token>/...``) at DEBUG: a live interaction token. Buttons, a modal with
    the person's words, a slash command in a server: no token, no words."""
    harness = DiscordHarness(engine)
    try:
        person = DiscordDriver(harness)
        person.text(f"hi {SENTINEL}")
        person.press("Yes, that's right")
        person.text("rejected")
        person.form({"company": f"Acme {SENTINEL}", "role": SENTINEL})
        person.command("help", guild_id="1200000000000000001")
        tokens = [t for t in harness.fake.interactions if t.startswith("itoken-")]
    finally:
        harness.close()
    output = logs.getvalue()
    assert "discord.webhook" in output and "/interactions/" in output  # the answers were logged
    assert tokens and not [t for t in tokens if t in output]
    assert SENTINEL not in output


def test_filter_keeps_the_heading_and_leaves_our_own_records_alone() -> None:
    sdk = logging.LogRecord(
        "slack_sdk.web.async_base_client", logging.DEBUG, __file__, 1,
        "Sending a request - url: POST https://slack.com/api/chat.postMessage, data: %s",
        ({"text": SENTINEL},), None,
    )  # fmt: skip
    assert log_privacy.RedactPayloads().filter(sdk)
    assert sdk.getMessage().startswith("Sending a request - url: POST https://slack.com/api/")
    assert SENTINEL not in sdk.getMessage()
    ours = logging.LogRecord(
        "bot.conversation.engine", logging.INFO, __file__, 1, "turn %s", ("{ok}",), None
    )
    assert log_privacy.RedactPayloads().filter(ours) and ours.getMessage() == "turn {ok}"


def test_database_errors_and_echo_never_carry_the_values(tmp_path: Path, logs: io.StringIO) -> None:
    """SQLAlchemy puts a statement's parameters (the person's words) into every database
    error's text, which a failed turn logs with its traceback, and into the echo log."""
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}", echo=True)
    try:
        with pytest.raises(OperationalError) as info, db.transaction() as session:
            session.execute(text("INSERT INTO nowhere VALUES (:v)"), {"v": SENTINEL})
        logging.getLogger("bot.conversation.engine").error("turn failed", exc_info=info.value)
    finally:
        db.dispose()
    assert "nowhere" in logs.getvalue()  # the statement and the error were logged
    assert SENTINEL not in str(info.value) and SENTINEL not in logs.getvalue()
