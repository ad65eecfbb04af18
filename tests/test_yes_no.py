"""Typing "no" means no (issue 11 item 9).

YAML 1.1 read the choice ids ``yes`` and ``no`` as booleans: "no" matched nothing at the
time-zone and forget confirmations, while "true" picked yes, which at ``forget me`` deleted
everything. Ids are text now; these turns go through the real engine and the shipped flows.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.conversation.messages import UserKey
from bot.storage.db import Database
from bot.storage.models import User

from .conftest import Clock, EngineDriver


def _texts(replies: list) -> str:
    return "\n".join(r.text for r in replies)


def test_no_at_the_time_zone_question_asks_for_the_zone(
    engine: Engine, alice: UserKey, clock: Clock
) -> None:
    driver = EngineDriver(engine, alice, clock)
    assert "is UTC your time zone?" in _texts(driver.text("hi"))
    # "true" is at most a guess to confirm now (it used to pick yes silently): it moves nothing.
    guessed = _texts(driver.text("true"))
    assert "What would you like to do?" not in guessed and "Which time zone" not in guessed
    assert "Which time zone are you in?" in _texts(driver.text("no"))


def test_no_at_forget_keeps_everything_and_true_deletes_nothing(
    engine: Engine, db: Database, alice: UserKey, clock: Clock
) -> None:
    driver = EngineDriver(engine, alice, clock)
    driver.text("hi")
    driver.text("yes")
    assert "Are you sure?" in _texts(driver.text("forget me"))
    assert "I didn't quite catch that" in _texts(driver.text("true"))
    assert "Okay, nothing was deleted." in _texts(driver.text("no"))
    with db.transaction() as session:
        assert session.scalars(select(User).where(User.external_id == alice.user_id)).one()
    driver.text("forget me")
    assert "Everything is deleted" in _texts(driver.text("yes"))
