"""Loopback contract tests: the real discord.py client against a local fake Discord.

Each step is a real-shaped gateway event; the driver waits for the bot's own "handled" signal,
so an event that discord.py's parser dropped fails here instead of passing silently.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.platforms.discord import convert as render
from bot.storage.models import User

from .conftest import Clock
from .fakes.discord_driver import DiscordDriver, DiscordHarness
from .fakes.discord_fake import (
    APPLICATION_COMMAND,
    DEFERRED_MESSAGE,
    DEFERRED_UPDATE,
    EPHEMERAL,
    MESSAGE,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    UPDATE_MESSAGE,
    Call,
)

GUILD = "1200000000000000001"


@pytest.fixture
def harness(engine: Engine) -> Iterator[DiscordHarness]:
    h = DiscordHarness(engine)
    yield h
    h.close()


@pytest.fixture
def person(harness: DiscordHarness, clock: Clock) -> DiscordDriver:
    return DiscordDriver(harness, clock=clock)


def texts(replies: list) -> str:  # type: ignore[type-arg]
    return " ".join(r.text for r in replies)


def callbacks(calls: list[Call], kind: int) -> list[Call]:
    return [c for c in calls if c.path.endswith("/callback") and c.body["type"] == kind]


def at_menu(person: DiscordDriver) -> None:
    person.text("hi")
    person.press("Yes, that's right")


def test_first_dm_is_answered_in_the_dm_with_buttons(
    person: DiscordDriver, harness: DiscordHarness
) -> None:
    replies = person.text("hi")
    assert "I'm Rebound" in texts(replies) and "Hi Alice" in texts(replies)
    assert [c.label for c in replies[-1].choices] == ["Yes, that's right", "No, it's another one"]
    dm = harness.fake.dm_channels[person.user["id"]]
    assert {c.path for c in person.calls} == {f"/channels/{dm}/messages"}
    assert harness.fake.unknown == []


def test_commands_are_synced_once_at_start_not_on_every_connect(
    person: DiscordDriver, harness: DiscordHarness
) -> None:
    (rebound,) = harness.fake.commands["global"]
    assert rebound["name"] == "rebound"
    assert [o["name"] for o in rebound["options"]] == list(harness.engine.commands_for_slash())
    assert set(rebound["contexts"]) == {0, 1}  # servers and DMs with the bot
    harness.restart()
    syncs = [c for c in harness.fake.calls if c.method == "PUT"]
    assert harness.fake.identifies == 2 and len(syncs) == 1  # same hash: no second sync


def test_every_subcommand_is_described_in_words_written_for_people(
    person: DiscordDriver, harness: DiscordHarness
) -> None:
    """The picker shows these to everyone in the server: never a flow's internal title
    ("After a rejection (1 of 4, feelings)") nor the bare name ("help")."""
    (rebound,) = harness.fake.commands["global"]
    titles = {flow.title for flow in harness.engine.flows.values()}
    for option in rebound["options"]:
        key = "command_" + option["name"].replace("-", "_")
        assert option["description"] == harness.engine.messages[key], option["name"]
        assert option["description"] not in titles and option["description"] != option["name"]
        assert 1 <= len(option["description"]) <= 100


def test_pressed_button_is_disabled_and_many_choices_become_a_select(
    person: DiscordDriver,
) -> None:
    person.text("hi")
    first = person.last_sent
    replies = person.press("Yes, that's right")
    (ack,) = callbacks(person.calls, UPDATE_MESSAGE)
    buttons = ack.body["data"]["components"][0]["components"]
    assert all(b["disabled"] for b in buttons)
    assert [b["style"] for b in buttons] == [3, 2]  # the pressed one is marked
    assert "What would you like to do?" in texts(replies)
    assert len(replies[-1].choices) > 5  # more than five: one select menu
    person.last_sent = first
    with pytest.raises(AssertionError, match="disabled"):
        person.press("No, it's another one")


def test_rejection_journey_through_select_modal_and_buttons(person: DiscordDriver) -> None:
    at_menu(person)
    replies = person.press("I got a rejection")
    assert "Which company and role" in texts(replies)
    assert replies[-1].form is not None
    modal = person.open_form()
    assert modal is not None and modal["title"] == "Which interview?"
    assert [label["label"] for label in modal["components"]] == ["Company", "Role"]
    message, _ = person._form_button()
    replies = person.submit_form(modal, message, {"company": "Acme", "role": "Analyst"})
    assert "How far had you got?" in texts(replies)
    replies = person.press("Final round")
    assert "How are you feeling right now?" in texts(replies)
    person.press("Disappointed")
    replies = person.text("3")
    assert "Of course you're disappointed" in texts(replies)
    assert "I'm ready for the practical side" in {c.label for c in replies[-1].choices}


def test_button_pressed_before_a_restart_still_works(
    person: DiscordDriver, harness: DiscordHarness
) -> None:
    person.text("hi")
    harness.restart()
    replies = person.press("Yes, that's right")
    assert "What would you like to do?" in texts(replies)


def test_old_button_after_a_restart_is_refused_clearly(
    person: DiscordDriver, harness: DiscordHarness
) -> None:
    person.text("hi")
    old = person.last_sent
    person.text("yes")  # answered by typing: the buttons stay on the old message
    harness.restart()
    person.last_sent = old
    replies = person.press("No, it's another one")
    assert "belongs to an earlier message" in texts(replies)
    assert "What would you like to do?" in texts(replies)


@pytest.mark.parametrize("custom_id", ["rebound_yes", "rb:c:welcome.zone.2", "rb:s:tok:x", "rb:x"])
def test_a_button_with_an_id_we_do_not_know_is_answered(
    person: DiscordDriver, custom_id: str
) -> None:
    """An old id scheme or a malformed ``rb:`` id matches no template: without an answer
    Discord shows "This interaction failed". It gets the earlier-message reply instead."""
    person.text("hi")
    (_, mid), *_ = person.last_sent[-1:]
    message = copy.deepcopy(person.fake.messages[mid])
    message["components"][0]["components"][0]["custom_id"] = custom_id
    replies = person.interact(
        MESSAGE_COMPONENT, {"custom_id": custom_id, "component_type": 2}, message=message
    )
    assert callbacks(person.calls[:1], UPDATE_MESSAGE)  # acknowledged first
    assert "belongs to an earlier message" in texts(replies)
    assert replies[-1].choices  # and the current question again


def test_a_press_naming_a_component_the_message_lacks_is_answered(person: DiscordDriver) -> None:
    """A well-formed id that is not on the message (forged, or the message was edited since):
    discord.py drops it without a word, so the bot answers it itself."""
    person.text("hi")
    (_, mid), *_ = person.last_sent[-1:]
    token = person.last[-1].token
    data = {"custom_id": f"rb:c:{token}:elsewhere", "component_type": 2}
    replies = person.interact(MESSAGE_COMPONENT, data, message=person.fake.messages[mid])
    assert "belongs to an earlier message" in texts(replies)


def test_a_modal_with_an_id_we_do_not_know_is_answered(person: DiscordDriver) -> None:
    at_menu(person)
    data = {"custom_id": "interview-form", "components": []}
    replies = person.interact(MODAL_SUBMIT, data)
    assert callbacks(person.calls[:1], DEFERRED_UPDATE)
    assert "belongs to an earlier message" in texts(replies)
    assert "What would you like to do?" in texts(replies)


def test_modal_opened_before_a_restart_is_submitted_after_it(
    person: DiscordDriver, harness: DiscordHarness
) -> None:
    at_menu(person)
    person.text("rejected")
    message, _ = person._form_button()
    modal = person.open_form()
    assert modal is not None
    harness.restart()
    replies = person.submit_form(modal, message, {"company": "Acme", "role": "Analyst"})
    assert "How far had you got?" in texts(replies)
    (ack,) = callbacks(person.calls, UPDATE_MESSAGE)  # the "fill in" button is now disabled
    assert ack.body["data"]["components"][0]["components"][0]["disabled"] is True


def test_form_errors_keep_the_step_and_offer_the_form_again(person: DiscordDriver) -> None:
    at_menu(person)
    person.text("log")
    replies = person.form({"company": "Acme", "role": "Analyst", "when": "not a date"})
    assert replies[-1].form is not None and "another look" in texts(replies)
    replies = person.form({"company": "Acme", "role": "Analyst", "when": "2026-11-20 10:00"})
    assert "Which stage" in texts(replies)


def test_after_a_bad_date_the_modal_reopens_with_what_was_typed(person: DiscordDriver) -> None:
    """Discord closes a modal on submit, so a refused answer can only be fixed in a new one:
    it opens with the person's answers, the bad date included, for them to correct."""
    at_menu(person)
    person.text("log")
    person.form({"company": "Acme", "role": "Analyst", "when": "not a date"})
    modal = person.open_form()
    assert modal is not None
    shown = {c["component"]["custom_id"]: c["component"].get("value") for c in modal["components"]}
    assert shown == {"company": "Acme", "role": "Analyst", "when": "not a date"}


