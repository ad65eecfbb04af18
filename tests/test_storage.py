"""Schema: migrations match the models; SQLite runs in WAL with a busy timeout."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from bot.storage.db import Database, open_database
from bot.storage.models import Base


def test_migrations_match_models(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'm.db'}")
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models changed without a migration: {diff}"


def test_new_database_file_is_created_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "new.db"
    db = open_database(f"sqlite:///{path}")
    with db.transaction() as s:
        tables = {r[0] for r in s.execute(text("select name from sqlite_master"))}
    assert {"users", "conversations", "reminders", "alembic_version"} <= tables
    open_database(f"sqlite:///{path}")  # idempotent


def test_sqlite_pragmas(db: Database) -> None:
    with db.transaction() as s:
        assert s.execute(text("pragma journal_mode")).scalar() == "wal"
        assert s.execute(text("pragma busy_timeout")).scalar() == 30000
        assert s.execute(text("pragma foreign_keys")).scalar() == 1


def test_quick_head_revision_matches_alembic() -> None:
    from alembic.script import ScriptDirectory

    from bot.storage.db import alembic_config, head_revision

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert head_revision() == script.get_current_head()


def test_outdated_database_is_migrated_on_open(tmp_path: Path) -> None:
    from alembic import command

    from bot.storage.db import alembic_config, head_revision

    url = f"sqlite:///{tmp_path / 'old.db'}"
    open_database(url).dispose()
    command.downgrade(alembic_config(url), "-1")  # one migration behind (or empty)
    reopened = open_database(url)
    with reopened.transaction() as s:
        assert (
            s.execute(text("select version_num from alembic_version")).scalar() == head_revision()
        )
        assert s.execute(text("select count(*) from users")).scalar() == 0


def test_echo_and_pool_size_come_from_the_database_settings(tmp_path: Path) -> None:
    from bot.app import build
    from bot.config import DatabaseSettings, load_settings

    settings = load_settings(
        None,
        data_dir=str(tmp_path),
        database={"url": f"sqlite:///{tmp_path / 'e.db'}", "echo": True, "pool_size": 3},
    )
    engine = build(settings).engine  # the composition root every command uses
    assert engine.db.engine.echo is True
    engine.db.dispose()
    options = DatabaseSettings(pool_size=3, lock_timeout_seconds=2)
    pg = Database("postgresql+psycopg://u@127.0.0.1/x", settings=options)  # never connects
    assert pg.engine.pool.size() == 3  # type: ignore[attr-defined]
    assert pg.engine.pool._max_overflow == 3  # type: ignore[attr-defined]
    pg.dispose()
