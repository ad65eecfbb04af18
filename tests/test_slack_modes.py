"""The two ways to run on Slack besides single-workspace HTTP: Socket Mode, and OAuth for many
workspaces. Both against the fake Slack on loopback, with the same app ``rebound slack`` builds."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.platforms.slack.app import build_app
from bot.platforms.slack.cli import socket_handler
from bot.storage.models import SLACK_BOTS

from .fakes.slack_api import FakeSlack
from .fakes.slack_driver import WAIT, LoopThread, SlackHarness, slack_settings

APP_TOKEN = "xapp-test-token"


def dm_event(text: str = "hi") -> dict[str, str]:
    """A direct message from U1, as the Events API delivers it."""
    return {
        "type": "message",
        "channel": "DU1",
        "channel_type": "im",
        "user": "U1",
        "text": text,
        "ts": "1700000000.000001",
        "event_ts": "1700000000.000001",
    }


def test_socket_mode_acks_the_envelope_and_answers_in_the_dm(
    engine: Engine, slack_loop_fake: tuple[LoopThread, FakeSlack]
) -> None:
    loop, fake = slack_loop_fake
    handled = threading.Event()
    settings = slack_settings(engine.settings, fake, app_token=SecretStr(APP_TOKEN))
    app = build_app(engine, settings, on_handled=lambda _kind: handled.set())

    async def connect() -> Any:  # the handler's aiohttp session needs a running loop
        handler = socket_handler(app, APP_TOKEN)
        await handler.connect_async()
        return handler

    handler = loop.run(connect())
    try:
        event = dm_event()
        envelope = {
            "envelope_id": "env-1",
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": {
                "team_id": "T0001",
                "api_app_id": "A0001",
                "event": event,
                "type": "event_callback",
                "event_id": "EvSock1",
                "event_time": 1,
            },
        }
        loop.run(fake.socket_send(envelope))
        assert handled.wait(WAIT)
        loop.run(asyncio.wait_for(fake.socket_acked.wait(), WAIT))
    finally:
        loop.run(handler.close_async())
    assert fake.socket_acks[0]["envelope_id"] == "env-1"
    assert fake.named("apps.connections.open")[0].token == APP_TOKEN
    posted = fake.named("chat.postMessage")
    assert posted and {c.args["channel"] for c in posted} == {"DU1"}
    assert "I'm Rebound" in posted[0].args["text"]


@pytest.fixture
def oauth(engine: Engine) -> Iterator[SlackHarness]:
    harness = SlackHarness(
        engine, bot_token=None, client_id="111.222", client_secret=SecretStr("client-secret")
    )
    yield harness
    harness.close()


def test_oauth_install_stores_the_token_and_events_from_that_workspace_use_it(
    oauth: SlackHarness, engine: Engine
) -> None:
    status, page, headers = oauth.request("GET", "/slack/install")
    assert status == 200
    link = re.search(r'href="([^"]+/oauth/v2/authorize[^"]*)"', page)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    assert url.startswith(f"{oauth.fake.base}/oauth/v2/authorize?")  # same host as the API
    state = re.search(r"state=([\w-]+)", url)
    assert state is not None
    cookie = headers.get("set-cookie", "").split(";")[0]
    oauth.fake.teams["code-1"] = "T0BLUE"
    status, _, _ = oauth.request(
        "GET",
        f"/slack/oauth_redirect?code=code-1&state={state.group(1)}",
        headers={"Cookie": cookie},
    )
    assert status == 200
    with engine.db.transaction() as s:
        bots = s.execute(select(SLACK_BOTS.c.team_id, SLACK_BOTS.c.bot_token)).all()
    assert [tuple(b) for b in bots] == [("T0BLUE", "xoxb-T0BLUE-installed")]

    event = dm_event()
    oauth.send(oauth.event_body(event, "EvBlue1", team="T0BLUE"), "application/json")
    posted = oauth.fake.named("chat.postMessage")
    assert posted and {c.token for c in posted} == {"xoxb-T0BLUE-installed"}


def test_oauth_state_is_checked(oauth: SlackHarness, engine: Engine) -> None:
    oauth.fake.teams["code-2"] = "T0RED"
    status, _, _ = oauth.request("GET", "/slack/oauth_redirect?code=code-2&state=made-up")
    assert status >= 400
    with engine.db.transaction() as s:
        assert s.execute(select(SLACK_BOTS.c.team_id)).all() == []
    assert not oauth.fake.named("oauth.v2.access")


def test_oauth_event_from_a_workspace_without_installation_is_not_answered(
    oauth: SlackHarness,
) -> None:
    event = dm_event()
    status, _ = oauth.post(oauth.event_body(event, "EvNone1", team="T0NONE"), "application/json")
    assert status == 200  # acknowledged (Slack would otherwise retry), but nobody to answer as
    assert oauth.done == 0 and not oauth.fake.named("chat.postMessage")
    assert oauth.request("GET", "/healthz")[0] == 200
