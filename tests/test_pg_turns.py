"""Turns on PostgreSQL under stuck locks, racing devices and terminated backends (issue 11).

- item 4: a person's row held by a stuck transaction gets them "try again" within the lock
  timeout, and other people's turns keep working (no pool exhaustion);
- item 5: one person typing from three processes at once: no error reply, every turn stored;
- item 12: a backend terminated before COMMIT is retried once on a fresh connection; a
  connection lost at COMMIT is never run blindly again.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select, text

from bot.config import DatabaseSettings
from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, Reply, UserKey
from bot.storage.db import Database
from bot.storage.models import Conversation, ThemeTag, User
from tests.behaviour import demo

from .test_postgres import PG_URL, _demo_settings, create_database, drop_database

pytestmark = pytest.mark.skipif(not PG_URL, reason="REBOUND_TEST_POSTGRES_URL is not set")
ERROR = "went wrong"


@pytest.fixture
def pg() -> Iterator[tuple[str, Any]]:
    """A fresh database per test (url, admin engine), dropped afterwards."""
    assert PG_URL
    url, admin, name = create_database(PG_URL)
    yield url, admin
    drop_database(admin, name)


def _ticker(engine: Engine, who: str) -> UserKey:
    """A person in the ``tick`` flow: every turn writes one row and counts one tick."""
    user = UserKey("slack", "T1", who)
    engine.handle(Inbound(user=user, text="hello"))
    assert "Ticked 1" in engine.handle(Inbound(user=user, text="tick"))[-1].text
    return user


def _stored(engine: Engine, who: str) -> tuple[int, int]:
    """(rows written, ticks counted) for a ticker: equal unless a half turn was stored."""
    with engine.db.transaction() as s:
        uid = s.scalars(select(User.id).where(User.external_id == who)).one()
        rows = s.scalar(select(func.count()).where(ThemeTag.user_id == uid)) or 0
        conv = s.scalars(select(Conversation).where(Conversation.user_id == uid)).one()
        return int(rows), int(conv.slots.get("ticks") or 0)


def _errors(replies: list[Reply]) -> int:
    return sum(ERROR in r.text for r in replies)


def test_sessions_carry_the_configured_timeouts(pg: tuple[str, Any]) -> None:
    options = DatabaseSettings(
        lock_timeout_seconds=1.5, statement_timeout_seconds=7, idle_in_transaction_timeout_seconds=9
    )
    # Options already in the URL (here a search_path) are kept beside the timeouts.
    db = Database(f"{pg[0]}?options=-c%20search_path%3Dpublic%2Cextra", settings=options)
    with db.engine.connect() as conn:
        shown = [
            conn.execute(text(f"SHOW {name}")).scalar()
            for name in (
                "lock_timeout",
                "statement_timeout",
                "idle_in_transaction_session_timeout",
                "search_path",
            )
        ]
    db.dispose()
    assert shown == ["1500ms", "7s", "9s", "public,extra"]


def test_a_stuck_row_lock_answers_try_again_and_others_carry_on(
    pg: tuple[str, Any], tmp_path: Path
) -> None:
    url, _ = pg
    options = DatabaseSettings(lock_timeout_seconds=0.5, pool_size=2)  # 2 + 2 overflow
    engine = Engine(Database(url, settings=options), _demo_settings(tmp_path / "flows"), demo())
    stuck, other = _ticker(engine, "stuck"), _ticker(engine, "other")
    other_client = create_engine(url)
    holder = other_client.connect()
    holder_tx = holder.begin()
    holder.execute(text("SELECT id FROM users WHERE external_id = 'stuck' FOR UPDATE"))
    results: list[list[Reply]] = []

    def turn(i: int) -> None:
        results.append(engine.handle(Inbound(user=stuck, text="x", event_id=f"s{i}")))

    threads = [threading.Thread(target=turn, args=(i,), daemon=True) for i in range(8)]
    try:
        for thread in threads:  # more turns than the pool has connections
            thread.start()
        others = [engine.handle(Inbound(user=other, text="x", event_id=f"o{i}")) for i in range(3)]
        for thread in threads:
            thread.join(timeout=60)  # a hang guard only: without lock_timeout they never return
        assert not any(t.is_alive() for t in threads), "a turn waited on the stuck lock forever"
    finally:
        holder_tx.rollback()
        holder.close()
        other_client.dispose()
    assert [_errors(r) for r in results] == [1] * 8
    assert [_errors(r) for r in others] == [0, 0, 0]
    assert _stored(engine, "other") == (4, 4)
    assert _stored(engine, "stuck") == (1, 1)  # nothing of a timed-out turn was kept
    assert _errors(engine.handle(Inbound(user=stuck, text="x"))) == 0  # lock released: fine
    engine.db.dispose()


def _device(url: str, flows: str, turns: int, tag: str, start: Any, out: Any) -> None:
    engine = Engine(Database(url, pool_size=2), _demo_settings(Path(flows)), demo())
    user = UserKey("slack", "T1", "busy")
    start.wait()
    errors = sum(
        _errors(engine.handle(Inbound(user=user, text="x", event_id=f"{tag}-{i}")))
        for i in range(turns)
    )
    out.put(errors)


def test_one_person_typing_from_three_processes_loses_nothing(
    pg: tuple[str, Any], tmp_path: Path
) -> None:
    """Issue 11 item 5: before the fix, 18 of 120 such turns got the error reply."""
    url, _ = pg
    flows = tmp_path / "flows"
    engine = Engine(Database(url), _demo_settings(flows), demo())
    _ticker(engine, "busy")
    devices, turns = 3, 30
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(devices), ctx.Queue()
    procs = [
        ctx.Process(target=_device, args=(url, str(flows), turns, f"d{k}", start, out))
        for k in range(devices)
    ]
    for proc in procs:
        proc.start()
    errors = [out.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert errors == [0] * devices
    assert _stored(engine, "busy") == (1 + devices * turns,) * 2
    engine.db.dispose()


def _kill_own_backend(admin: Any, dbapi_connection: Any) -> None:
    """Terminate the backend behind this connection, and wait until it has gone."""
    raw = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)  # unwrap the pool's
    pid = raw.info.backend_pid
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})


def test_a_backend_terminated_before_commit_is_retried_once(
    pg: tuple[str, Any], tmp_path: Path
) -> None:
    url, admin = pg
    engine = Engine(Database(url), _demo_settings(tmp_path / "flows"), demo())
    user = _ticker(engine, "cut")
    updates: list[int] = []
    doomed = {1, 3, 5, 7, 8}  # the first try of three turns, then both tries of a fourth

    @event.listens_for(engine.db.engine, "before_cursor_execute")
    def _cut(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE conversations"):
            updates.append(1)
            if len(updates) in doomed:
                _kill_own_backend(admin, conn.connection.dbapi_connection)

    replies = [engine.handle(Inbound(user=user, text="x", event_id=f"c{i}")) for i in range(3)]
    assert len(updates) == 6
    assert [_errors(r) for r in replies] == [0, 0, 0]
    assert [r[-1].text for r in replies] == ["Ticked 2.", "Ticked 3.", "Ticked 4."]
    assert _stored(engine, "cut") == (4, 4)  # each stored once
    # Lost again on the retry: one retry only, then "try again"; nothing of it stored.
    assert _errors(engine.handle(Inbound(user=user, text="x", event_id="c3"))) == 1
    assert len(updates) == 8 and _stored(engine, "cut") == (4, 4)
    engine.db.dispose()


def test_a_backend_terminated_at_commit_is_answered_once(
    pg: tuple[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed before the server saw COMMIT: txid_status says aborted, so one retry is safe."""
    url, admin = pg
    engine = Engine(Database(url), _demo_settings(tmp_path / "flows"), demo())
    user = _ticker(engine, "commit")
    dialect = engine.db.engine.dialect
    real_commit = dialect.do_commit
    kills: list[int] = []

    def commit_on_a_dead_backend(dbapi_connection: Any) -> None:
        if not kills:
            kills.append(1)
            _kill_own_backend(admin, dbapi_connection)
        real_commit(dbapi_connection)

    monkeypatch.setattr(dialect, "do_commit", commit_on_a_dead_backend)
    replies = engine.handle(Inbound(user=user, text="x", event_id="k1"))
    assert kills and _errors(replies) == 0 and replies[-1].text == "Ticked 2."
    assert _stored(engine, "commit") == (2, 2)
    engine.db.dispose()


