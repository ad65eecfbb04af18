"""What a turn carries over on the engine: a command asked for before the welcome, a form's
answers after a refused submission, and reminders' local times across a change of time zone.
The same guarantees through the Discord adapter are in ``tests/test_discord_contract.py``."""

from __future__ import annotations

from bot.conversation.engine import Engine
from bot.conversation.messages import UserKey

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
