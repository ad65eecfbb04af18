"""Every message in every golden transcript is short enough to read on a phone at a low moment.

Sixty words is the ceiling. The few longer messages are named below with the reason they are
long; anything else over the ceiling fails with its text, so a new long message is a decision,
not an accident.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.conversation.engine import Engine
from bot.conversation.messages import Reply, UserKey

from .conftest import Clock, EngineDriver
from .transcript import all_transcripts, run

LIMIT = 60

# The start of each message allowed to run longer, and why.
LONGER = {
    "Subject: ": "the email draft itself: the person sends it, so it has to be complete",
    "I'm so sorry you're carrying this": (
        "the crisis reply: the helplines from the config are the care, so they are never cut; "
        "our own words around them are held to 40 (test below)"
    ),
    "Practise a routine for nerves": "a routine of four steps the person keeps and rehearses",
    "Only this workspace's admins": "the community's settings shown read-only, one line each",
    "Your week in brief": "the weekly summary reads figures, one line each",
}


class Recording(EngineDriver):
    """The engine driver, keeping every reply it was given."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen: list[Reply] = []

    def _send(self, **kwargs: object) -> list[Reply]:
        replies = super()._send(**kwargs)
        self.seen.extend(replies)
        return replies

    def deliver(self) -> list[Reply]:
        replies = super().deliver()
        self.seen.extend(replies)
        return replies


def words(text: str) -> int:
    return len([w for w in text.split() if any(ch.isalnum() for ch in w)])


def too_long(replies: list[Reply]) -> list[str]:
    return [
        r.text
        for r in replies
        if words(r.text) > LIMIT and not any(r.text.startswith(p) for p in LONGER)
    ]


@pytest.mark.parametrize("path", all_transcripts(), ids=lambda p: p.stem)
def test_no_message_in_a_transcript_is_over_sixty_words(
    path: Path, engine: Engine, alice: UserKey, clock: Clock
) -> None:
    driver = Recording(engine, alice, clock)
    run(path, driver)
    assert too_long(driver.seen) == []


def test_help_comes_in_two_short_messages(engine: Engine, alice: UserKey, clock: Clock) -> None:
    driver = Recording(engine, alice, clock)
    driver.text("hi")
    driver.press("Yes, that's right")
    replies = driver.text("help")
    assert len([r for r in replies if "help" in r.text.lower() or "log" in r.text]) >= 2
    assert too_long(replies) == [] and all(words(r.text) <= 40 for r in replies[:2])


def test_the_crisis_reply_is_short_apart_from_the_helplines(engine: Engine) -> None:
    assert words(engine.messages["crisis"].replace("{resources}", "")) <= 40


def test_the_ceiling_catches_a_long_message() -> None:
    assert too_long([Reply(text="word " * 61)]) == ["word " * 61]
    assert too_long([Reply(text="Subject: " + "word " * 80)]) == []
