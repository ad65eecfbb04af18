"""Every golden transcript, played through the real Slack adapter over HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.conversation.engine import Engine

from .conftest import Clock
from .fakes.slack_driver import SlackDriver, SlackHarness
from .transcript import all_transcripts, run


@pytest.fixture
def slack(engine: Engine) -> Iterator[SlackHarness]:
    harness = SlackHarness(engine)
    yield harness
    harness.close()


@pytest.mark.parametrize("path", all_transcripts(), ids=lambda p: p.stem)
def test_transcript_on_slack(path: Path, slack: SlackHarness, clock: Clock) -> None:
    driver = SlackDriver(slack, "U1", clock)
    run(path, driver)
    posted = slack.fake.named("chat.postMessage")
    assert posted and all(c.args["channel"] == "DU1" for c in posted)
    assert all(c.token == "xoxb-test-token" for c in slack.fake.calls if c.method != "response_url")
