"""Every golden transcript, from one parametrised test, on the engine and on every adapter.

The drivers: the engine itself (the reference), the terminal's ``Console`` over text
streams, the real Slack app over HTTP on loopback against the fake Slack (answering in the
request, and through the durable inbox and its worker as ``rebound slack --http`` does), and
the real Discord bot against the fake Discord. Each parses its platform's output back into
neutral replies, so a transcript that passes on one must pass on all of them unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.conversation.engine import Engine
from bot.conversation.messages import UserKey

from .conftest import Clock, EngineDriver
from .fakes.terminal_driver import TerminalDriver
from .transcript import Driver, all_transcripts, run


@contextmanager
def engine_driver(engine: Engine, user: UserKey, clock: Clock) -> Iterator[Driver]:
    yield EngineDriver(engine, user, clock)


@contextmanager
def terminal_driver(engine: Engine, user: UserKey, clock: Clock) -> Iterator[Driver]:
    yield TerminalDriver(engine, user, clock)


@contextmanager
def slack_driver(
    engine: Engine, user: UserKey, clock: Clock, inbox: bool = False
) -> Iterator[Driver]:
    from .fakes.slack_driver import SlackDriver, SlackHarness

    harness = SlackHarness(engine, inbox=inbox)
    try:
        yield SlackDriver(harness, "U1", clock)
        posted = harness.fake.named("chat.postMessage")
        assert posted and all(c.args["channel"] == "DU1" for c in posted)  # only ever the DM
        calls = [c for c in harness.fake.calls if c.method != "response_url"]
        assert all(c.token == "xoxb-test-token" for c in calls)
        if harness.inbox is not None:  # every acknowledged request answered, then deleted
            deadline = time.monotonic() + 5
            while harness.inbox.waiting() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert harness.inbox.waiting() == 0
    finally:
        harness.close()


@contextmanager
def slack_inbox_driver(engine: Engine, user: UserKey, clock: Clock) -> Iterator[Driver]:
    """Slack as ``rebound slack --http`` serves it: acknowledged through the durable inbox,
    answered by the inbox worker."""
    with slack_driver(engine, user, clock, inbox=True) as playing:
        yield playing


@contextmanager
def discord_driver(engine: Engine, user: UserKey, clock: Clock) -> Iterator[Driver]:
    from .fakes.discord_driver import DiscordDriver, DiscordHarness

    harness = DiscordHarness(engine)
    try:
        yield DiscordDriver(harness, clock=clock)
    finally:
        harness.close()


DRIVERS = {
    "engine": engine_driver,
    "terminal": terminal_driver,
    "slack": slack_driver,
    "slack-inbox": slack_inbox_driver,
    "discord": discord_driver,
}


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("path", all_transcripts(), ids=lambda p: p.stem)
def test_transcript(path: Path, driver: str, engine: Engine, alice: UserKey, clock: Clock) -> None:
    with DRIVERS[driver](engine, alice, clock) as playing:
        run(path, playing)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_wrong_expectation_fails_on_every_driver(
    driver: str, tmp_path: Path, engine: Engine, alice: UserKey, clock: Clock
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("> hi\n< [Yes, that's right]\n< this text is never said\n")
    with DRIVERS[driver](engine, alice, clock) as playing, pytest.raises(
        AssertionError, match="never said"
    ):
        run(bad, playing)