def test_a_new_time_zone_re_books_pending_reminders(
    person: DiscordDriver, engine: Engine
) -> None:
    """Through Discord as on the engine: the evening check-in stays at 18:00, in the new zone."""
    from zoneinfo import ZoneInfo

    from bot.storage.models import Reminder

    at_menu(person)  # the configured zone (UTC)
    person.text("log")
    person.form({"company": "Acme", "role": "Analyst", "when": "2026-12-10 10:00"})
    person.press("First round")
    person.form({})
    person.command("settings")
    person.press("My time zone")
    person.text("Asia/Tokyo")
    with engine.db.transaction() as s:
        user = s.scalars(select(User).where(User.external_id == person.user["id"])).one()
        (due,) = s.scalars(select(Reminder.due_at).where(Reminder.user_id == user.id))
    assert due.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M") == "18:00"


def test_slash_command_in_a_server_answers_ephemerally_and_goes_on_in_dms(
    person: DiscordDriver, harness: DiscordHarness, engine: Engine
) -> None:
    at_menu(person)
    replies = person.command("rejected", guild_id=GUILD)
    (defer,) = callbacks(person.calls, DEFERRED_MESSAGE)
    assert defer.body["data"]["flags"] & EPHEMERAL
    assert texts(replies).endswith(engine.messages["moved_to_dm"])
    dm = harness.fake.dm_channels[person.user["id"]]
    posted = [c.path for c in person.calls if c.method == "POST" and "/channels/" in c.path]
    assert posted and set(posted) == {f"/channels/{dm}/messages"}  # nothing in the server
    assert "Which company and role" in texts(replies)


