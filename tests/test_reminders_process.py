"""Real scheduler processes, killed with SIGKILL before, during and after a reminder's due time,
a second scheduler refused, and reminders printed into ``rebound chat --now``.

Each scheduler here is a separate Python process (this module run as a script, see
:func:`worker`) whose clock starts at a chosen instant, so nothing waits for a real due time.
Every wait is for an event (a line in a file, a row's status) with a generous deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.storage.db import Database
from tests.behaviour import production

from .conftest import ROOT

T = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
DEADLINE = 30.0
LEASE_SECONDS = "1"  # the workers' lease life: a restart after SIGKILL waits this long at most


def wait_for(what: str, condition: Callable[[], bool]) -> None:
    end = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def env(db_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "REBOUND_DATABASE__URL": f"sqlite:///{db_path}",
        "REBOUND_REMINDERS__POLL_SECONDS": "0.1",
        # (set it to 15, the real lease life, to measure a restart as it would really be)
        "REBOUND_TEST_LEASE_SECONDS": os.environ.get("REBOUND_TEST_LEASE_SECONDS", LEASE_SECONDS),
        "PYTHONPATH": str(ROOT),
    }


class Worker:
    """One scheduler process; ``passes`` counts its completed passes (from its own file).

    ``cli``: the real ``rebound scheduler`` command (its signal handling, exit status and
    messages), with this module's file sender in place of the platforms' senders.
    """

    def __init__(
        self, db_path: Path, now: datetime, out: Path, mode: str = "record", cli: bool = False
    ) -> None:
        stamp = time.monotonic_ns()
        self.passes = out.with_name(f"passes-{stamp}")
        self.errors = out.with_name(f"stderr-{stamp}")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.test_reminders_process", str(db_path), now.isoformat(),
             str(out), str(self.passes), mode, "cli" if cli else "worker"],
            cwd=ROOT, env=env(db_path), stdout=subprocess.DEVNULL,
            stderr=self.errors.open("w"), text=True,
        )  # fmt: skip

    def stderr(self) -> str:
        return self.errors.read_text() if self.errors.exists() else ""

    def count(self) -> int:
        return len(lines(self.passes))

    def wait_passes(self, n: int) -> None:
        start = self.count()
        wait_for(f"{n} scheduler passes", lambda: self.count() >= start + n or self._dead())

    def _dead(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"worker died: {self.stderr()}")
        return False

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)  # reaped; its lease expires within LEASE_SECONDS, then is taken over


@pytest.fixture
def world(db: Database) -> Iterator[Path]:
    """The database file, with one person and one plan action due at ``T`` per scenario."""
    from bot.config import load_settings
    from bot.conversation.engine import Engine

    from .conftest import Clock
    from .reminders_helpers import meet
    from .test_reminders_delivery import due_for_all

    clock = Clock(T - timedelta(days=1))
    engine = Engine(db, load_settings(None), production(), clock=clock)
    for name in ("before", "during"):
        meet(engine, name, None, quiet="00:00-00:00")
        due_for_all(engine, [name], at=T if name == "before" else T + timedelta(hours=1))
    db.dispose()
    yield Path(str(db.url.database))


def statuses(db_path: Path) -> dict[str, str]:
    from sqlalchemy import select

    from bot.storage.models import Reminder, User

    db = Database(f"sqlite:///{db_path}")
    try:
        with db.transaction() as s:
            rows = s.execute(select(User.external_id, Reminder.status).join(Reminder)).all()
            return {name: state for name, state in rows}
    finally:
        db.dispose()


def test_killed_before_during_and_after_the_due_time_it_is_sent_at_most_once(
    world: Path, tmp_path: Path
) -> None:
    out = tmp_path / "delivered.txt"
    # Before: up and running half an hour early, then killed.
    early = Worker(world, T - timedelta(minutes=30), out)
    early.wait_passes(2)
    early.kill()
    assert lines(out) == []
    # Restarted an hour after the due time (a misfire within the window): sent once.
    late = Worker(world, T + timedelta(minutes=30), out)
    wait_for("the late delivery", lambda: len(lines(out)) >= 1)
    late.wait_passes(3)
    assert [line.split("\t")[0] for line in lines(out)] == ["before"]
    assert statuses(world)["before"] == "sent"
    # After: killed once it was sent; the next one does not send it again.
    late.kill()
    again = Worker(world, T + timedelta(minutes=40), out)
    again.wait_passes(3)
    again.kill()
    assert [line.split("\t")[0] for line in lines(out)] == ["before"]
    # During: the sender has been handed the message and hangs; killed mid-send.
    hung = Worker(world, T + timedelta(hours=1, minutes=1), out, mode="block")
    wait_for("the hanging send", lambda: len(lines(out)) == 2)
    assert statuses(world)["during"] == "sending"
    hung.kill()
    after = Worker(world, T + timedelta(hours=1, minutes=30), out)  # not "mid-conversation"
    after.wait_passes(3)
    after.kill()
    assert [line.split("\t")[0] for line in lines(out)] == ["before", "during"]
    assert statuses(world) == {"before": "sent", "during": "interrupted"}  # never resent


def test_a_second_scheduler_process_refuses_to_start(world: Path, tmp_path: Path) -> None:
    running = Worker(world, T, tmp_path / "out.txt")
    try:
        running.wait_passes(1)
        second = subprocess.run(
            [sys.executable, "-m", "bot.cli", "scheduler"],
            cwd=ROOT, env=env(world), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        running.kill()
    assert second.returncode == 1
    assert "another Rebound scheduler is already running on this database" in second.stderr


def chat(db_path: Path, now: str, *lines_in: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--user", "kim", "--now", now],
        input="\n".join(lines_in) + "\n", cwd=ROOT, env=env(db_path),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_rebound_chat_prints_reminders_that_fell_due(tmp_path: Path) -> None:
    db_path = tmp_path / "chat.db"
    morning = chat(db_path, "2026-11-30 09:00", "hi", "1", "log", "Acme", "Analyst",
                   "today 14:00", "2", "", "", "/quit")  # fmt: skip
    assert "I'll check in on Monday at 18:00" in morning
    evening = chat(db_path, "2026-11-30 18:05", "1", "/quit")
    nudge, _, answer = evening.partition("you> 1")
    assert "How did your Analyst interview at Acme go?" in nudge
    assert "  1. Debrief now" in nudge and "Snooze 1 hour" in nudge
    assert "How did the Analyst interview at Acme go?" in answer  # the debrief itself
    later = chat(db_path, "2026-11-30 18:30", "/quit")
    assert "How did your Analyst interview" not in later


# ---------------------------------------------------------------------- the worker process


def held_file(out: Path) -> Path:
    """Where a ``claim-block`` worker names the reminder it claimed, rendered and hung on."""
    return out.with_name(out.name + ".held")


def worker(db_url: str, now: str, out: str, passes: str, mode: str, entry: str) -> None:
    """A scheduler with a clock starting at ``now`` and a sender that appends to ``out``.

    Modes: ``record`` (just send), ``block`` (the sender hangs once handed the message),
    ``slow`` (each send takes 0.3 s, like a slow platform), ``claim-block`` (hangs after the
    claim and the render, before ``sending``: the row stays ``claimed``).
    """
    from datetime import timedelta

    from bot.config import load_settings
    from bot.conversation.engine import Engine
    from bot.reminders import lease
    from bot.reminders.scheduler import ReminderScheduler
    from bot.storage.db import open_database

    lease.LEASE_TTL = timedelta(seconds=float(os.environ["REBOUND_TEST_LEASE_SECONDS"]))

    class FileSender:
        platform = "terminal"

        def deliver(self, to, replies) -> None:  # type: ignore[no-untyped-def]
            with open(out, "a", encoding="utf-8") as f:
                f.write(f"{to.user.user_id}\t{replies[-1].text[:40]}\n")
                f.flush()
                os.fsync(f.fileno())
            if mode == "block":
                threading.Event().wait()  # hangs until killed
            elif mode == "slow":
                time.sleep(0.3)

    if mode == "claim-block":

        def hang(self: ReminderScheduler, reminder_id: int) -> bool:
            held_file(Path(out)).write_text(f"{reminder_id}\n")
            threading.Event().wait()  # claimed and rendered, never marked sending
            return False

        ReminderScheduler._mark_sending = hang  # type: ignore[method-assign]

    def on_pass(_sent: int) -> None:
        with open(passes, "a", encoding="utf-8") as f:
            f.write("pass\n")

    if entry == "cli":  # the real command, with the file sender as the only platform
        import bot.cli
        from bot.cli import main

        bot.cli.senders = lambda _built: {"terminal": FileSender()}  # type: ignore[assignment]
        sys.argv = ["rebound", "scheduler", "--db", db_url, "--now", now]
        main()
        return
    offset = datetime.fromisoformat(now) - datetime.now(UTC)
    engine = Engine(open_database(db_url), load_settings(None), production(),
                    clock=lambda: datetime.now(UTC) + offset)  # fmt: skip
    scheduler = ReminderScheduler(engine, {"terminal": FileSender()}, on_pass=on_pass)
    scheduler.start(wait=lease.LEASE_TTL.total_seconds() + 1)  # a killed one's lease expires
    threading.Event().wait()


if __name__ == "__main__":
    db_path, now_arg, out_arg, passes_arg, mode_arg, entry_arg = sys.argv[1:7]
    worker(f"sqlite:///{db_path}", now_arg, out_arg, passes_arg, mode_arg, entry_arg)


@pytest.mark.parametrize("command", ["run", "scheduler"])
def test_run_and_scheduler_start_say_what_is_missing_and_stop_on_sigterm(
    world: Path, command: str
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", command], cwd=ROOT, env=env(world),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed once the lease is held and the first pass ran
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "no chat platform has a token configured" in err
    if command == "run":
        assert "running the scheduler only" in first
        assert "not starting discord, slack: no token configured" in err
    else:
        assert "Rebound scheduler running (no platforms)" in first
    db = Database(f"sqlite:///{world}")
    try:
        with db.transaction() as s:
            from sqlalchemy import text

            assert s.execute(text("select count(*) from scheduler_lease")).scalar() == 0
    finally:
        db.dispose()
