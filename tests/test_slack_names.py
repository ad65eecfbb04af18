"""Issue 15, names on Slack: the profile name (``users.info``) greets the person and is offered
as the name to sign emails with; asked of Slack once; a refusal costs the name, not the turn."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.platforms.slack.convert import profile_name
from bot.storage.models import User

from .conftest import Clock
from .fakes.slack_driver import SlackDriver, SlackHarness


def _texts(replies: list) -> str:  # type: ignore[type-arg]
    return "\n".join(r.text for r in replies)


def _stored(engine: Engine, user: str) -> User:
    with engine.db.transaction() as s:
        found = s.scalars(select(User).where(User.external_id == user)).one()
        s.expunge(found)
        return found


def _to_the_name(person: SlackDriver) -> list:  # type: ignore[type-arg]
    person.text("log")
    person.form({"company": "Initech", "role": "Analyst", "when": "today 8am"})
    person.press("First round")
    person.form({})
    person.press("Not now")
    person.text("feedback")
    person.press("Analyst at Initech")
    person.press("Draft it with me")
    person.text("skip")
    return person.text("skip")


def test_the_profile_name_greets_and_is_the_default_to_sign_with(
    slack: SlackHarness, engine: Engine, clock: Clock
) -> None:
    slack.fake.profiles["U7"] = {"display_name": "", "real_name": "Sam Okafor"}
    sam = SlackDriver(slack, "U7", clock)
    assert "Hi Sam Okafor," in _texts(sam.text("hi"))
    sam.press("Yes, that's right")
    asked = _to_the_name(sam)
    assert "Which name should I sign your emails with?" in _texts(asked)
    assert [c.label for c in asked[-1].choices] == ["Sam Okafor"]
    assert _stored(engine, "U7").sign_name is None  # offered, not assumed
    draft = _texts(sam.press("Sam Okafor"))
    assert draft.rstrip().endswith("Sam Okafor") and "[your name]" not in draft
    assert _stored(engine, "U7").sign_name == "Sam Okafor"
    lookups = [c for c in slack.fake.named("users.info") if c.args.get("user") == "U7"]
    assert len(lookups) == 1  # once per person, not once per turn


def test_the_display_name_comes_before_the_real_name(
    slack: SlackHarness, engine: Engine, clock: Clock
) -> None:
    slack.fake.profiles["U8"] = {"display_name": "Sammy", "real_name": "Samantha Okafor"}
    sammy = SlackDriver(slack, "U8", clock)
    assert "Hi Sammy," in _texts(sammy.text("hi"))
    sammy.press("Yes, that's right")
    asked = _to_the_name(sammy)
    assert [c.label for c in asked[-1].choices] == ["Sammy"]
    draft = _texts(sammy.text("Samantha Okafor"))  # typed: their own choice wins
    assert draft.rstrip().endswith("Samantha Okafor")
    assert _stored(engine, "U8").display_name == "Sammy"


def test_without_users_read_the_turn_is_still_answered(
    slack: SlackHarness, engine: Engine, clock: Clock
) -> None:
    slack.fake.profiles["U9"] = {"real_name": "Never Read"}
    slack.fake.fail_next("users.info", "missing_scope")
    nine = SlackDriver(slack, "U9", clock)
    hello = _texts(nine.text("hi"))
    assert "Hi there," in hello and "Never Read" not in hello
    nine.press("Yes, that's right")
    asked = _to_the_name(nine)
    assert "Which name should I sign your emails with?" in _texts(asked)
    assert asked[-1].choices == ()  # no default to offer
    assert _stored(engine, "U9").display_name is None


@pytest.mark.parametrize(
    ("user", "name"),
    [
        ({"profile": {"display_name": "  Sam  ", "real_name": "Sam Okafor"}}, "Sam"),
        ({"profile": {"display_name": "", "real_name": "Sam Okafor"}}, "Sam Okafor"),
        ({"real_name": "Sam O", "profile": {}}, "Sam O"),
        ({"profile": {"display_name": "x" * 200}}, "x" * 80),
        ({}, None),
        ({"profile": None}, None),
    ],
)
def test_profile_name(user: dict, name: str | None) -> None:  # type: ignore[type-arg]
    assert profile_name(user) == name
