"""``forget me`` leaves nothing behind: files, events, installer rows; nothing readable by others.

Issue 11 items 2 and 11. File modes are read with ``os.stat`` under a permissive umask, so the
modes come from the code, not from the test machine's defaults.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from sqlalchemy import func, select, text

from bot.config import Settings
from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey
from bot.storage.db import Database, open_database
from bot.storage.models import SLACK_INSTALLATIONS, ProcessedEvent, User

from .conftest import Clock, EngineDriver


@pytest.fixture(autouse=True)
def _permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _journey(driver: EngineDriver) -> None:
    driver.text("hi")
    driver.press("Yes, that's right")
    driver.text("rejected")
    driver.form({"company": "Initech", "role": "Analyst"})
    driver.press("First round")
    driver.press("Frustrated")
    driver.text("3")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _user_id(db: Database, external_id: str) -> int:
    with db.transaction() as s:
        return s.scalars(select(User.id).where(User.external_id == external_id)).one()


def test_export_and_chart_are_private_and_forget_deletes_them(
    engine: Engine, clock: Clock, settings: Settings, db: Database
) -> None:
    pat = EngineDriver(engine, UserKey("terminal", "local", "pat"), clock)
    sam = EngineDriver(engine, UserKey("terminal", "local", "sam"), clock)
    for driver in (pat, sam):
        _journey(driver)
    chart = next(r.image.path for r in pat.text("progress") if r.image)
    export = next(r.file for r in pat.text("export") if r.file)
    sams_chart = next(r.image.path for r in sam.text("progress") if r.image)
    pat_id = _user_id(db, "pat")
    # An export left by the layout before this one (exports/ named by user id).
    legacy = Path(settings.data_dir) / "exports" / f"rebound-export-{pat_id}-20261101.json"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_text("{}")
    for path in (chart, export):
        assert _mode(path) == 0o600, path
        assert _mode(Path(path).parent) == 0o700
        assert _mode(Path(path).parent.parent) == 0o700

    pat.text("forget me")
    assert "Everything is deleted" in pat.press("Yes, delete everything")[-1].text
    left = _files(Path(settings.data_dir))
    assert left == [Path(sams_chart)], f"forget left {left}"


def test_a_new_person_never_gets_a_forgotten_persons_id(
    engine: Engine, clock: Clock, db: Database
) -> None:
    first = EngineDriver(engine, UserKey("terminal", "local", "first"), clock)
    first.text("hi")
    old_id = _user_id(db, "first")
    first.text("forget me")
    first.press("Yes, delete everything")
    EngineDriver(engine, UserKey("terminal", "local", "next"), clock).text("hi")
    assert _user_id(db, "next") > old_id


def test_sqlite_file_and_its_wal_are_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "rebound.db"
    db = open_database(f"sqlite:///{path}")
    with db.transaction() as s:
        s.add(User(platform="terminal", workspace="local", external_id="x"))
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        s.flush()
        assert wal.exists() and shm.exists()
        assert (_mode(path), _mode(wal), _mode(shm)) == (0o600, 0o600, 0o600)
    assert _mode(path.parent) == 0o700
    db.dispose()


def test_migration_keeps_every_row_and_stops_id_reuse(tmp_path: Path) -> None:
    """Upgrade a 0002 database holding people and their rows: all survive, ids move on."""
    from alembic import command

    from bot.storage.db import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0002")
    raw = sqlite3.connect(tmp_path / "old.db")
    raw.execute("PRAGMA foreign_keys=ON")
    now = "2026-11-20 10:00:00"
    for n in (1, 2, 3):
        raw.execute(
            "INSERT INTO users (id, platform, workspace, external_id, quiet_start, quiet_end,"
            " reminders_on, weekly_summary, created_at) VALUES (?, 't', 'w', ?, '21:00', '08:00',"
            " 1, 0, ?)",
            (n, f"p{n}", now),
        )
        raw.execute(
            "INSERT INTO interviews (user_id, company, role, stage, outcome, debrief, created_at)"
            " VALUES (?, 'C', 'R', 'first_round', 'pending', '{}', ?)",
            (n, now),
        )
    raw.execute("INSERT INTO processed_events (key, created_at) VALUES ('k', ?)", (now,))
    raw.execute("DELETE FROM users WHERE id = 3")  # forgotten before the upgrade
    raw.commit()
    raw.close()

    db = open_database(url)
    with db.transaction() as s:
        assert s.execute(select(User.external_id).order_by(User.id)).scalars().all() == ["p1", "p2"]
        counts = s.execute(select(func.count()).select_from(ProcessedEvent)).scalar()
        interviews = s.execute(text("SELECT user_id FROM interviews ORDER BY user_id")).all()
        assert counts == 1 and [r[0] for r in interviews] == [1, 2]
        s.execute(User.__table__.delete().where(User.id == 2))
        s.add(User(platform="t", workspace="w", external_id="p4"))
    with db.transaction() as s:
        assert s.scalars(select(User.id).where(User.external_id == "p4")).one() == 3
    db.dispose()


def _install(db: Database, installer: str, team: str) -> None:
    store = SQLAlchemyInstallationStore(client_id="C1", engine=db.engine)
    store.save(
        Installation(
            app_id="A1",
            team_id=team,
            user_id=installer,
            user_token=f"xoxp-{installer}",
            bot_token=f"xoxb-{team}",
            bot_id="B1",
            bot_user_id="UBOT",
            installed_at=time.time(),
        )
    )


def test_forget_deletes_events_and_installer_rows_and_keeps_the_workspace_working(
    engine: Engine, clock: Clock, db: Database
) -> None:
    ada = EngineDriver(engine, UserKey("slack", "T1", "UADA"), clock)
    bo = EngineDriver(engine, UserKey("slack", "T1", "UBO"), clock)
    ada.text("hi")
    bo.text("hi")
    _install(db, "UADA", "T1")
    _install(db, "UBO", "T2")
    ada_id = _user_id(db, "UADA")
    with db.transaction() as s:
        assert s.scalar(select(func.count()).where(ProcessedEvent.user_id == ada_id)) == 1
    ada.text("forget me")
    ada.press("Yes, delete everything")
    forget_event = f"slack:T1:UADA-{ada._events}"
    with db.transaction() as s:
        events = {e.key: e.user_id for e in s.scalars(select(ProcessedEvent))}
        installers = s.execute(select(SLACK_INSTALLATIONS.c.user_id)).scalars().all()
    assert events == {forget_event: None, "slack:T1:UBO-1": _user_id(db, "UBO")}
    assert installers == ["UBO"]
    store = SQLAlchemyInstallationStore(client_id="C1", engine=db.engine)
    bot = store.find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and bot.bot_token == "xoxb-T1"
    # The platform retries the "yes" event: it is not answered again, nobody is re-created.
    retry = Inbound(user=ada.user, event_id=f"UADA-{ada._events}", choice="yes")
    assert engine.handle(retry) == []
    with db.transaction() as s:
        assert s.scalar(select(func.count()).where(User.external_id == "UADA")) == 0


def test_housekeeping_prunes_day_old_events_and_expired_files(
    engine: Engine, clock: Clock, db: Database, settings: Settings
) -> None:
    from bot.coaching.files import new_file, prune_files, write_private

    driver = EngineDriver(engine, UserKey("discord", "@me", "kai"), clock)
    driver.text("hi")
    clock.advance(hours=25)
    engine._next_housekeeping = 0.0  # the next turn is due to tidy up
    driver.text("help")
    with db.transaction() as s:
        keys = s.execute(select(ProcessedEvent.key)).scalars().all()
    assert keys == ["discord:@me:kai-2"]

    now = datetime(2026, 11, 23, tzinfo=UTC)
    old = new_file(settings, 7, "progress", ".png", now)
    fresh = new_file(settings, 7, "progress", ".png", now + timedelta(seconds=1))
    write_private(old, b"old")
    write_private(fresh, b"new")
    os.utime(old, (time.time() - 25 * 3600,) * 2)
    assert prune_files(settings) == 1
    assert _files(Path(settings.data_dir)) == [fresh]


def test_a_scheduler_process_prunes_processed_events_with_no_turn_taken(
    engine: Engine, clock: Clock, db: Database, settings: Settings
) -> None:
    """Issue 14 item 19: the scheduler is the one long-lived process every deployment has; its
    polls run the same housekeeping as turns do, so events past the retry window go even when
    nobody is talking (a quiet night, or web workers that were scaled to zero)."""
    from bot.reminders.scheduler import ReminderScheduler

    driver = EngineDriver(engine, UserKey("slack", "T1", "U1"), clock)
    driver.text("hi")
    driver.text("help")
    clock.advance(hours=23)
    driver.text("start over")  # recent: within the window, kept
    engine._next_housekeeping = float("inf")  # turns in this process have stopped tidying
    clock.advance(hours=2)
    scheduler_engine = Engine(db, settings, engine.registry, clock=clock)  # another process
    scheduler = ReminderScheduler(scheduler_engine, {})
    scheduler.start()
    try:
        with db.transaction() as s:
            keys = s.execute(select(ProcessedEvent.key)).scalars().all()
    finally:
        scheduler.stop()
    assert keys == ["slack:T1:U1-3"]
