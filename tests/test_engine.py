"""The engine on a demo flow that uses every feature of the flow format."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import Settings, load_settings
from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey
from bot.storage.db import Database
from bot.storage.models import Conversation, User
from tests.behaviour import demo as demo_registry

from .conftest import Clock, EngineDriver, copy_system_files
from .fixtures import demo_behaviour

FIXTURE_FLOWS = Path(__file__).resolve().parent / "fixtures" / "flows"


@pytest.fixture
def demo_settings(tmp_path: Path) -> Settings:
    folder = tmp_path / "flows"
    shutil.copytree(FIXTURE_FLOWS, folder)
    copy_system_files(folder)
    return load_settings(None, flows_dir=str(folder), data_dir=str(tmp_path / "out"))


@pytest.fixture
def demo(db: Database, demo_settings: Settings, clock: Clock, alice: UserKey) -> EngineDriver:
    driver = EngineDriver(Engine(db, demo_settings, demo_registry(), clock=clock), alice, clock)
    driver.text("hello")
    return driver


def stored(db: Database, user: str = "alice") -> Conversation:
    with db.transaction() as s:
        return s.scalars(
            select(Conversation)
            .join(User)
            .where(User.external_id == user, User.platform == "terminal")
        ).one()


def test_first_message_gets_welcome_then_menu(demo: EngineDriver) -> None:
    assert "Welcome, there." in demo.texts()
    assert [c.label for c in demo.last[-1].choices] == ["Demo"]


def test_whole_demo_flow(demo: EngineDriver, db: Database) -> None:
    demo.text("1")  # Demo, by number
    assert "Pick a colour." in demo.texts()
    demo.press("Red")
    assert "Red is bold." in demo.texts() and "How big" in demo.texts()
    demo.text("4")
    assert "Big one! Counted 1 so far." in demo.texts()
    replies = demo.form({"title": "Launch", "when": "2026-12-03", "note": ""})
    assert "Which thing, Launch?" in replies[-1].text
    assert [c.label for c in replies[-1].choices] == ["Thing seven", "Thing nine", "None of these"]
    demo.text("thing nine")
    assert "Done: red, 4, Launch on 2026-12-03, thing 9." in demo.texts()
    assert demo.last[-1].text == "Menu."
    conv = stored(db)
    assert (conv.flow, conv.state, conv.slots) == ("home", "menu", {})


def test_variant_default_and_condition_false(demo: EngineDriver) -> None:
    demo.text("demo")
    demo.text("blue")
    assert "A calm choice." in demo.texts()
    demo.text("2")
    assert "Big one" not in demo.texts() and "Tell me about it." in demo.texts()


@pytest.mark.parametrize(
    "garbage",
    ["", "   ", "\x00\x07\x1b[31m", "🙂🙃" * 50, "99", "0", "-1", "purple", "x" * 100_000],
)
def test_garbage_gets_a_clear_reply_and_state_stays_valid(
    demo: EngineDriver, db: Database, garbage: str
) -> None:
    demo.text("demo")
    before = stored(db)
    replies = demo.text(garbage)
    assert replies, "never silence"
    assert replies[-1].text == "Pick a colour."
    assert replies[0].text != "Pick a colour."  # an explanation comes first
    after = stored(db)
    assert (after.flow, after.state) == (before.flow, before.state) == ("demo", "pick")


def test_too_long_line_names_the_limit(demo: EngineDriver) -> None:
    demo.text("demo")
    replies = demo.text("x" * 100_000)
    assert "4000 characters" in replies[0].text


def test_number_input_out_of_range(demo: EngineDriver) -> None:
    demo.text("demo")
    demo.text("red")
    replies = demo.text("9")
    assert "from 1 to 5" in replies[0].text and "How big" in replies[-1].text


def test_form_errors_are_per_field_and_nothing_moves(demo: EngineDriver, db: Database) -> None:
    for line in ("demo", "red", "2"):
        demo.text(line)
    replies = demo.form({"title": "", "when": "not a date at all"})
    assert set(replies[-1].errors) == {"title", "when"}
    assert stored(db).state == "details"
    replies = demo.form({"title": "t" * 41, "when": "tomorrow"})
    assert "title" in replies[-1].errors
    replies = demo.form({"title": "Ok", "when": "tomorrow", "evil": "x" * 10})
    assert "Which thing, Ok?" in replies[-1].text
    assert "evil" not in stored(db).slots


def test_typed_text_on_form_step_explains(demo: EngineDriver) -> None:
    for line in ("demo", "red", "2"):
        demo.text(line)
    replies = demo.text("hello there")
    assert "short form" in replies[0].text and replies[-1].form is not None


def test_global_words(demo: EngineDriver, db: Database) -> None:
    demo.text("demo")
    demo.text("red")
    assert "How big" in demo.text("help")[-1].text
    assert "pause" in demo.text("help")[0].text
    demo.text("back")
    assert stored(db).state == "pick"
    assert "Pick a colour." in demo.texts()
    assert "isn't an earlier step" in demo.text("back")[0].text
    demo.text("blue")
    demo.text("start over")
    assert stored(db).state == "pick"
    demo.text("blue")
    assert "set that aside" in demo.text("stop")[0].text
    assert stored(db).flow == "home"
    demo.text("demo")
    demo.text("menu")
    assert stored(db).flow == "home"


def test_pause_then_any_message_resumes_at_same_step(demo: EngineDriver, db: Database) -> None:
    demo.text("demo")
    demo.text("red")
    assert "Your answers are saved" in demo.text("pause")[0].text
    assert stored(db).paused_at is not None
    replies = demo.text("hi again")
    assert "Welcome back" in replies[0].text and "How big" in replies[-1].text
    assert stored(db).paused_at is None


def test_stale_button_is_refused(demo: EngineDriver, db: Database) -> None:
    demo.text("demo")
    old = demo.last[-1]
    demo.press("Red")
    replies = demo.engine.handle(
        Inbound(user=demo.user, choice="blue", token=old.token, event_id="late")
    )
    assert "earlier message" in replies[0].text
    assert stored(db).slots["colour"] == "red"


def test_forged_choice_id_is_refused(demo: EngineDriver, db: Database) -> None:
    demo.text("demo")
    token = demo.last[-1].token
    replies = demo.engine.handle(Inbound(user=demo.user, choice="green", token=token))
    assert "isn't available" in replies[0].text
    assert stored(db).state == "pick"


def test_retried_event_is_processed_once(demo: EngineDriver, db: Database) -> None:
    demo.text("demo")
    first = demo.engine.handle(Inbound(user=demo.user, text="red", event_id="E1"))
    again = demo.engine.handle(Inbound(user=demo.user, text="red", event_id="E1"))
    assert first and again == []
    assert stored(db).step == 3 + 1  # welcome, menu, pick, size


def test_state_survives_a_new_engine(
    demo: EngineDriver, db: Database, demo_settings: Settings, clock: Clock
) -> None:
    demo.text("demo")
    demo.text("red")
    fresh = Engine(db, demo_settings, demo_registry(), clock=clock)
    replies = fresh.resume(demo.user)
    assert replies[-1].text == "How big, from 1 to 5?"
    assert "Big one" in fresh.handle(Inbound(user=demo.user, text="5"))[0].text


def test_renamed_state_maps_and_unknown_state_falls_back(demo: EngineDriver, db: Database) -> None:
    demo.text("demo")
    with db.transaction() as s:
        s.execute(Conversation.__table__.update().values(state="old_pick"))
    assert demo.text("red")[-1].text == "How big, from 1 to 5?"
    with db.transaction() as s:
        s.execute(Conversation.__table__.update().values(state="vanished"))
    replies = demo.text("anything")
    assert "updated" in replies[0].text
    assert stored(db).state in ("pick", "size")
    with db.transaction() as s:
        s.execute(Conversation.__table__.update().values(flow="gone_flow", state="x"))
    replies = demo.text("hello")
    assert "updated" in replies[0].text and stored(db).flow == "home"


def test_people_are_kept_apart(demo: EngineDriver, db: Database) -> None:
    demo.text("demo")
    demo.text("red")
    bob = EngineDriver(demo.engine, UserKey("terminal", "local", "bob"))
    bob.text("hello")
    bob.text("demo")
    # The same user id in another workspace is another person.
    other = EngineDriver(demo.engine, UserKey("slack", "T2", "alice"))
    other.text("hello")
    assert stored(db, "alice").slots == {"colour": "red"}
    assert stored(db, "bob").state == "pick"


def test_failing_action_rolls_back_and_apologises(demo: EngineDriver, db: Database) -> None:
    demo.text("demo")
    demo.engine.flows["demo"].states["size"].do  # noqa: B018  (exists)
    demo.engine.registry.actions["demo_count"], original = (
        demo_behaviour.demo_explode,
        demo.engine.registry.actions["demo_count"],
    )
    try:
        demo.text("red")
        replies = demo.text("3")
    finally:
        demo.engine.registry.actions["demo_count"] = original
    assert "went wrong on my side" in replies[0].text
    assert stored(db).state == "size"  # the failed turn left nothing behind


def test_crisis_interrupts_any_step_and_return_is_gentle(demo: EngineDriver, db: Database) -> None:
    demo.text("demo")
    demo.text("red")
    replies = demo.text("honestly I want to die")
    assert "988" in replies[0].text and len(replies) == 1 and not replies[0].choices
    with db.transaction() as s:
        assert s.scalars(select(User).where(User.external_id == "alice")).one().crisis_at
    replies = demo.text("ok")
    assert "glad you wrote" in replies[0].text and "How big" in replies[-1].text
    with db.transaction() as s:
        assert s.scalars(select(User).where(User.external_id == "alice")).one().crisis_at is None


def test_concurrent_turns_for_one_person_do_not_lose_updates(
    db: Database, demo_settings: Settings, clock: Clock
) -> None:
    """SQLite: BEGIN IMMEDIATE makes the second writer wait; every turn counts exactly once."""
    engine = Engine(db, demo_settings, demo_registry(), clock=clock)
    user = UserKey("terminal", "local", "carol")
    engine.handle(Inbound(user=user, text="hello"))
    start_step = stored(db, "carol").step
    errors: list[Exception] = []

    def worker(n: int) -> None:
        for i in range(10):
            try:
                engine.handle(Inbound(user=user, text="demo", event_id=f"w{n}-{i}"))
            except Exception as exc:  # pragma: no cover - the assertion below reports it
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    conv = stored(db, "carol")
    assert conv.step == start_step + 40  # each "demo" enters one state: none lost
    assert conv.version == 1 + 40  # created once, then 40 serialised updates
