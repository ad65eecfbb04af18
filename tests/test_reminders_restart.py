"""Real ``rebound scheduler`` processes during a long catch-up pass and after a SIGKILL.

- A burst of due reminders at start-up: the lease is renewed while the pass delivers (a second
  scheduler started meanwhile is refused), and SIGTERM in the middle of it exits 0, finishes the
  sends in flight, releases the lease and leaves no row ``claimed`` or ``sending``.
- Killed with SIGKILL after claiming and rendering a reminder but before sending it: the next
  scheduler takes the expired lease and sends that reminder at once (nothing reached a sender, so
  this is its first delivery), instead of treating its own render as the person talking.

The processes are :class:`tests.test_reminders_process.Worker` (``cli=True``: the real command,
with a file sender standing in for the platforms). Waits are for events, with deadlines.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.storage.db import Database
from bot.storage.models import Reminder, User
from tests.behaviour import production

from .conftest import ROOT
from .test_reminders_process import T, Worker, env, held_file, lines, statuses, wait_for
from .test_reminders_process import world as world  # the fixture: one person due at T

PEOPLE = 120


@pytest.fixture
def burst(db: Database) -> Iterator[Path]:
    """The database file with PEOPLE people, each with a plan action due at ``T``."""
    from bot.config import load_settings
    from bot.conversation.engine import Engine

    from .conftest import Clock
    from .reminders_helpers import meet
    from .test_reminders_delivery import due_for_all

    engine = Engine(db, load_settings(None), production(), clock=Clock(T - timedelta(days=1)))
    names = [meet(engine, f"b{i:03d}", None, quiet="00:00-00:00").user_id for i in range(PEOPLE)]
    due_for_all(engine, names, at=T)
    db.dispose()
    yield Path(str(db.url.database))


def lease_rows(db_path: Path) -> int:
    db = Database(f"sqlite:///{db_path}")
    try:
        with db.transaction() as s:
            return int(s.execute(text("select count(*) from scheduler_lease")).scalar() or 0)
    finally:
        db.dispose()


def test_the_catch_up_pass_keeps_its_lease_and_sigterm_mid_pass_exits_cleanly(
    burst: Path, tmp_path: Path
) -> None:
    out = tmp_path / "delivered.txt"
    first = Worker(burst, T + timedelta(minutes=1), out, mode="slow", cli=True)
    try:
        wait_for("the burst under way", lambda: len(lines(out)) >= 8)
        # Longer than the 1 s lease into the start-up pass: a second scheduler is still refused.
        second = subprocess.run(
            [sys.executable, "-m", "bot.cli", "scheduler"],
            cwd=ROOT, env=env(burst), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 1, second.stderr
        assert "another Rebound scheduler is already running" in second.stderr
        assert len(lines(out)) < PEOPLE, "the pass ended before the check; make it longer"
        first.proc.send_signal(signal.SIGTERM)
        first.proc.wait(60)
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
    assert first.proc.returncode == 0, first.stderr()
    assert "Aborted!" not in first.stderr()
    assert lease_rows(burst) == 0
    final = statuses(burst)
    delivered = Counter(line.split("\t")[0] for line in lines(out))
    assert len(final) == PEOPLE
    assert set(final.values()) <= {"sent", "pending"}, Counter(final.values())
    assert "pending" in final.values(), "SIGTERM came after the pass; make it longer"
    assert max(delivered.values()) == 1
    assert {who for who, state in final.items() if state == "sent"} == set(delivered)


def test_a_reminder_claimed_and_rendered_when_killed_is_sent_at_once_on_restart(
    world: Path, tmp_path: Path
) -> None:
    out = tmp_path / "delivered.txt"
    hung = Worker(world, T + timedelta(minutes=1), out, mode="claim-block", cli=True)
    try:
        wait_for("the claimed and rendered reminder", lambda: held_file(out).exists())
        assert statuses(world)["before"] == "claimed"
    finally:
        hung.kill()
    assert lines(out) == []
    killed = time.monotonic()
    again = Worker(world, T + timedelta(minutes=2), out, cli=True)
    try:
        wait_for("the restart to send it", lambda: statuses(world)["before"] == "sent")
        resolved = time.monotonic() - killed
    finally:
        again.proc.send_signal(signal.SIGTERM)
        again.proc.wait(30)
    assert [line.split("\t")[0] for line in lines(out)] == ["before"]  # once, by the restart
    with Database(f"sqlite:///{world}").transaction() as s:
        attempts = s.scalar(
            select(Reminder.attempts).join(User).where(User.external_id == "before")
        )
    assert attempts == 2
    print(f"SIGKILL restart to the claimed row resolved: {resolved:.2f} s")  # (-s shows it)