def test_a_first_slash_command_leads_to_its_flow_after_the_welcome(
    person: DiscordDriver, engine: Engine
) -> None:
    """A newcomer's ``/rebound log`` (in a server) gets the welcome in the DM, and once that is
    answered, the log form they asked for: not the menu."""
    replies = person.command("log", guild_id=GUILD)
    assert "I'm Rebound" in texts(replies)
    assert texts(replies).endswith(engine.messages["moved_to_dm"])
    replies = person.press("Yes, that's right")
    assert "Which company, which role" in texts(replies)
    modal = person.open_form()
    assert modal is not None and modal["title"] == "Your interview"


def test_slash_command_in_the_dm_leaves_only_the_conversation(person: DiscordDriver) -> None:
    at_menu(person)
    replies = person.command("help")
    assert "pause" in texts(replies)
    assert any(c.method == "DELETE" and c.path.endswith("/@original") for c in person.calls)


def test_blocked_dms_get_an_ephemeral_hint_and_are_recorded(
    person: DiscordDriver, harness: DiscordHarness, engine: Engine
) -> None:
    at_menu(person)
    harness.fake.blocked.add(person.user["id"])
    replies = person.command("progress", guild_id=GUILD)
    assert [r.text for r in replies] == [engine.messages["dm_blocked"]]
    with engine.db.transaction() as s:
        user = s.scalars(select(User).where(User.external_id == person.user["id"])).one()
        assert user.workspace == render.WORKSPACE and user.undeliverable_at is not None
    harness.fake.blocked.clear()
    replies = person.command("help", guild_id=GUILD)
    assert texts(replies).endswith(engine.messages["moved_to_dm"])
    with engine.db.transaction() as s:
        user = s.scalars(select(User).where(User.external_id == person.user["id"])).one()
        assert user.undeliverable_at is None


