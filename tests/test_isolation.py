"""One person can never act on another's reminders, and ``forget me`` takes every reminder of
that person (and nothing of anyone else's) out of the scheduler's reach for good.

The forgeries are what a crafted Slack or Discord payload can carry: a choice id (``opt:<id>``
naming someone else's reminder or plan action, or a plain snooze/skip/done), or form values,
sent with the forger's own current token so the stale-button check does not stop them first.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings, load_settings
from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, Reply, UserKey
from bot.reminders import delivery
from bot.reminders.scheduler import ReminderScheduler
from bot.storage.db import Database
from bot.storage.models import PERSONAL_TABLES, Conversation, PlanAction, Reminder, User
from tests.behaviour import production

from .conftest import FLOWS, Clock, EngineDriver
from .reminders_helpers import Inbox, find, interview, meet, remind
from .test_reminders_delivery import due_for_all

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
UNAVAILABLE = "isn't available"


@pytest.fixture
def pair(engine: Engine, clock: Clock) -> Iterator[tuple[EngineDriver, EngineDriver]]:
    """Alice and Bob, each with a plan action whose reminder is due now."""
    clock.now = NOW - timedelta(days=1)
    drivers = []
    for name in ("alice", "bob"):
        key = meet(engine, name, None, quiet="00:00-00:00")
        due_for_all(engine, [name], at=NOW)
        drivers.append(EngineDriver(engine, key, clock))
    clock.now = NOW
    yield drivers[0], drivers[1]


def snapshot(db: Database, name: str) -> dict[str, Any]:
    """Everything about a person's reminders and plan actions that a forgery could change."""
    with db.transaction() as s:
        uid = s.scalars(select(User.id).where(User.external_id == name)).one()
        reminders = s.scalars(select(Reminder).where(Reminder.user_id == uid).order_by(Reminder.id))
        actions = s.scalars(select(PlanAction).where(PlanAction.user_id == uid))
        return {
            "reminders": [(r.id, r.kind, r.status, r.due_at, r.attempts) for r in reminders],
            "actions": [(a.id, a.status, a.done_at) for a in actions],
        }


def ids_of(db: Database, name: str) -> tuple[int, int]:
    """(reminder id, plan action id) of a person's plan-action reminder."""
    with db.transaction() as s:
        uid = s.scalars(select(User.id).where(User.external_id == name)).one()
        rem = s.scalars(select(Reminder).where(Reminder.user_id == uid)).one()
        assert rem.ref_id is not None
        return rem.id, rem.ref_id


def forge(engine: Engine, driver: EngineDriver, **payload: Any) -> list[Reply]:
    """Send a crafted payload carrying the forger's own, current token."""
    token = driver.last[-1].token
    assert token, "the forger's last message has no token"
    return engine.handle(Inbound(user=driver.user, token=token, **payload))


def deliver_all(engine: Engine, clock: Clock) -> Inbox:
    inbox = Inbox(clock)
    ReminderScheduler(engine, {"terminal": inbox}).run_pending()
    return inbox


def test_forged_buttons_on_a_nudge_cannot_touch_someone_elses_reminder(
    engine: Engine, db: Database, clock: Clock, pair: tuple[EngineDriver, EngineDriver]
) -> None:
    _, bob = pair
    inbox = deliver_all(engine, clock)
    assert sorted(d.user for d in inbox.sent) == ["alice", "bob"]
    bob.last = inbox.to("bob")[-1].replies  # Bob is on his own nudge, with its buttons
    alice_rid, alice_action = ids_of(db, "alice")
    before = snapshot(db, "alice")
    forgeries: list[dict[str, Any]] = [
        {"choice": f"opt:{alice_rid}"},
        {"choice": f"opt:{alice_action}"},
        {"choice": str(alice_rid)},
        {"form": {"reminder_id": str(alice_rid), "action_id": str(alice_action)}},
    ]
    for payload in forgeries:
        replies = forge(engine, bob, **payload)
        assert UNAVAILABLE in replies[0].text, payload
        assert snapshot(db, "alice") == before, payload
    # Bob's own button acts on his plan action only, whatever the forgeries tried before.
    assert "ticked off" in " ".join(r.text for r in bob.press("Done it"))
    assert snapshot(db, "alice") == before
    assert [a[1] for a in snapshot(db, "bob")["actions"]] == ["done"]


