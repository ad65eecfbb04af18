"""The claim on a real PostgreSQL: SKIP LOCKED plus the conditional UPDATE, and the lease.

Runs when REBOUND_TEST_POSTGRES_URL points at a server (``.ci/run`` sets it); skipped otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.conversation.engine import Engine
from bot.reminders.lease import Lease, LeaseHeld
from bot.reminders.scheduler import ReminderScheduler
from bot.storage.db import Database
from bot.storage.models import User
from tests.behaviour import production

from .conftest import Clock
from .reminders_helpers import Inbox, meet, status
from .test_postgres import create_database, drop_database
from .test_reminders_delivery import due_for_all, race

PG_URL = os.environ.get("REBOUND_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="REBOUND_TEST_POSTGRES_URL is not set")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def pg(settings: Settings, clock: Clock, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two engines (two connection pools, as two processes would have) on a fresh database."""
    assert PG_URL
    url, admin, name = create_database(PG_URL)
    clock.now = NOW
    first = Engine(Database(url), settings, production(), clock=clock)
    second = Engine(Database(url), settings, production(), clock=clock)
    yield first, second
    first.db.dispose()
    second.db.dispose()
    drop_database(admin, name)


def test_racing_schedulers_on_postgres_send_each_reminder_once(
    pg: tuple[Engine, Engine], clock: Clock
) -> None:
    first, second = pg
    names = [meet(first, f"p{i}", None, quiet="00:00-00:00").user_id for i in range(30)]
    ids = due_for_all(first, names)
    inbox = Inbox(clock)
    race([ReminderScheduler(e, {"terminal": inbox}) for e in (first, second, first, second)])
    assert sorted(d.user for d in inbox.sent) == sorted(names)
    assert {status(first.db, i) for i in ids} == {"sent"}


def test_a_person_mid_turn_is_skipped_not_waited_for(
    pg: tuple[Engine, Engine], clock: Clock
) -> None:
    first, _ = pg
    (name,) = [meet(first, "busy", None, quiet="00:00-00:00").user_id]
    (rid,) = due_for_all(first, [name])
    scheduler = ReminderScheduler(first, {"terminal": Inbox(clock)})
    with first.db.transaction() as turn:  # an engine turn holds the person's row
        turn.execute(select(User).where(User.external_id == name).with_for_update()).one()
        assert scheduler.run_pending() == 0
        assert status(pg[1].db, rid) == "pending"
    assert scheduler.run_pending() == 1


def test_the_lease_on_postgres(pg: tuple[Engine, Engine]) -> None:
    first, second = pg
    Lease(first.db).acquire()
    with pytest.raises(LeaseHeld, match="already running"):
        Lease(second.db).acquire()
