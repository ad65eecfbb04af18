"""Every golden transcript, run on the engine directly (adapters run the same files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.conversation.engine import Engine

from .conftest import EngineDriver
from .transcript import all_transcripts, run


@pytest.mark.parametrize("path", all_transcripts(), ids=lambda p: p.stem)
def test_transcript_on_engine(path: Path, engine: Engine, alice, clock) -> None:  # type: ignore[no-untyped-def]
    run(path, EngineDriver(engine, alice, clock))


def test_transcript_runner_fails_on_a_wrong_expectation(
    tmp_path: Path,
    engine: Engine,
    alice,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("> hi\n< this text is never said\n")
    with pytest.raises(AssertionError, match="never said"):
        run(bad, EngineDriver(engine, alice, clock))
