"""Issue 15, names on Discord: the global name greets the person and is offered (never
assumed) as the name to sign emails with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.storage.models import User

from .conftest import Clock
from .fakes.discord_driver import DiscordDriver, DiscordHarness


@pytest.fixture
def discord_bot(engine: Engine) -> Iterator[DiscordHarness]:
    harness = DiscordHarness(engine)
    yield harness
    harness.close()


def test_the_global_name_greets_and_is_the_default_to_sign_with(
    discord_bot: DiscordHarness, engine: Engine, clock: Clock
) -> None:
    sam = DiscordDriver(discord_bot, name="Sam Okafor", clock=clock)
    assert "Hi Sam Okafor," in " ".join(r.text for r in sam.text("hi"))
    sam.press("Yes, that's right")
    sam.text("log")
    sam.form({"company": "Initech", "role": "Analyst", "when": "today 8am"})
    sam.press("First round")
    sam.form({})
    sam.press("Not now")
    sam.text("feedback")
    sam.press("Analyst at Initech")
    sam.press("Draft it with me")
    sam.text("skip")
    asked = sam.text("skip")
    assert "Which name should I sign your emails with?" in asked[-1].text
    assert [c.label for c in asked[-1].choices] == ["Sam Okafor"]
    with engine.db.transaction() as s:
        assert s.scalars(select(User.sign_name)).one() is None  # offered, not assumed
    draft = "\n".join(r.text for r in sam.press("Sam Okafor"))
    assert draft.rstrip().endswith("Sam Okafor") and "[your name]" not in draft
    with engine.db.transaction() as s:
        assert s.scalars(select(User.sign_name)).one() == "Sam Okafor"
