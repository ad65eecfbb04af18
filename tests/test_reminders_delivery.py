"""Delivery: failures, retries, races between schedulers, the lease, and APScheduler's timing."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select, update

from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey
from bot.conversation.sender import DeliveryFailed, Recipient
from bot.reminders import delivery
from bot.reminders.lease import Lease, LeaseHeld, Renewal
from bot.reminders.scheduler import MAX_ATTEMPTS, ReminderScheduler
from bot.storage.db import Database
from bot.storage.models import Conversation, PlanAction, Reminder, SchedulerLease, User
from tests.behaviour import production

from .conftest import Clock
from .reminders_helpers import Inbox, find, meet, remind, row, status

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def people(engine: Engine, clock: Clock) -> list[str]:
    clock.now = NOW
    return [meet(engine, f"u{i}", None, quiet="00:00-00:00").user_id for i in range(3)]


def due_for_all(engine: Engine, names: list[str], at: datetime = NOW) -> list[int]:
    ids = []
    for name in names:
        key = meet_key(name)
        with engine.db.transaction() as s:
            item = PlanAction(user_id=find(s, key).id, kind="practice", title=f"Task of {name}")
            s.add(item)
            s.flush()
            ref = item.id
        ids.append(remind(engine.db, key, "plan_action", at, ref_id=ref))
    return ids


def meet_key(name: str) -> UserKey:
    return UserKey("terminal", "local", name)


def test_a_permanent_failure_is_recorded_and_stops_that_person_only(
    engine: Engine, clock: Clock, people: list[str]
) -> None:
    def fail(to: Recipient) -> None:
        if to.user.user_id == "u0":
            raise DeliveryFailed("the person blocked the bot", permanent=True)

    inbox = Inbox(clock, fail=fail)
    ids = due_for_all(engine, people)
    later = remind(engine.db, meet_key("u0"), "weekly_summary", NOW + timedelta(hours=1))
    assert ReminderScheduler(engine, {"terminal": inbox}).run_pending() == 2
    failed = row(engine.db, ids[0])
    assert (failed.status, failed.last_error) == ("failed", "the person blocked the bot")
    with engine.db.transaction() as s:
        assert find(s, meet_key("u0")).undeliverable_at == NOW
    assert [status(engine.db, i) for i in ids[1:]] == ["sent", "sent"]
    clock.advance(hours=2)
    assert ReminderScheduler(engine, {"terminal": inbox}).run_pending() == 0
    assert status(engine.db, later) == "pending"  # kept, but not attempted


def test_temporary_failures_back_off_then_give_up(
    engine: Engine, clock: Clock, people: list[str]
) -> None:
    attempts: list[datetime] = []

    def flaky(_to: Recipient) -> None:
        attempts.append(clock.now)
        raise DeliveryFailed("HTTP 503")

    scheduler = ReminderScheduler(engine, {"terminal": Inbox(clock, fail=flaky)})
    (rid,) = due_for_all(engine, people[:1])
    for _ in range(24 * 60):
        scheduler.run_pending()
        clock.advance(minutes=1)
    gaps = [int((b - a).total_seconds() // 60) for a, b in pairwise(attempts)]
    assert len(attempts) == MAX_ATTEMPTS
    assert gaps == [5, 5, 9, 27]  # 1 and 3 minutes, stretched by the 5-minute "active" rule
    final = row(engine.db, rid)
    assert (final.status, final.attempts, final.last_error) == ("failed", MAX_ATTEMPTS, "HTTP 503")


def test_a_sender_bug_does_not_stop_anyone_elses_reminders(
    engine: Engine, clock: Clock, people: list[str]
) -> None:
    def buggy(to: Recipient) -> None:
        if to.user.user_id == "u1":
            raise KeyError("oops")

    inbox = Inbox(clock, fail=buggy)
    ids = due_for_all(engine, people)
    assert ReminderScheduler(engine, {"terminal": inbox}).run_pending() == 2
    assert [status(engine.db, i) for i in ids] == ["sent", "pending", "sent"]
    assert "KeyError" in (row(engine.db, ids[1]).last_error or "")


def test_a_nudge_that_cannot_be_rendered_is_not_sent(
    engine: Engine, clock: Clock, people: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_ctx: object) -> None:
        raise RuntimeError("bad data")

    monkeypatch.setitem(engine.registry.actions, "load_reminder", broken)
    inbox = Inbox(clock)
    (rid,) = due_for_all(engine, people[:1])
    assert ReminderScheduler(engine, {"terminal": inbox}).run_pending() == 0
    assert inbox.sent == []  # never "Sorry, something went wrong" out of the blue
    assert (status(engine.db, rid), row(engine.db, rid).attempts) == ("pending", 1)


def test_crisis_between_claim_and_send_stops_the_nudge_and_keeps_them_paused(
    engine: Engine, clock: Clock, people: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = delivery.render

    def render_then_crisis(eng: Engine, user, reminder_id):  # type: ignore[no-untyped-def]
        replies = real(eng, user, reminder_id)
        eng.handle(Inbound(user=user, text="I can't go on, I want to die"))
        return replies

    monkeypatch.setattr(delivery, "render", render_then_crisis)
    inbox = Inbox(clock)
    (rid,) = due_for_all(engine, people[:1])
    assert ReminderScheduler(engine, {"terminal": inbox}).run_pending() == 0
    assert inbox.sent == [] and status(engine.db, rid) == "pending"
    with engine.db.transaction() as s:
        user = find(s, meet_key("u0"))
        conv = s.scalars(select(Conversation).where(Conversation.user_id == user.id)).one()
        assert user.crisis_at is not None and conv.paused_at is not None


def test_forget_me_between_claim_and_send_sends_nothing(
    engine: Engine, clock: Clock, people: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = delivery.render

    def render_then_forget(eng: Engine, user, reminder_id):  # type: ignore[no-untyped-def]
        replies = real(eng, user, reminder_id)
        with eng.db.transaction() as s:
            s.delete(find(s, user))
        return replies

    monkeypatch.setattr(delivery, "render", render_then_forget)
    inbox = Inbox(clock)
    (rid,) = due_for_all(engine, people[:1])
    assert ReminderScheduler(engine, {"terminal": inbox}).run_pending() == 0
    assert inbox.sent == [] and status(engine.db, rid) == "deleted"


def test_a_snooze_pressed_before_the_send_is_recorded_wins(
    engine: Engine, clock: Clock, people: list[str]
) -> None:
    def press_snooze(to: Recipient) -> None:  # the person answers faster than we mark it sent
        with engine.db.transaction() as s:
            token = s.scalars(select(Conversation).where(Conversation.flow == "reminders")).one()
            token_text = f"{token.flow}.{token.state}.{token.step}"
        engine.handle(Inbound(user=to.user, choice="tomorrow", token=token_text))

    (rid,) = due_for_all(engine, people[:1])
    assert ReminderScheduler(engine, {"terminal": Inbox(clock, fail=press_snooze)}).run_pending()
    snoozed = row(engine.db, rid)
    assert (snoozed.status, snoozed.due_at) == ("pending", NOW + timedelta(days=1))


def test_recover_takes_back_claims_and_never_resends_an_interrupted_send(
    engine: Engine, clock: Clock, people: list[str]
) -> None:
    claimed, sending, sent = due_for_all(engine, people)
    with engine.db.transaction() as s:
        for rid, state in ((claimed, "claimed"), (sending, "sending"), (sent, "sent")):
            s.get(Reminder, rid).status = state  # type: ignore[union-attr]
            s.get(Reminder, rid).claimed_by = "dead:1:x"  # type: ignore[union-attr]
    scheduler = ReminderScheduler(engine, {"terminal": Inbox(clock)})
    assert scheduler.recover() == (1, 1)
    assert [status(engine.db, r) for r in (claimed, sending, sent)] == [
        "pending", "interrupted", "sent",
    ]  # fmt: skip
    assert scheduler.run_pending() == 1  # only the one that never reached a sender


def race(schedulers: list[ReminderScheduler]) -> None:
    go = threading.Barrier(len(schedulers))

    def work(s: ReminderScheduler) -> None:
        go.wait()
        s.run_pending()

    threads = [threading.Thread(target=work, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


def test_two_schedulers_racing_on_one_database_send_each_reminder_once(
    db: Database,
    engine: Engine,
    settings,
    clock: Clock,  # type: ignore[no-untyped-def]
) -> None:
    """The lease normally forbids this; the claim alone must still hold if it ever happens."""
    clock.now = NOW
    names = [meet(engine, f"r{i}", None, quiet="00:00-00:00").user_id for i in range(12)]
    ids = due_for_all(engine, names)
    inbox = Inbox(clock)
    other = Engine(Database(str(db.url)), settings, production(), clock=clock)
    race([ReminderScheduler(e, {"terminal": inbox}) for e in (engine, other, engine)])
    assert sorted(d.user for d in inbox.sent) == sorted(names)
    assert {status(engine.db, i) for i in ids} == {"sent"}


# ------------------------------------------------------------------ the lease


def test_a_second_scheduler_refuses_to_start_with_a_clear_message(db: Database) -> None:
    first, second = Lease(db), Lease(db)
    first.acquire()
    with pytest.raises(LeaseHeld, match="another Rebound scheduler is already running"):
        second.acquire()
    first.release()
    second.acquire()
    assert first.renew() is Renewal.TAKEN and second.renew() is Renewal.RENEWED


def test_an_expired_lease_is_taken_over_and_a_valid_one_is_not(db: Database) -> None:
    old = Lease(db)
    old.acquire()
    with db.transaction() as s:
        s.execute(update(SchedulerLease).values(expires_at=datetime.now(UTC) - timedelta(1)))
    Lease(db).acquire()
    with db.transaction() as s:  # alive (this very process), on another machine: refused
        s.execute(update(SchedulerLease).values(holder=f"elsewhere:{os.getpid()}:x"))
    with pytest.raises(LeaseHeld):
        Lease(db).acquire()


# ------------------------------------------------------------------ APScheduler wiring


def test_apscheduler_times_it_and_notices_rows_other_processes_add(
    db: Database,
    settings,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    settings.reminders.poll_seconds = 0.1
    real = Engine(db, settings, production())  # the real clock: APScheduler does the waiting here
    meet(real, "ada", None, quiet="00:00-00:00")
    arrived = threading.Event()
    inbox = Inbox(real.clock, fail=None)
    inbox.deliver = _signal(inbox.deliver, arrived)  # type: ignore[method-assign]
    scheduler = ReminderScheduler(real, {"terminal": inbox})
    scheduler.start()
    try:
        aps = scheduler._aps
        assert aps is not None and str(aps.timezone) == "UTC"
        assert {j.id: j.misfire_grace_time for j in aps.get_jobs()}["poll"] is None
        # "another process" adds a row
        elsewhere = Engine(Database(str(db.url)), settings, production())
        remind(elsewhere.db, meet_key("ada"), "weekly_summary", datetime.now(UTC))
        with elsewhere.db.transaction() as s:
            find(s, meet_key("ada")).weekly_summary = True
        assert arrived.wait(20), "a row added elsewhere was never delivered"
    finally:
        scheduler.stop()
    with db.transaction() as s:
        assert s.scalars(select(SchedulerLease)).all() == []  # released on stop
        assert [r.status for r in s.scalars(select(Reminder).order_by(Reminder.id))] == [
            "sent", "pending",  # and next week's booked
        ]  # fmt: skip


def test_a_reminder_known_in_advance_is_woken_for_not_left_to_the_next_poll(
    db: Database,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.reminders.poll_seconds = 300  # the poll alone would take five minutes
    real = Engine(db, settings, production())
    meet(real, "bea", None, quiet="00:00-00:00")
    with db.transaction() as s:
        find(s, meet_key("bea")).weekly_summary = True
    remind(db, meet_key("bea"), "weekly_summary", datetime.now(UTC) + timedelta(seconds=0.5))
    arrived = threading.Event()
    inbox = Inbox(real.clock)
    inbox.deliver = _signal(inbox.deliver, arrived)  # type: ignore[method-assign]
    scheduler = ReminderScheduler(real, {"terminal": inbox})
    scheduler.start()
    try:
        assert inbox.sent == []
        assert arrived.wait(20), "the wake job never fired"
    finally:
        scheduler.stop()


def test_a_scheduler_whose_lease_another_holder_really_holds_stops_and_says_so(
    db: Database,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = ReminderScheduler(engine, {}, lease=Lease(db, ttl=timedelta(seconds=0.3)))
    scheduler.start()
    try:
        with db.transaction() as s:  # a live usurper: its lease is valid for an hour
            s.execute(update(SchedulerLease).values(
                holder="usurper", expires_at=datetime.now(UTC) + timedelta(hours=1)))  # fmt: skip
        assert scheduler.stopped.wait(20)
        assert scheduler.lease_lost
    finally:
        scheduler.stop()
    assert "another scheduler holds the lease (usurper); stopping" in caplog.text


def _signal(deliver, event: threading.Event):  # type: ignore[no-untyped-def]
    def wrapped(to: Recipient, replies) -> None:  # type: ignore[no-untyped-def]
        deliver(to, replies)
        event.set()

    return wrapped


def test_undeliverable_people_are_not_even_timed(
    engine: Engine, clock: Clock, people: list[str]
) -> None:
    due_for_all(engine, people[:1])
    scheduler = ReminderScheduler(engine, {"terminal": Inbox(clock)})
    assert scheduler.next_due() == NOW
    with engine.db.transaction() as s:
        s.execute(update(User).values(undeliverable_at=NOW))
    assert scheduler.next_due() is None
    assert ReminderScheduler(engine, {"discord": Inbox(clock, platform="discord")}).next_due() is (
        None
    )  # and a process without a terminal sender leaves terminal people alone
