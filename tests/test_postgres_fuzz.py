"""The property test over the engine, on PostgreSQL: the same guarantees as on SQLite."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import load_settings
from bot.conversation.engine import Engine
from bot.storage.db import Database
from tests.behaviour import production

from .conftest import Clock
from .test_fuzz import actions, play
from .test_postgres import PG_URL, create_database, drop_database, pytestmark  # noqa: F401


@pytest.fixture(scope="module")
def pg_engine() -> Iterator[tuple[Engine, Clock]]:
    assert PG_URL
    url, admin, name = create_database(PG_URL)
    clock = Clock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    settings = load_settings(None, data_dir=tempfile.mkdtemp())
    engine = Engine(Database(url), settings, production(), clock=clock)
    yield engine, clock
    engine.db.dispose()
    drop_database(admin, name)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=25))
def test_engine_fuzz_on_postgres(
    pg_engine: tuple[Engine, Clock], moves: list[tuple[str, object]]
) -> None:
    engine, clock = pg_engine
    play(engine, clock, moves)
