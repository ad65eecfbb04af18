"""The session factory and schema upgrades for SQLite and PostgreSQL alike.

SQLite is the zero-setup default: WAL so readers never block the writer, a busy timeout, and
every transaction begun ``IMMEDIATE``. A deferred transaction that reads and then writes gets
SQLITE_BUSY at the write despite the busy timeout; taking the write lock at BEGIN makes a second
writer wait its turn instead. On PostgreSQL the engine's turn takes a row lock on the person.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Database:
    """One SQLAlchemy engine and its sessions. ``transaction()`` is one unit of work."""

    def __init__(self, url: str, echo: bool = False, pool_size: int = 5) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        # Parameters are people's words: keep them out of error messages and the echo log.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.is_sqlite:
            database = self.url.database or ""
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _tune_sqlite(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Commit on success, roll back on any exception."""
        with self.sessions.begin() as session:
            yield session

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (safe to call when already there)."""
        from alembic import command

        with self.engine.begin() as connection:
            if not self.is_sqlite:
                # Several processes may start at once: only one migrates, the others wait.
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7242001)")
            cfg = alembic_config(self.url.render_as_string(hide_password=False))
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\s*=\s*['\"]([^'\"]+)['\"]", re.M)


def head_revision() -> str | None:
    """The newest migration, read straight from the files (Alembic's own scan costs ~0.3 s).

    ``tests/test_storage.py`` checks this against Alembic's answer.
    """
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        if match := _REVISION.search(text):
            revisions.add(match.group(1))
        if match := _DOWN.search(text):
            parents.add(match.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def is_current(db: Database) -> bool:
    head = head_revision()
    if head is None:
        return False
    try:
        with db.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
    except Exception:
        return False


def open_database(
    url: str, echo: bool = False, pool_size: int = 5, migrate: bool = True
) -> Database:
    """Open the database; a new or outdated one is migrated first, so there is no extra step."""
    db = Database(url, echo=echo, pool_size=pool_size)
    if migrate and not is_current(db):
        db.upgrade()
    return db
