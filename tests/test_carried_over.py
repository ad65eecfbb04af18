"""What a turn carries over on the engine: a command asked for before the welcome, a form's
answers after a refused submission, and reminders' local times across a change of time zone.
The same guarantees through the Discord adapter are in ``tests/test_discord_contract.py``."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.conversation.messages import UserKey
from bot.storage.models import Reminder, User

from .conftest import Clock, EngineDriver


def texts(replies: list) -> str:  # type: ignore[type-arg]
    return " ".join(r.text for r in replies)


def test_a_first_message_that_is_a_command_leads_there_after_the_welcome(
    engine: Engine, clock: Clock
) -> None:
    driver = EngineDriver(engine, UserKey("terminal", "local", "newcomer"), clock)
    replies = driver.text("log")
    assert "I'm Rebound" in texts(replies)  # the welcome still comes first
    replies = driver.press("Yes, that's right")
    assert "Which company, which role" in texts(replies) and replies[-1].form is not None
    assert "What would you like to do?" not in texts(replies)


def test_the_command_survives_a_changed_time_zone_in_the_welcome(
    engine: Engine, clock: Clock
) -> None:
    driver = EngineDriver(engine, UserKey("terminal", "local", "traveller"), clock)
    driver.text("progress")
    driver.press("No, it's another one")
    replies = driver.text("Europe/Berlin")
    assert "Interviews logged" in texts(replies)


def test_a_plain_first_hello_still_ends_at_the_menu(engine: Engine, clock: Clock) -> None:
    driver = EngineDriver(engine, UserKey("terminal", "local", "hello"), clock)
    driver.text("hi")
    assert "What would you like to do?" in texts(driver.press("Yes, that's right"))


def test_a_refused_form_opens_again_with_what_was_typed(engine: Engine, clock: Clock) -> None:
    driver = EngineDriver(engine, UserKey("terminal", "local", "typist"), clock)
    driver.text("hi")
    driver.press("Yes, that's right")
    driver.text("log")
    replies = driver.form({"company": "Acme", "role": "Analyst", "when": "not a date"})
    assert "another look" in texts(replies)
    form = replies[-1].form
    assert form is not None
    assert {f.id: f.value for f in form.fields} == {
        "company": "Acme",
        "role": "Analyst",
        "when": "not a date",
    }
    (again,) = [r for r in engine.resume(driver.user) if r.form]  # reopened later: the same
    assert again.form is not None and again.form.fields[0].value == "Acme"
    driver.form({"company": "Acme", "role": "Analyst", "when": "2026-12-20 10:00"})
    driver.press("First round")
    extras = driver.last[-1].form
    assert extras is not None and not any(f.value for f in extras.fields)


def _debrief_local(engine: Engine, user: UserKey, zone: str) -> str:
    with engine.db.transaction() as s:
        person = s.scalars(select(User).where(User.external_id == user.user_id)).one()
        (due,) = s.scalars(
            select(Reminder.due_at).where(
                Reminder.user_id == person.id,
                Reminder.kind == "debrief",
                Reminder.status == "pending",
            )
        )
    return due.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def test_changing_the_time_zone_keeps_the_reminders_local_times(
    engine: Engine, clock: Clock
) -> None:
    """A debrief check-in booked for 18:00 in London is at 18:00 in Chicago after the person
    says they moved there, not at noon."""
    driver = EngineDriver(engine, UserKey("terminal", "local", "mover"), clock)
    driver.text("hi")
    driver.press("No, it's another one")
    driver.text("Europe/London")
    driver.text("log")
    driver.form({"company": "Acme", "role": "Analyst", "when": "2026-12-10 10:00"})
    driver.press("First round")
    driver.form({})
    assert _debrief_local(engine, driver.user, "Europe/London") == "2026-12-10 18:00"
    driver.text("settings")
    driver.press("My time zone")
    assert "America/Chicago" in texts(driver.text("America/Chicago"))
    assert _debrief_local(engine, driver.user, "America/Chicago") == "2026-12-10 18:00"


def test_a_superscript_digit_is_not_read_as_an_option_number(engine: Engine, clock: Clock) -> None:
    """'²'.isdigit() is true but int('²') fails: the hypothesis fuzz found it crashing a turn."""
    driver = EngineDriver(engine, UserKey("terminal", "local", "fuzzed"), clock)
    driver.text("hi")
    replies = driver.text("²")
    assert replies and all("went wrong" not in r.text for r in replies)
