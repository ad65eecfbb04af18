"""The multi-process path on a real PostgreSQL: same code, row locks instead of BEGIN IMMEDIATE.

Runs when REBOUND_TEST_POSTGRES_URL points at a server (``.ci/run`` sets it to the machine's
local PostgreSQL); otherwise each test is skipped with that reason shown.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine as Engine_
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from bot.config import load_settings
from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey
from bot.storage.db import Database, open_database
from bot.storage.models import Conversation, User

from .conftest import copy_system_files

PG_URL = os.environ.get("REBOUND_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="REBOUND_TEST_POSTGRES_URL is not set")
FIXTURE_FLOWS = Path(__file__).resolve().parent / "fixtures" / "flows"


def create_database(url: str) -> tuple[str, Engine_, str]:
    """A fresh, migrated database beside the one ``url`` names: (its url, admin engine, name)."""
    name = f"rebound_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    open_database(db_url).dispose()
    return db_url, admin, name


def drop_database(admin: Engine_, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh database for this module, dropped afterwards."""
    assert PG_URL
    url, admin, name = create_database(PG_URL)
    yield url
    drop_database(admin, name)


def _demo_settings(folder: Path):  # type: ignore[no-untyped-def]
    if not folder.exists():
        shutil.copytree(FIXTURE_FLOWS, folder)
        copy_system_files(folder)
    return load_settings(None, flows_dir=str(folder), data_dir=str(folder / "out"))


def _worker(url: str, flows: str, people: int, rounds: int, tag: str, start: object) -> None:
    from tests.behaviour import demo

    engine = Engine(Database(url, pool_size=2), _demo_settings(Path(flows)), demo())
    start.wait()  # type: ignore[attr-defined]
    for r in range(rounds):
        for p in range(people):
            user = UserKey("slack", "T1", f"p{p}")
            replies = engine.handle(Inbound(user=user, text="demo", event_id=f"{tag}-{r}-{p}"))
            assert replies and "went wrong" not in replies[0].text


def test_two_processes_same_people_no_lost_update(pg_url: str, tmp_path: Path) -> None:
    """2 processes x 200 people, each sending the same people messages at the same moment."""
    from tests.behaviour import demo

    people, rounds = 200, 3
    settings = _demo_settings(tmp_path / "flows")
    engine = Engine(Database(pg_url), settings, demo())
    for p in range(people):
        engine.handle(Inbound(user=UserKey("slack", "T1", f"p{p}"), text="hello"))
    with engine.db.transaction() as s:
        before = {c.user_id: c.step for c in s.scalars(select(Conversation))}
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [
        ctx.Process(
            target=_worker,
            args=(pg_url, str(tmp_path / "flows"), people, rounds, tag, start),
        )
        for tag in ("a", "b")
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=300)
        assert proc.exitcode == 0
    with engine.db.transaction() as s:
        rows = s.execute(
            select(User.id, Conversation.step, Conversation.version).join(
                Conversation, Conversation.user_id == User.id
            )
        ).all()
    assert len(rows) == people
    for user_id, step, version in rows:
        # Each "demo" enters exactly one state: the serial outcome is +1 per message.
        assert step == before[user_id] + 2 * rounds, f"user {user_id} lost a turn"
        assert version == 1 + 2 * rounds


def test_retried_event_is_answered_once_across_engines(pg_url: str, tmp_path: Path) -> None:
    from tests.behaviour import demo

    settings = _demo_settings(tmp_path / "flows")
    one = Engine(Database(pg_url), settings, demo())
    two = Engine(Database(pg_url), settings, demo())
    user = UserKey("discord", "@me", "dup")
    one.handle(Inbound(user=user, text="hello"))
    first = one.handle(Inbound(user=user, text="demo", event_id="E-dup"))
    second = two.handle(Inbound(user=user, text="demo", event_id="E-dup"))
    assert first and second == []
