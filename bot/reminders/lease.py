"""The ``scheduler_lease`` row: at most one reminder scheduler per database.

A lease with an expiry, renewed every third of its life, rather than a PostgreSQL advisory lock:
it works the same on SQLite, and it is visible (``SELECT * FROM scheduler_lease`` names the
holding host and process). Expiry uses the real clock, never a test clock, because several
processes compare it. A holder on this machine whose process is gone (``kill -9``) is taken over
at once; one on another machine only when its lease has expired.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from bot.storage.db import Database
from bot.storage.models import SchedulerLease

LEASE_NAME = "reminders"
LEASE_TTL = timedelta(seconds=30)


class LeaseHeld(Exception):
    """Another scheduler holds this database's lease: this one must not start."""


class Lease:
    """The ``scheduler_lease`` row: one holder per database, with an expiry it keeps renewing.

    Expiry uses the real clock (never a test clock), since several processes compare it. A
    holder on this machine whose process is gone (``kill -9``) is taken over at once; one on
    another machine only after its lease expires.
    """

    def __init__(self, db: Database, ttl: timedelta = LEASE_TTL, name: str = LEASE_NAME) -> None:
        self.db = db
        self.ttl = ttl
        self.name = name
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> None:
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
                elif row.holder == self.holder or row.expires_at <= now or _gone(row.holder):
                    row.holder, row.expires_at = self.holder, now + self.ttl
                else:
                    raise LeaseHeld(
                        f"another Rebound scheduler is already running on this database "
                        f"({row.holder}, lease valid until {row.expires_at:%H:%M:%S} UTC). "
                        "Run only one `rebound scheduler` (or `rebound run`) per database."
                    )
        except IntegrityError:
            raise LeaseHeld("another Rebound scheduler started at the same moment") from None

    def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours (then stop delivering)."""
        with self.db.transaction() as session:
            result = session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
                .values(expires_at=datetime.now(UTC) + self.ttl)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self) -> None:
        with self.db.transaction() as session:
            session.execute(
                delete(SchedulerLease).where(
                    SchedulerLease.name == self.name, SchedulerLease.holder == self.holder
                )
            )


def _gone(holder: str) -> bool:
    """True when the holder ran on this machine and its process no longer exists."""
    try:
        host, pid, _ = holder.rsplit(":", 2)
        if host != socket.gethostname():
            return False
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError, OSError):
        return False
    return False
