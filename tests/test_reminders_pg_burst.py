"""A real scheduler process on PostgreSQL, killed with SIGKILL in the middle of a burst of due
reminders and restarted: each reminder reaches the sender at most once, every one that did not
end ``sent`` is recorded ``interrupted`` (never resent), and none is left behind silently.

Two ways to kill it: while the sender is blocked inside a delivery (the kill certainly lands
mid-send), and as soon as a number of deliveries were made (the kill lands wherever the pass
happens to be: between claim, render, send and ``sent``). Waits are for events, with deadlines.
Runs when REBOUND_TEST_POSTGRES_URL is set (``.ci/run`` sets it); skipped otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import load_settings
from bot.conversation.engine import Engine
from bot.storage.db import Database
from bot.storage.models import Reminder, User
from tests.behaviour import production

from .conftest import ROOT, Clock
from .reminders_helpers import meet
from .test_postgres import create_database, drop_database
from .test_reminders_delivery import due_for_all
from .test_reminders_process import LEASE_SECONDS, lines, wait_for

PG_URL = os.environ.get("REBOUND_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="REBOUND_TEST_POSTGRES_URL is not set")
T = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
PEOPLE = 60
KILL_AFTER = 20  # deliveries made before the kill


@pytest.fixture
def burst() -> Iterator[str]:
    """A fresh database with PEOPLE people, each with one plan-action reminder due at T."""
    assert PG_URL
    url, admin, name = create_database(PG_URL)
    clock = Clock(T - timedelta(days=1))
    engine = Engine(Database(url), load_settings(None), production(), clock=clock)
    names = [meet(engine, f"b{i:02d}", None, quiet="00:00-00:00").user_id for i in range(PEOPLE)]
    due_for_all(engine, names, at=T)
    engine.db.dispose()
    yield url
    drop_database(admin, name)


def statuses(url: str) -> dict[str, str]:
    db = Database(url)
    try:
        with db.transaction() as s:
            return dict(s.execute(select(User.external_id, Reminder.status).join(Reminder)).all())
    finally:
        db.dispose()


class Scheduler:
    def __init__(self, url: str, now: datetime, out: Path, mode: str) -> None:
        env = {**os.environ, "REBOUND_REMINDERS__POLL_SECONDS": "0.1", "PYTHONPATH": str(ROOT),
               "REBOUND_TEST_LEASE_SECONDS": LEASE_SECONDS}  # fmt: skip
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.test_reminders_pg_burst", url, now.isoformat(),
             str(out), mode],
            cwd=ROOT, env=env, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)  # reaped; its lease expires within LEASE_SECONDS


@pytest.mark.parametrize("mode", ["block", "kill"])
def test_scheduler_killed_mid_burst_loses_nothing_silently_and_sends_nothing_twice(
    burst: str, tmp_path: Path, mode: str
) -> None:
    out = tmp_path / "delivered.txt"
    first = Scheduler(burst, T + timedelta(minutes=1), out, mode)
    try:
        wait_for(f"{KILL_AFTER} deliveries", lambda: len(lines(out)) >= KILL_AFTER)
        if mode == "block":  # the sender is now stuck inside a delivery
            wait_for("a row in 'sending'", lambda: "sending" in statuses(burst).values())
    finally:
        first.kill()
    at_kill = statuses(burst)
    assert set(at_kill.values()) - {"sent"}, "the burst was over before the kill"
    # Restarted ten minutes later: a nudge rendered just before the kill made that person look
    # mid-conversation for five minutes (and their reminder would wait that long).
    second = Scheduler(burst, T + timedelta(minutes=10), out, "record")
    try:
        wait_for(
            "every reminder settled",
            lambda: set(statuses(burst).values()) <= {"sent", "interrupted"},
        )
    finally:
        second.kill()

    final = statuses(burst)
    delivered = Counter(lines(out))
    assert len(final) == PEOPLE
    assert [who for who, n in delivered.items() if n > 1] == [], "a reminder was sent twice"
    for who, state in final.items():
        if state == "sent":
            assert delivered[who] == 1, f"{who}: marked sent but never reached the sender"
        else:  # reached the sender once or not at all, and says so; never resent
            assert state == "interrupted", f"{who}: left {state}"
            assert at_kill[who] == "sending", f"{who}: interrupted but was {at_kill[who]}"
    interrupted = [who for who, state in final.items() if state == "interrupted"]
    if mode == "block":
        assert interrupted, "the send in flight was not recorded as interrupted"
    # Whatever was not yet in flight at the kill went out after the restart, exactly once.
    for who, state in at_kill.items():
        if state in ("pending", "claimed"):
            assert final[who] == "sent" and delivered[who] == 1, who


# ---------------------------------------------------------------------- the worker process


def worker(url: str, now: str, out: str, mode: str) -> None:
    """A scheduler whose clock starts at ``now``; its sender appends the person to ``out``.

    ``block``: deliveries from the KILL_AFTER-th on hang inside the sender until killed;
    ``kill``: each delivery takes a little while, like a real API call.
    """
    from bot.reminders import lease
    from bot.reminders.scheduler import ReminderScheduler
    from bot.storage.db import open_database

    lease.LEASE_TTL = timedelta(seconds=float(os.environ["REBOUND_TEST_LEASE_SECONDS"]))
    offset = datetime.fromisoformat(now) - datetime.now(UTC)
    engine = Engine(open_database(url), load_settings(None), production(),
                    clock=lambda: datetime.now(UTC) + offset)  # fmt: skip
    lock = threading.Lock()

    class FileSender:
        platform = "terminal"

        def deliver(self, to, replies) -> None:  # type: ignore[no-untyped-def]
            with lock, open(out, "a", encoding="utf-8") as f:
                f.write(f"{to.user.user_id}\n")
                f.flush()
                os.fsync(f.fileno())
                count = len(lines(Path(out)))
            if mode == "block" and count >= KILL_AFTER:
                threading.Event().wait()
            elif mode == "kill":
                time.sleep(0.02)  # pacing, so the burst is still going when the kill comes

    ReminderScheduler(engine, {"terminal": FileSender()}).start(
        wait=lease.LEASE_TTL.total_seconds() + 1  # a killed one's lease expires first
    )
    threading.Event().wait()


if __name__ == "__main__":
    worker(*sys.argv[1:5])