def test_a_forged_pick_in_the_reminders_list_or_the_plan_is_refused(
    engine: Engine, db: Database, clock: Clock, pair: tuple[EngineDriver, EngineDriver]
) -> None:
    _, bob = pair
    clock.now = NOW - timedelta(hours=1)  # both reminders still pending, so listed
    alice_rid, alice_action = ids_of(db, "alice")
    bob_rid, bob_action = ids_of(db, "bob")
    before = snapshot(db, "alice")

    bob.text("reminders")
    assert bob.last[-1].choices[0].id == f"opt:{bob_rid}"
    assert UNAVAILABLE in forge(engine, bob, choice=f"opt:{alice_rid}")[0].text
    bob.press(f"opt:{bob_rid}")
    bob.press("Skip")  # Bob's own pick still works

    bob.text("plan")
    bob.press("Mark something done")
    assert [c.id for c in bob.last[-1].choices] == [f"opt:{bob_action}"]
    assert UNAVAILABLE in forge(engine, bob, choice=f"opt:{alice_action}")[0].text
    assert snapshot(db, "alice") == before
    with db.transaction() as s:
        assert s.get(Reminder, bob_rid).status == "skipped"  # type: ignore[union-attr]


def test_even_a_slot_naming_someone_elses_reminder_acts_on_nothing(
    engine: Engine, db: Database, clock: Clock, pair: tuple[EngineDriver, EngineDriver]
) -> None:
    """Defence in depth: the actions themselves only ever load the person's own rows."""
    _, bob = pair
    inbox = deliver_all(engine, clock)
    bob.last = inbox.to("bob")[-1].replies
    alice_rid, alice_action = ids_of(db, "alice")
    with db.transaction() as s:  # as if a payload had smuggled the ids into Bob's slots
        conv = s.scalars(
            select(Conversation).where(Conversation.user_id == find(s, bob.user).id)
        ).one()
        conv.slots = {**conv.slots, "reminder_id": alice_rid, "action_id": alice_action}
    before = snapshot(db, "alice")
    for label in ("Snooze 1 hour", "Skip", "Done it"):
        bob.last = inbox.to("bob")[-1].replies
        bob.press(label)
        assert snapshot(db, "alice") == before, label


def _forget(driver: EngineDriver) -> None:
    assert "can't be undone" in driver.text("forget me")[-1].text
    assert "Everything is deleted" in driver.press("Yes, delete everything")[-1].text