def test_a_dm_that_cannot_even_be_opened_is_treated_like_a_refused_send(
    person: DiscordDriver, harness: DiscordHarness, engine: Engine
) -> None:
    """Discord may refuse to open the DM channel itself (403, 50007), not only the message:
    the same ephemeral hint, the failure recorded (reminders stop), never "something went
    wrong"."""
    at_menu(person)
    harness.fake.dm_channels.clear()
    harness.fake.dm_refused.add(person.user["id"])
    harness.restart()  # no DM channel cached: it must be opened, and Discord refuses
    replies = person.command("progress", guild_id=GUILD)
    assert [r.text for r in replies] == [engine.messages["dm_blocked"]]
    (defer,) = callbacks(person.calls, DEFERRED_MESSAGE)
    assert defer.body["data"]["flags"] & EPHEMERAL
    with engine.db.transaction() as s:
        user = s.scalars(select(User).where(User.external_id == person.user["id"])).one()
        assert user.undeliverable_at is not None
    newcomer = DiscordDriver(harness, "Noor")
    harness.fake.dm_refused.add(newcomer.user["id"])
    assert [r.text for r in newcomer.command("log", guild_id=GUILD)] == [
        engine.messages["dm_blocked"]
    ]


def test_server_and_dm_are_one_conversation(person: DiscordDriver) -> None:
    at_menu(person)
    person.command("rejected", guild_id=GUILD)
    replies = person.form({"company": "Acme", "role": "Analyst"})  # in the DM
    assert "How far had you got?" in texts(replies)
    assert "How are you feeling right now?" in texts(person.press("First round"))


def test_progress_chart_is_an_attachment(person: DiscordDriver) -> None:
    at_menu(person)
    person.text("rejected")
    person.form({"company": "Acme", "role": "Analyst"})
    person.press("First round")
    replies = person.text("progress")
    (upload,) = [c for c in person.calls if c.files]
    assert upload.files[0][1].startswith(b"\x89PNG")
    assert any(r.image is not None for r in replies)


def test_people_are_kept_apart(harness: DiscordHarness, clock: Clock) -> None:
    alice, bob = DiscordDriver(harness, "Alice", clock), DiscordDriver(harness, "Bob", clock)
    alice.text("hi")
    bob.text("hi")
    assert alice.last[-1].token == bob.last[-1].token  # same step token, different people
    assert "Which time zone" in texts(bob.press("No, it's another one"))
    assert "What would you like to do?" in texts(alice.press("Yes, that's right"))
    dms = harness.fake.dm_channels
    assert dms[alice.user["id"]] != dms[bob.user["id"]]
    assert {c.path for c in alice.calls if c.result} == {
        f"/channels/{dms[alice.user['id']]}/messages"
    }


def test_every_interaction_is_acknowledged_before_anything_else(person: DiscordDriver) -> None:
    person.text("hi")
    person.press("Yes, that's right")
    assert callbacks(person.calls[:1], UPDATE_MESSAGE)  # the ack comes before any message
    person.press("I got a rejection")
    assert callbacks(person.calls[:1], UPDATE_MESSAGE)
    modal = person.open_form()
    assert modal is not None and callbacks(person.calls[:1], MODAL)
    message, _ = person._form_button()
    person.submit_form(modal, message, {"company": "Acme", "role": "Analyst"})
    assert callbacks(person.calls[:1], UPDATE_MESSAGE)
    person.command("help", guild_id=GUILD)
    assert callbacks(person.calls[:1], DEFERRED_MESSAGE)


