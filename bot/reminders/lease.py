"""The ``scheduler_lease`` row: at most one reminder scheduler per database.

A lease with an expiry, renewed every third of its life, rather than a PostgreSQL advisory lock:
it works the same on SQLite, and it is visible (``SELECT * FROM scheduler_lease`` names the
holder). Expiry uses the real clock, never a test clock, because several processes compare it.

Who holds it is a random id per scheduler instance (``uuid4``), followed by ``host:pid`` only as
a label for people reading the row. Nothing ever probes that pid: the same host name and pid can
belong to a live process in another PID namespace (a container), so "is the holder gone?" is
answered by the database alone. A lease held by someone else is freed only by its expiry (or by
its holder releasing it). A scheduler that starts while the row is still valid may wait for up
to one lease life: if the holder does not renew in that time, it is gone and the lease expires;
if it renews, it is alive and the newcomer refuses to start.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from enum import Enum

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from bot.storage.db import Database
from bot.storage.models import SchedulerLease

LEASE_NAME = "reminders"
# Short enough that a restart after a crash waits at most this long for the old lease; long
# enough that a renewal every third of it survives a few seconds of database trouble.
LEASE_TTL = timedelta(seconds=15)
WAIT_POLL = 0.25  # seconds between looks at a lease we are waiting for


class LeaseHeld(Exception):
    """Another scheduler holds this database's lease: this one must not start."""


class Renewal(Enum):
    """What a renewal found (a database error is raised instead: it tells us nothing)."""

    RENEWED = "renewed"  # still ours
    REGAINED = "regained"  # it had lapsed (row gone or expired) and nobody else held it: ours again
    TAKEN = "taken"  # another holder really holds it now


def new_holder() -> str:
    """A holder id unique to this scheduler instance; host and pid are only a readable label."""
    return f"{uuid.uuid4().hex} {socket.gethostname()}:{os.getpid()}"[:120]


class Lease:
    """The ``scheduler_lease`` row: one holder per database, with an expiry it keeps renewing."""

    def __init__(
        self,
        db: Database,
        ttl: timedelta | None = None,
        name: str = LEASE_NAME,
        holder: str | None = None,
    ) -> None:
        self.db = db
        self.ttl = ttl or LEASE_TTL
        self.name = name
        self.holder = holder or new_holder()
        self.other: str | None = None  # the holder found by the last refusal or TAKEN renewal

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lease, or raise :class:`LeaseHeld` if another holder keeps it alive.

        ``wait`` (seconds): how long to watch a lease held by someone else for its expiry. The
        holder renews every third of the lease's life, so a live one shows itself by moving its
        expiry forward; then we refuse at once instead of waiting the whole time.
        """
        deadline = time.monotonic() + wait
        seen: tuple[str, datetime] | None = None
        while True:
            found = self._take()
            if found is None:
                return
            if seen is not None and found != seen:  # renewed or taken by someone: alive
                break
            seen = found
            if time.monotonic() + WAIT_POLL > deadline:
                break
            time.sleep(WAIT_POLL)
        holder, expires = seen
        self.other = holder
        raise LeaseHeld(
            f"another Rebound scheduler is already running on this database "
            f"({holder}, lease valid until {expires:%H:%M:%S} UTC). "
            "Run only one `rebound scheduler` (or `rebound run`) per database."
        )

    def _take(self) -> tuple[str, datetime] | None:
        """One attempt: None if the lease is now ours, else (holder, expiry) of the live holder."""
        now = datetime.now(UTC)
        try:
            with self.db.transaction() as session:
                row = session.get(SchedulerLease, self.name, with_for_update=True)
                if row is None:
                    session.add(
                        SchedulerLease(
                            name=self.name, holder=self.holder, expires_at=now + self.ttl
                        )
                    )
                    session.flush()
                elif row.holder == self.holder or row.expires_at <= now:
                    row.holder, row.expires_at = self.holder, now + self.ttl
                else:
                    return row.holder, row.expires_at
        except IntegrityError:  # another scheduler inserted the row at the same moment
            return "a scheduler that started at the same moment", now + self.ttl
        return None

    def renew(self) -> Renewal:
        """Extend the lease if it is still ours, or take it back if it lapsed and nobody took it.

        Database errors propagate: they say nothing about who holds the lease, so the caller
        retries instead of giving up.
        """
        now = datetime.now(UTC)
        with self.db.transaction() as session:
            result = session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
                .values(expires_at=now + self.ttl)
            )
            if result.rowcount:  # type: ignore[attr-defined]
                return Renewal.RENEWED
        found = self._take()
        if found is None:
            return Renewal.REGAINED
        self.other = found[0]
        return Renewal.TAKEN

    def release(self) -> None:
        with self.db.transaction() as session:
            session.execute(
                delete(SchedulerLease).where(
                    SchedulerLease.name == self.name, SchedulerLease.holder == self.holder
                )
            )
