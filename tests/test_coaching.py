"""The coaching journey beyond the transcripts: safety at every step, privacy, themes, chart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.coaching.themes import find_themes
from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey
from bot.storage.db import Database
from bot.storage.models import PERSONAL_TABLES, Interview, User

from .conftest import Clock, EngineDriver
from .transcript import TRANSCRIPTS, Step, parse, parse_form

CRISIS_TEXT = "honestly I just want to die"


def replay(driver: EngineDriver, steps: list[Step]) -> None:
    for step in steps:
        if step.kind == "press":
            driver.press(step.value)
        elif step.kind == "form":
            driver.form(parse_form(step.value))
        elif step.kind == "text":
            driver.text(step.value)


def test_crisis_stops_the_flow_at_every_step_of_the_journey(
    engine: Engine, clock: Clock, db: Database
) -> None:
    steps = [s for s in parse(TRANSCRIPTS / "journey_rejection.txt") if s.kind != "now"]
    for k in range(0, len(steps), 2):
        who = UserKey("terminal", "local", f"step{k}")
        driver = EngineDriver(engine, who, clock)
        replay(driver, steps[:k])
        replies = driver.text(CRISIS_TEXT)
        assert len(replies) == 1, f"step {k}: the flow went on after a crisis message"
        assert "988" in replies[0].text and not replies[0].choices, f"step {k}"
        with db.transaction() as s:
            user = s.scalars(select(User).where(User.external_id == who.user_id)).one()
            assert user.crisis_at is not None, f"step {k}"


def _start(driver: EngineDriver) -> None:
    driver.text("hi")
    driver.press("Yes, that's right")


def _log(driver: EngineDriver, company: str) -> None:
    driver.text("log")
    driver.form({"company": company, "role": "Analyst", "when": "tomorrow 10am"})
    driver.press("First round")
    driver.form({})


def test_another_persons_interview_cannot_be_picked(
    engine: Engine, clock: Clock, db: Database
) -> None:
    alice = EngineDriver(engine, UserKey("slack", "T1", "alice"), clock)
    bob = EngineDriver(engine, UserKey("slack", "T1", "bob"), clock)
    for driver, company in ((alice, "AliceCorp"), (bob, "BobCorp")):
        _start(driver)
        _log(driver, company)
    with db.transaction() as s:
        alice_iv = s.scalars(select(Interview).where(Interview.company == "AliceCorp")).one().id
    bob.text("debrief")
    token = bob.last[-1].token
    assert bob.last[-1].choices[0].label == "Analyst at BobCorp"
    replies = engine.handle(Inbound(user=bob.user, choice=f"opt:{alice_iv}", token=token))
    assert "isn't available" in replies[0].text
    with db.transaction() as s:
        row = s.get(Interview, alice_iv)
        assert row is not None and row.how_it_went is None and row.outcome == "pending"


def test_export_holds_only_the_askers_data(engine: Engine, clock: Clock) -> None:
    alice = EngineDriver(engine, UserKey("terminal", "local", "alice"), clock)
    bob = EngineDriver(engine, UserKey("terminal", "local", "bob"), clock)
    for driver, company in ((alice, "AliceCorp"), (bob, "BobCorp")):
        _start(driver)
        _log(driver, company)
    replies = alice.text("export")
    attached = [r.file for r in replies if r.file]
    assert len(attached) == 1
    assert "1 interviews" in " ".join(r.text for r in replies)
    text = Path(attached[0]).read_text()
    data = json.loads(text)
    assert [i["company"] for i in data["interviews"]] == ["AliceCorp"]
    assert "BobCorp" not in text
    assert data["person"]["external_id"] == "alice"


def test_forget_me_removes_everything_of_that_person_only(
    engine: Engine, clock: Clock, db: Database
) -> None:
    alice = EngineDriver(engine, UserKey("terminal", "local", "alice"), clock)
    bob = EngineDriver(engine, UserKey("terminal", "local", "bob"), clock)
    for driver, company in ((alice, "AliceCorp"), (bob, "BobCorp")):
        _start(driver)
        _log(driver, company)
        driver.text("rejected")
        driver.press(f"Analyst at {company}")
        driver.press("Angry")
        driver.text("5")

    def counts() -> dict[str, int]:
        with db.transaction() as s:
            return {
                t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0
                for t in (User, *PERSONAL_TABLES)
            }

    before = counts()
    assert before["feelings"] == 2 and before["interviews"] == 2
    assert "can't be undone" in alice.text("forget me")[-1].text
    assert "nothing was deleted" in alice.press("No, keep it")[0].text.lower()
    alice.text("forget me")
    replies = alice.press("Yes, delete everything")
    assert "Everything is deleted" in replies[-1].text and not replies[-1].choices
    after = counts()
    for table, n in before.items():
        assert after[table] == n // 2, f"{table}: {n} -> {after[table]}"
    with db.transaction() as s:
        assert s.scalars(select(User).where(User.external_id == "alice")).first() is None
    assert "I'm Rebound" in alice.text("hello again")[0].text  # a fresh start


@pytest.mark.parametrize(
    ("text", "themes"),
    [
        ("I froze and my mind went blank", {"nerves"}),
        ("they wanted someone with more years of experience", {"experience"}),
        ("a technical test, a question caught me off guard", {"skills_gap", "tough_questions"}),
        ("I didn't research the company enough", {"preparation"}),
        ("it went fine", set()),
    ],
)  # fmt: skip
def test_theme_tagging_is_explainable(text: str, themes: set[str]) -> None:
    found = find_themes(text)
    assert set(found) == themes
    for evidence in found.values():
        assert evidence in text.lower()


def test_progress_chart_is_a_png(engine: Engine, clock: Clock) -> None:
    driver = EngineDriver(engine, UserKey("terminal", "local", "pat"), clock)
    _start(driver)
    driver.text("rejected")
    driver.form({"company": "Initech", "role": "Analyst"})
    driver.press("First round")
    driver.press("Frustrated")
    driver.text("3")
    replies = driver.text("progress")
    images = [r.image for r in replies if r.image]
    assert images and images[0].alt
    data = Path(images[0].path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert "Interviews logged: 1 (1 not this time)" in " ".join(r.text for r in replies)


def test_summary_shows_reminders_in_the_persons_own_time(engine: Engine, clock: Clock) -> None:
    driver = EngineDriver(engine, UserKey("slack", "T1", "kenji"), clock)
    driver.text("hi")
    driver.press("No, it's another one")
    driver.text("Asia/Tokyo")
    _log(driver, "Nintendo")
    summary = engine.overview(driver.user)
    assert summary.interviews == ["Analyst at Nintendo (first round)"]
    assert any(r.startswith("debrief: ") and r.endswith("18:00") for r in summary.reminders)