def test_a_429_without_via_is_waited_out_not_dropped(
    person: DiscordDriver, harness: DiscordHarness
) -> None:
    """discord.py reads a 429 without ``Via`` as a Cloudflare ban and raises at once; the reply
    used to be lost. It is sent again once the short ``Retry-After`` has passed, once."""
    harness.fake.bare_429_next = 1
    replies = person.text("hi")
    assert "I'm Rebound" in texts(replies)
    posts = [c for c in person.calls if c.method == "POST" and c.path.endswith("/messages")]
    assert posts[0].result is None and posts[1].result is not None
    sent = [c.result["content"] for c in posts if c.result]
    assert len(sent) == len(set(sent))  # nothing sent twice


def test_a_429_that_persists_is_reported_and_the_command_answered(
    person: DiscordDriver, harness: DiscordHarness, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    at_menu(person)
    harness.fake.bare_429_next = 100
    with caplog.at_level("WARNING", logger="bot.platforms.discord"):
        assert person.text("help") == []
        assert "not delivered: HTTP 429" in caplog.text
        replies = person.command("help", guild_id=GUILD)
    assert [r.text for r in replies] == [engine.messages["error"]]


def test_a_failed_command_is_answered_not_left_thinking(
    person: DiscordDriver, harness: DiscordHarness, engine: Engine
) -> None:
    at_menu(person)
    harness.fake.dm_channels.clear()  # the DM channel must be opened again ...
    harness.fake.missing.add(person.user["id"])  # ... and Discord refuses
    harness.restart()  # no cached DM channel in the new process
    replies = person.command("plan", guild_id=GUILD)
    assert [r.text for r in replies] == [engine.messages["error"]]


@pytest.mark.parametrize(
    "data",
    [
        {"name": "rebound-old", "type": 1, "options": []},  # a command we no longer register
        {"name": "rebound", "type": 1, "options": [{"name": "gone", "type": 1, "options": []}]},
    ],
    ids=["old-command", "old-subcommand"],
)
def test_a_slash_command_we_no_longer_have_is_answered(
    person: DiscordDriver, data: dict  # type: ignore[type-arg]
) -> None:
    """Old names linger in members' pickers; an unanswered one shows "did not respond"."""
    at_menu(person)
    person.interact(APPLICATION_COMMAND, {"id": person.fake.snowflake(), **data})
    (answer,) = callbacks(person.calls, MESSAGE)
    assert answer.body["data"]["flags"] & EPHEMERAL
    assert "/rebound help" in answer.body["data"]["content"]


def test_interactions_are_answered_while_the_engine_is_busy_with_others(
    person: DiscordDriver, harness: DiscordHarness, engine: Engine
) -> None:
    """Ten other people's turns stuck in the engine (more than it runs at once): this person's
    button press is still acknowledged, and their "fill in" button still opens its modal, which
    must be the interaction's first response within Discord's 3 s."""
    import threading

    at_menu(person)
    person.press("I got a rejection")
    stuck, real = threading.Event(), engine.handle
    alice = render.user_key(person.user["id"])

    def handle(inbound):  # type: ignore[no-untyped-def]
        if inbound.user != alice:
            stuck.wait(30)
        return real(inbound)

    engine.handle = handle  # type: ignore[method-assign]
    try:
        others = [harness.fake.user(harness.fake.snowflake(), f"P{n}") for n in range(10)]
        for other in others:
            hello = harness.fake.message_create(other, "hi")
            harness.run(harness.fake.dispatch("MESSAGE_CREATE", hello))
        modal = person.open_form()
        assert modal is not None and callbacks(person.calls[:1], MODAL)
        assert not stuck.is_set()  # the others are still waiting: nothing came out of order
    finally:
        stuck.set()
        engine.handle = real  # type: ignore[method-assign]
