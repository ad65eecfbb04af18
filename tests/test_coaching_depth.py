"""Coaching depth (issue 15): the behaviour behind the transcripts, checked where order, time or
configuration matters and a transcript's "some reply contains" cannot see it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.config import Settings, load_settings
from bot.conversation.engine import Engine
from bot.conversation.flow_spec import unwrap
from bot.conversation.messages import UserKey
from bot.conversation.safety import asks_for_counselling, asks_if_bot_is_a_professional
from bot.storage.db import Database
from bot.storage.models import Reminder, ThemeTag, User
from tests.behaviour import production

from .conftest import FLOWS, Clock, EngineDriver, shared_encoder
from .test_coaching import replay
from .transcript import TRANSCRIPTS, parse


def _driver(engine: Engine, clock: Clock, name: str = "pat", ws: str = "local") -> EngineDriver:
    driver = EngineDriver(engine, UserKey("terminal", ws, name), clock)
    driver.text("hi")
    driver.press("Yes, that's right")
    return driver


def _until(driver: EngineDriver, transcript: str, last_line: str) -> None:
    steps = [s for s in parse(TRANSCRIPTS / transcript) if s.kind != "now"]
    index = next(i for i, s in enumerate(steps) if f"> {s.value}" == last_line or
                 f"> [{s.value}]" == last_line)  # fmt: skip
    replay(driver, steps[: index + 1])


def _labels(driver: EngineDriver) -> list[str]:
    return [c.label for c in driver.last[-1].choices]


def test_the_recurring_theme_leads_the_list_it_was_said_to_lead(
    engine: Engine, clock: Clock
) -> None:
    driver = EngineDriver(engine, UserKey("terminal", "local", "nerves"), clock)
    _until(driver, "debrief_nerves_final_rounds.txt", "> [Plan for final rounds]")
    labels = _labels(driver)
    # The most specific nerves action, then the one for where rejections come, then the rest.
    assert labels[:2] == ["Practise a routine for nerves", "Prepare for final rounds"], labels
    assert labels.index("Practise a routine for nerves") < labels.index("Do a mock interview")


def test_early_stage_rejections_bring_the_cv_in_first(engine: Engine, clock: Clock) -> None:
    driver = EngineDriver(engine, UserKey("terminal", "local", "early"), clock)
    _until(driver, "rethink_early_stages.txt", "> [On to my plan]")
    assert _labels(driver)[0] == "Refresh your CV and cover letter"


def test_two_early_rejections_are_enough_for_the_cv_but_not_for_a_rethink(
    engine: Engine, clock: Clock
) -> None:
    driver = _driver(engine, clock, "two")
    for company in ("Acme", "Globex"):
        driver.text("rejected")
        driver.form({"company": company, "role": f"{company} role"})
        driver.press("Phone or video screen")
        driver.press("Frustrated")
        driver.text("2")
        driver.press("Stop here for today")
        driver.press("Something else")
    replies = driver.text("plan")
    assert "came at the first stages" not in " ".join(r.text for r in replies)
    assert _labels(driver)[0] == "Refresh your CV and cover letter"


def test_one_final_round_rejection_changes_nothing_in_the_order(
    engine: Engine, clock: Clock
) -> None:
    driver = _driver(engine, clock, "once")
    driver.text("plan")
    before = _labels(driver)
    driver.text("menu")
    driver.text("rejected")
    driver.form({"company": "Acme", "role": "Analyst"})
    driver.press("Final round")
    driver.press("Frustrated")
    driver.text("2")
    driver.press("Stop here for today")
    driver.press("Something else")
    driver.text("plan")
    assert _labels(driver) == before


def test_debrief_nerves_are_a_theme_with_the_answer_as_evidence(
    engine: Engine, clock: Clock, db: Database
) -> None:
    driver = EngineDriver(engine, UserKey("terminal", "local", "debrief"), clock)
    _until(driver, "debrief_nerves_final_rounds.txt", "> [Yes, I've heard back]")
    with db.transaction() as s:
        tags = [(t.theme, t.source, t.evidence) for t in s.scalars(select(ThemeTag))]
    assert tags == [("nerves", "debrief", "answered 'a lot'")]


def _reminders(db: Database, kind: str) -> list[Reminder]:
    with db.transaction() as s:
        rows = s.scalars(select(Reminder).where(Reminder.kind == kind)).all()
        s.expunge_all()
        return list(rows)


def test_the_halfway_nudge_respects_quiet_hours(
    engine: Engine, clock: Clock, db: Database
) -> None:
    driver = _driver(engine, clock, "late riser")
    with db.transaction() as s:
        s.scalars(select(User)).one().quiet_end = "10:30"
    driver.text("plan")
    driver.press("Something of my own")
    driver.text("practise whiteboard exercises under time pressure")
    replies = driver.text("2026-12-03")
    assert "halfway there" in " ".join(r.text for r in replies)
    (halfway,) = _reminders(db, "plan_halfway")
    (on_the_day,) = _reminders(db, "plan_action")
    assert halfway.due_at == datetime(2026, 11, 28, 10, 30, tzinfo=UTC)  # 09:30 is still quiet
    assert on_the_day.due_at == datetime(2026, 12, 3, 10, 30, tzinfo=UTC)


def test_a_near_date_gets_no_halfway_nudge(engine: Engine, clock: Clock, db: Database) -> None:
    driver = _driver(engine, clock)
    driver.text("plan")
    driver.press("Do a mock interview")
    replies = driver.text("2026-11-25")
    assert "remind you on the day" in " ".join(r.text for r in replies)
    assert _reminders(db, "plan_halfway") == []


def test_an_own_action_is_stored_in_the_persons_words_and_trimmed(
    engine: Engine, clock: Clock
) -> None:
    driver = _driver(engine, clock)
    driver.text("plan")
    driver.press("Something of my own")
    driver.text("  practise   whiteboard exercises under time pressure.  ")
    driver.text("friday")
    replies = driver.press("That's enough")
    text = " ".join(r.text for r in replies)
    assert "\n• practise whiteboard exercises under time pressure (by Fri 27 Nov)" in text


def test_a_line_that_starts_with_a_placeholder_keeps_its_break() -> None:
    assert unwrap("Your plan:\n{plan_text}\nSay plan") == "Your plan:\n{plan_text} Say plan"
    assert unwrap("one\ntwo\n• three") == "one two\n• three"


@pytest.mark.parametrize(
    "text",
    [
        "I think I need a therapist, where can I find one?",
        "can you recommend a counsellor",
        "how do I get counselling at uni",
        "where can I get mental health support",
        "therapy near me?",
    ],
)
def test_asking_for_a_therapist_is_recognised(text: str) -> None:
    assert asks_for_counselling(text)


@pytest.mark.parametrize(
    "text",
    [
        "I don't need therapy lol",
        "my therapist said hi",
        "I went to therapy last year and it helped",
        "how do I answer the weakness question",
    ],
)
def test_mentioning_therapy_is_not_a_request(text: str) -> None:
    assert not asks_for_counselling(text)


def test_only_the_professional_question_gets_the_signposts() -> None:
    assert asks_if_bot_is_a_professional("are you a therapist?")
    assert asks_if_bot_is_a_professional("r u a counsellor")
    assert not asks_if_bot_is_a_professional("are you a bot?")


def _workspace_settings(tmp_path: object) -> Settings:
    return load_settings(
        None,
        data_dir=str(tmp_path),
        flows_dir=str(FLOWS),
        coaching={
            "workspace_support_resources": {"T9": ["Campus Wellbeing drop-in, Library G01"]},
            "workspace_counselling_resources": {"T9": ["Student Counselling: book online"]},
        },
    )


def test_support_and_counselling_lists_follow_the_workspace(
    db: Database, clock: Clock, tmp_path: object
) -> None:
    engine = Engine(db, _workspace_settings(tmp_path), production(), clock=clock,
                    encoder=shared_encoder())  # fmt: skip
    here = _driver(engine, clock, "sam", ws="T9")
    elsewhere = _driver(engine, clock, "sam", ws="T1")
    assert "Student Counselling" in here.text("are you a therapist?")[0].text
    assert "Student Counselling" not in elsewhere.text("are you a therapist?")[0].text
    for driver in (here, elsewhere):
        driver.text("rejected")
        driver.form({"company": "Acme", "role": "Analyst"})
        driver.press("First round")
        driver.press("Disappointed")
        driver.text("5")
        driver.press("Honestly, not great")
    assert "Campus Wellbeing" in here.texts()
    assert "Campus Wellbeing" not in elsewhere.texts()
    assert "A friend or family member you trust" in elsewhere.texts()


def test_the_debrief_promise_names_the_time_quiet_hours_allow(
    engine: Engine, clock: Clock, db: Database
) -> None:
    driver = _driver(engine, clock, "early evening")
    with db.transaction() as s:
        s.scalars(select(User)).one().quiet_start = "17:00"
    driver.text("log")
    driver.form({"company": "Acme", "role": "Analyst", "when": "today 14:00"})
    driver.press("First round")
    replies = driver.form({})
    assert "I'll check in on Tuesday at 08:00" in " ".join(r.text for r in replies)


def test_waiting_with_no_decision_date_books_a_check_a_week_on(
    engine: Engine, clock: Clock, db: Database
) -> None:
    driver = _driver(engine, clock, "waiting")
    driver.text("log")
    driver.form({"company": "Acme", "role": "Analyst", "when": "today 9am"})
    driver.press("First round")
    driver.form({})
    driver.press("Yes, debrief now")
    for _ in range(5):
        if "Have you heard anything" in driver.texts():
            break
        labels = _labels(driver)
        driver.press(labels[0]) if labels else driver.text("skip")
    replies = driver.press("Not yet")
    assert "If there's no news by Tuesday 01 December" in " ".join(r.text for r in replies)
    (check,) = _reminders(db, "decision")
    assert check.due_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