def _reminders_by_person(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.transaction() as s:
        rows = s.execute(
            select(User.external_id, Reminder.id, Reminder.kind, Reminder.status, Reminder.due_at)
            .join(Reminder, Reminder.user_id == User.id)
            .order_by(Reminder.id)
        ).all()
        orphans = s.scalars(
            select(Reminder.id).where(Reminder.user_id.not_in(select(User.id)))
        ).all()
    assert orphans == [], "reminder rows outlived their person"
    out: dict[str, list[tuple[Any, ...]]] = {}
    for name, *rest in rows:
        out.setdefault(name, []).append(tuple(rest))
    return out


@pytest.fixture
def fast_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Settings:
    monkeypatch.setenv("REBOUND_REMINDERS__POLL_SECONDS", "0.05")
    return load_settings(None, data_dir=str(tmp_path / "out"), flows_dir=str(FLOWS))


def test_forget_me_takes_every_reminder_of_that_person_from_a_running_scheduler(
    db: Database, fast_settings: Settings, clock: Clock
) -> None:
    engine = Engine(db, fast_settings, production(), clock=clock)
    clock.now = NOW - timedelta(days=2)
    names = ["alice", "bob", "cara"]
    for name in names:
        key = meet(engine, name, None, quiet="00:00-00:00")
        due_for_all(engine, [name], at=NOW)
        due_for_all(engine, [name], at=NOW + timedelta(days=1))
        remind(db, key, "debrief", NOW + timedelta(days=2), ref_id=interview(db, key))
    alice = EngineDriver(engine, UserKey("terminal", "local", "alice"), clock)
    before = _reminders_by_person(db)
    assert all(len(before[n]) == 3 for n in names)

    inbox = Inbox(clock)
    scheduler = ReminderScheduler(engine, {"terminal": inbox})
    scheduler.start()  # running: polls every 0.05 s on the test clock
    try:
        _forget(alice)
        after = _reminders_by_person(db)
        assert "alice" not in after, "a reminder of the forgotten person is left"
        assert after == {n: before[n] for n in ("bob", "cara")}, "someone else's row changed"
        # Let every reminder fall due, a step at a time, until the others have all been sent.
        deadline = time.monotonic() + 30
        while len(inbox.sent) < 6:
            assert time.monotonic() < deadline, f"only {len(inbox.sent)} of 6 were sent"
            clock.now += timedelta(hours=6)
            time.sleep(0.1)
    finally:
        scheduler.stop()
    assert sorted(d.user for d in inbox.sent) == ["bob"] * 3 + ["cara"] * 3
    with db.transaction() as s:
        assert s.scalars(select(User).where(User.external_id == "alice")).first() is None


def test_forget_me_between_the_claim_and_the_send_sends_nothing_and_leaves_no_trace(
    engine: Engine, db: Database, clock: Clock, pair: tuple[EngineDriver, EngineDriver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The person forgets themselves just after the scheduler claimed their reminder."""
    alice, bob = pair
    real_render = delivery.render

    def render_after_forget(engine_: Engine, user: Any, reminder_id: int) -> list[Reply]:
        if user == alice.user:
            _forget(alice)
        return real_render(engine_, user, reminder_id)

    monkeypatch.setattr(delivery, "render", render_after_forget)
    inbox = deliver_all(engine, clock)
    assert [d.user for d in inbox.sent] == ["bob"]
    with db.transaction() as s:
        # The render must not bring the person back: no user row, nothing personal at all.
        assert s.scalars(select(User).where(User.external_id == "alice")).first() is None
        for table in PERSONAL_TABLES:
            ids = s.scalars(select(table.user_id)).all()  # type: ignore[attr-defined]
            bob_id = find(s, bob.user).id
            assert set(ids) <= {bob_id}, table.__tablename__
        assert s.scalars(select(Reminder.status)).all() == ["sent"]  # Bob's


def test_owned_refuses_foreign_malformed_and_out_of_range_ids(engine: Engine, clock: Clock) -> None:
    from bot.storage.models import Interview, owned

    for name in ("ana", "ben"):
        driver = EngineDriver(engine, UserKey("terminal", "local", name), clock)
        driver.text("hi")
        driver.press("Yes, that's right")
        driver.text("rejected")
        driver.form({"company": f"{name} Ltd", "role": "Analyst"})
        driver.press("First round")
    with engine.db.transaction() as s:
        ana = s.scalars(select(User).where(User.external_id == "ana")).one()
        ben = s.scalars(select(User).where(User.external_id == "ben")).one()
        ana_iv = s.scalars(select(Interview).where(Interview.user_id == ana.id)).one()
        assert owned(s, Interview, ana_iv.id, ana.id) is ana_iv
        assert owned(s, Interview, str(ana_iv.id), ana.id) is ana_iv
        for raw in (ana_iv.id, None, "", "x", "9" * 40, -1, 0, 2**31, 1.5):
            assert owned(s, Interview, raw, ben.id) is None
