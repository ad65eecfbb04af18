"""Every golden transcript, run through the Discord adapter against the fake Discord.

The driver sends real-shaped gateway events and reads the bot's REST calls back into neutral
replies, so a transcript that passes on the engine must pass here unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.conversation.engine import Engine

from .conftest import Clock
from .fakes.discord_driver import DiscordDriver, DiscordHarness
from .transcript import all_transcripts, run


@pytest.mark.parametrize("path", all_transcripts(), ids=lambda p: p.stem)
def test_transcript_on_discord(path: Path, engine: Engine, clock: Clock) -> None:
    harness = DiscordHarness(engine)
    try:
        run(path, DiscordDriver(harness, clock=clock))
    finally:
        harness.close()


def test_discord_driver_fails_on_a_wrong_expectation(
    tmp_path: Path, engine: Engine, clock: Clock
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("> hi\n< [Yes, that's right]\n< this text is never said\n")
    harness = DiscordHarness(engine)
    try:
        with pytest.raises(AssertionError, match="never said"):
            run(bad, DiscordDriver(harness, clock=clock))
    finally:
        harness.close()