@pytest.mark.parametrize("known", [True, False], ids=["status-known", "status-unknown"])
def test_a_commit_whose_answer_was_lost_is_never_run_twice(
    pg: tuple[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, known: bool
) -> None:
    """The server committed, then the connection died before saying so.

    Known outcome: the turn is answered as committed. Unknown (the server can't be asked):
    "try again", and the turn is not run a second time either way.
    """
    url, admin = pg
    engine = Engine(Database(url), _demo_settings(tmp_path / "flows"), demo())
    user = _ticker(engine, "lost")
    dialect = engine.db.engine.dialect
    real_commit = dialect.do_commit
    lost: list[int] = []

    def commit_then_lose_the_answer(dbapi_connection: Any) -> None:
        real_commit(dbapi_connection)
        if not lost:
            lost.append(1)
            _kill_own_backend(admin, dbapi_connection)
            dbapi_connection.dbapi_connection.execute("SELECT 1")  # fails: the answer is lost
            raise AssertionError("the backend outlived pg_terminate_backend")

    monkeypatch.setattr(dialect, "do_commit", commit_then_lose_the_answer)
    if not known:
        monkeypatch.setattr(engine.db, "committed", lambda xid: None)
    replies = engine.handle(Inbound(user=user, text="x", event_id="l1"))
    assert lost
    if known:
        assert _errors(replies) == 0 and replies[-1].text == "Ticked 2."
    else:
        assert _errors(replies) == 1
    assert _stored(engine, "lost") == (2, 2)  # stored exactly once
    assert engine.handle(Inbound(user=user, text="x", event_id="l1")) == []  # retry: seen
    engine.db.dispose()
