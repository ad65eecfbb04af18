"""The scheduler lease under faults: a database error is an outage (retried, logged as one, never
"another scheduler took over"), a holder id is random (a live holder whose label names a dead
local pid keeps its lease), and a lapsed lease nobody took is taken back.

Fast, on SQLite, with a fault-injected session; the same outages made for real on PostgreSQL are
in ``test_reminders_pg_outage.py``. Waits are for events, with generous deadlines.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from bot.conversation.engine import Engine
from bot.reminders.lease import Lease, LeaseHeld, Renewal
from bot.reminders.scheduler import ReminderScheduler
from bot.storage.db import Database
from bot.storage.models import SchedulerLease

from .conftest import Clock
from .reminders_helpers import Inbox, meet, remind, status

DEADLINE = 30.0
TTL = timedelta(seconds=0.6)


def wait_for(what: str, condition: Callable[[], bool]) -> None:
    end = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Flaky:
    """The lease's database, with an outage switch: every transaction fails while it is on."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.down = threading.Event()
        self.failures = 0
        self.successes = 0

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        if self.down.is_set():
            self.failures += 1
            raise OperationalError("UPDATE scheduler_lease", {}, ConnectionRefusedError(111))
        with self.db.transaction() as session:
            yield session
        self.successes += 1


def holder_of(db: Database) -> str | None:
    with db.transaction() as s:
        row = s.scalars(select(SchedulerLease)).one_or_none()
        return None if row is None else row.holder


# ---------------------------------------------------------------- who holds it (issue 11, 6)


