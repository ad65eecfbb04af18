"""Database outages under a running scheduler on a real PostgreSQL: its backends terminated (one
of them in the middle of a lease renewal), and connections to its database refused for longer
than the lease lives. The scheduler keeps going, says "outage" (never "another scheduler"), keeps
or takes back its lease, and a reminder due after the outage is delivered.

Outages are made on a throwaway database this module creates (never by stopping the server).
Runs when REBOUND_TEST_POSTGRES_URL is set; skipped otherwise. Waits are for events.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine as Engine_
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from bot.config import Settings
from bot.conversation.engine import Engine
from bot.reminders.lease import Lease
from bot.reminders.scheduler import ReminderScheduler
from bot.storage.db import Database
from bot.storage.models import SchedulerLease
from tests.behaviour import production

from .conftest import Clock
from .reminders_helpers import Inbox, find, meet, remind
from .test_postgres import create_database, drop_database
from .test_reminders_delivery import meet_key

PG_URL = os.environ.get("REBOUND_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="REBOUND_TEST_POSTGRES_URL is not set")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=1)
DEADLINE = 60.0


def wait_for(what: str, condition: Callable[[], bool]) -> None:
    end = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Running:
    """A scheduler on a fresh database, an admin connection to hurt it, and its inbox."""

    def __init__(self, url: str, admin: Engine_, name: str, engine: Engine, clock: Clock) -> None:
        self.url, self.name, self.engine = url, name, engine
        # Its own connection per statement: a pooled one could be one that was terminated.
        self.admin = create_engine(admin.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.inbox = Inbox(clock)
        self.lease = Lease(engine.db, ttl=TTL)
        self.scheduler = ReminderScheduler(engine, {"terminal": self.inbox}, lease=self.lease)

    def terminate(self, where: str = "true") -> int:
        with self.admin.connect() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = :name AND pid <> pg_backend_pid() AND {where}"
            ), {"name": self.name}).all())  # fmt: skip

    def allow(self, yes: bool) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS {str(yes).lower()}'))

    def due_now(self) -> None:
        """A reminder due now, added through a connection of its own (as another process)."""
        other = Database(self.url)
        try:
            with other.transaction() as s:
                find(s, meet_key("ada")).weekly_summary = True
            remind(other, meet_key("ada"), "weekly_summary", self.engine.clock())
        finally:
            other.dispose()

    def holder(self) -> str | None:
        with self.engine.db.transaction() as s:
            return s.scalar(select(SchedulerLease.holder))


@pytest.fixture
def running(settings: Settings, clock: Clock) -> Iterator[Running]:
    assert PG_URL
    url, admin, name = create_database(PG_URL)
    settings.reminders.poll_seconds = 0.1
    clock.now = NOW
    engine = Engine(Database(url), settings, production(), clock=clock)
    meet(engine, "ada", None, quiet="00:00-00:00")
    world = Running(url, admin, name, engine, clock)
    world.scheduler.start()
    try:
        yield world
    finally:
        world.allow(True)
        world.scheduler.stop()
        engine.db.dispose()
        admin.dispose()
        drop_database(world.admin, name)  # a fresh connection: a pooled one may be terminated


def _no_false_takeover(caplog: pytest.LogCaptureFixture, world: Running) -> None:
    assert not world.scheduler.stopped.is_set() and not world.scheduler.lease_lost
    assert world.holder() == world.lease.holder
    assert "another scheduler" not in caplog.text


def test_backends_terminated_mid_renewal_and_for_seconds_after_do_not_stop_it(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.reminders")
    # A renewal in flight, killed: hold the lease row so the renewal waits on it, then end it.
    blocker = create_engine(running.url)
    with blocker.connect() as conn, conn.begin():
        conn.execute(text("SELECT * FROM scheduler_lease FOR UPDATE"))
        waiting = "wait_event_type = 'Lock' AND query LIKE '%scheduler_lease%'"
        wait_for("a renewal waiting on the row", lambda: running.terminate(waiting) > 0)
    blocker.dispose()
    wait_for("the failed renewal logged", lambda: "could not renew" in caplog.text)
    # Then every backend of the database terminated, over and over, for three seconds.
    end = time.monotonic() + 3
    while time.monotonic() < end:
        running.terminate()
        time.sleep(0.05)
    running.due_now()
    wait_for("the reminder after the outage", lambda: len(running.inbox.sent) == 1)
    _no_false_takeover(caplog, running)
    assert "could not renew the scheduler lease: database error" in caplog.text


def test_connections_refused_for_longer_than_the_lease_it_takes_the_lease_back_and_delivers(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.reminders")
    running.allow(False)
    running.terminate()
    wait_for("the lease to expire in the outage", lambda: "has expired" in caplog.text)
    running.allow(True)
    running.due_now()
    wait_for("the reminder after the outage", lambda: len(running.inbox.sent) == 1)
    _no_false_takeover(caplog, running)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "database outage" in errors[0].message