def test_a_live_holder_whose_label_names_a_dead_local_pid_keeps_its_lease(db: Database) -> None:
    """Another PID namespace on this host: its pid means nothing here, so it is never probed."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: no process here has this pid any more
    live = Lease(db)
    live.holder = f"{socket.gethostname()}:{gone.pid}:{uuid.uuid4().hex[:8]}"  # host:pid:id
    live.acquire()
    with pytest.raises(LeaseHeld, match="already running"):
        Lease(db).acquire()
    assert live.renew() is Renewal.RENEWED
    assert holder_of(db) == live.holder


def test_holder_ids_are_random_per_instance_with_host_and_pid_only_as_a_label(
    db: Database,
) -> None:
    first, second = Lease(db), Lease(db)
    assert first.holder != second.holder
    assert first.holder.split()[0] != second.holder.split()[0]
    assert uuid.UUID(first.holder.split()[0]).version == 4


def test_a_restart_waits_out_a_dead_holders_lease_but_refuses_a_live_one(db: Database) -> None:
    dead = Lease(db, ttl=TTL)
    dead.acquire()  # and never renews again: killed
    newcomer = Lease(db, ttl=TTL)
    newcomer.acquire(wait=DEADLINE)
    assert holder_of(db) == newcomer.holder
    stop = threading.Event()

    def keep_renewing() -> None:
        while not stop.wait(0.05):
            newcomer.renew()

    renewer = threading.Thread(target=keep_renewing)
    renewer.start()
    try:
        with pytest.raises(LeaseHeld):  # it renews while we watch: alive, refused
            Lease(db, ttl=TTL).acquire(wait=DEADLINE)
    finally:
        stop.set()
        renewer.join()
    assert holder_of(db) == newcomer.holder


# ---------------------------------------------------------------- outages (issue 11, 1)


@pytest.fixture
def ada(engine: Engine, clock: Clock) -> Engine:
    clock.now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    engine.settings.reminders.poll_seconds = 0.05
    meet(engine, "ada", None, quiet="00:00-00:00")
    return engine


def _due_summary(engine: Engine) -> int:
    from .test_reminders_delivery import meet_key

    with engine.db.transaction() as s:
        from .reminders_helpers import find

        find(s, meet_key("ada")).weekly_summary = True
    return remind(engine.db, meet_key("ada"), "weekly_summary", engine.clock())


def test_a_database_outage_during_renewals_is_retried_and_a_due_reminder_still_goes_out(
    ada: Engine, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.reminders")
    flaky = Flaky(ada.db)
    lease = Lease(flaky, ttl=TTL)  # type: ignore[arg-type]
    inbox = Inbox(clock)
    scheduler = ReminderScheduler(ada, {"terminal": inbox}, lease=lease)
    scheduler.start()
    try:
        flaky.down.set()
        # Outlast the lease: failures keep coming every 0.2 s at most, for over two lease lives.
        wait_for("renewals failing past the lease's expiry", lambda: flaky.failures >= 8)
        _due_summary(ada)  # falls due during the outage
        flaky.down.clear()
        wait_for("the due reminder", lambda: len(inbox.sent) == 1 or scheduler.stopped.is_set())
        assert not scheduler.stopped.is_set() and not scheduler.lease_lost
        assert holder_of(ada.db) == lease.holder
    finally:
        scheduler.stop()
    assert "could not renew the scheduler lease: database error (ConnectionRefusedError)" in (
        caplog.text
    )
    assert "the scheduler lease has expired, reminders are paused" in caplog.text
    assert "database reachable again" in caplog.text
    assert "another scheduler" not in caplog.text


def test_one_failed_renewal_does_not_stop_the_scheduler(ada: Engine, clock: Clock) -> None:
    flaky = Flaky(ada.db)
    scheduler = ReminderScheduler(ada, {"terminal": Inbox(clock)},
                                  lease=Lease(flaky, ttl=TTL))  # type: ignore[arg-type]  # fmt: skip
    scheduler.start()
    try:
        flaky.down.set()
        wait_for("one failed renewal", lambda: flaky.failures >= 1)
        flaky.down.clear()
        seen = flaky.successes
        wait_for("two renewals after it", lambda: flaky.successes >= seen + 2)
        assert not scheduler.stopped.is_set() and not scheduler.lease_lost
    finally:
        scheduler.stop()


def test_an_in_process_scheduler_on_standby_takes_its_lease_back_and_says_so_loudly(
    ada: Engine, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """Inside ``rebound chat`` / ``rebound run``: never silently without reminders."""
    caplog.set_level(logging.WARNING, logger="bot.reminders")
    inbox = Inbox(clock)
    lease = Lease(ada.db, ttl=TTL)
    scheduler = ReminderScheduler(ada, {"terminal": inbox}, lease=lease, standby=True)
    scheduler.start()
    try:
        with ada.db.transaction() as s:  # another scheduler holds it for a moment, then dies
            s.execute(update(SchedulerLease).values(
                holder="other", expires_at=datetime.now(UTC) + timedelta(seconds=1)))  # fmt: skip
        wait_for("the loss to be noticed", lambda: "another scheduler holds" in caplog.text)
        wait_for("the lease taken back", lambda: holder_of(ada.db) == lease.holder)
        _due_summary(ada)
        wait_for("the due reminder", lambda: len(inbox.sent) == 1)
        assert not scheduler.stopped.is_set()
    finally:
        scheduler.stop()
    assert any(
        r.levelno == logging.ERROR and "another scheduler holds the lease (other)" in r.message
        for r in caplog.records
    )


def test_a_database_error_mid_delivery_leaves_no_row_claimed_and_it_goes_out_next_pass(
    ada: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim and the render went through, then the database failed: nothing was sent."""
    rid = _due_summary(ada)
    inbox = Inbox(clock)
    scheduler = ReminderScheduler(ada, {"terminal": inbox})
    real = ReminderScheduler._mark_sending
    calls: list[int] = []

    def flaky_mark(self: ReminderScheduler, reminder_id: int) -> bool:
        calls.append(reminder_id)
        if len(calls) == 1:
            raise OperationalError("UPDATE reminders", {}, ConnectionRefusedError(111))
        return real(self, reminder_id)

    monkeypatch.setattr(ReminderScheduler, "_mark_sending", flaky_mark)
    assert scheduler.run_pending() == 0
    assert status(ada.db, rid) == "pending"  # not left "claimed" until the next restart
    assert scheduler.run_pending() == 1  # at once: its own render is not "mid-conversation"
    assert len(inbox.sent) == 1
