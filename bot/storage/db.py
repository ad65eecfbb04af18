"""The session factory and schema upgrades for SQLite and PostgreSQL alike.

SQLite is the zero-setup default: WAL so readers never block the writer, a busy timeout, and
every transaction begun ``IMMEDIATE``. A deferred transaction that reads and then writes gets
SQLITE_BUSY at the write despite the busy timeout; taking the write lock at BEGIN makes a second
writer wait its turn instead. On PostgreSQL the engine's turn takes a row lock on the person,
and every session carries ``lock_timeout``, ``statement_timeout`` and
``idle_in_transaction_session_timeout`` so that nothing waits on a stuck transaction for long.

Everything Rebound stores is personal, so a new SQLite file is created readable by its owner
only (0600); SQLite gives its -wal and -shm files the same mode as the database file.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.config import DatabaseSettings

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Database:
    """One SQLAlchemy engine and its sessions. ``transaction()`` is one unit of work."""

    def __init__(
        self,
        url: str,
        echo: bool | None = None,
        pool_size: int | None = None,
        settings: DatabaseSettings | None = None,
    ) -> None:
        """``settings`` gives echo, pool size and timeouts; ``echo``/``pool_size`` override it."""
        options = settings or DatabaseSettings()
        echo = options.echo if echo is None else echo
        pool_size = options.pool_size if pool_size is None else pool_size
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        # hide_parameters: an error or an echoed statement never shows the values bound to it
        # (people's words, tokens); only the SQL.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.is_sqlite:
            database = self.url.database or ""
            if database and database != ":memory:":
                _create_private_file(Path(database).expanduser())
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            # A connection whose backend was terminated while idle in the pool is replaced at
            # checkout instead of failing the next turn: pinged when idle (``_ping_when_idle``).
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
            # Kept after any ``?options=...`` the URL already carries (e.g. a search_path).
            given = self.url.query.get("options")
            given = given if isinstance(given, str) else " ".join(given or ())
            kwargs["connect_args"] = {"options": f"{given} {_pg_timeouts(options)}".strip()}
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _tune_sqlite(self.engine)
        else:
            _ping_when_idle(self.engine)
            _sync_pipelines(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def pipelined(self, session: Session) -> Iterator[None]:
        """PostgreSQL: the statements run inside go to the server in one round trip with the
        BEGIN that psycopg sends before a transaction's first statement (libpq pipeline mode,
        synced after each statement so results read as usual). Elsewhere: nothing changes."""
        if self.is_sqlite:
            yield
            return
        connection = session.connection()
        raw = connection.connection.driver_connection
        pipeline = getattr(raw, "pipeline", None)
        if pipeline is None:
            yield
            return
        with pipeline() as pipe:
            connection.info["pipeline"] = pipe
            try:
                yield
            finally:
                connection.info.pop("pipeline", None)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Commit on success, roll back on any exception."""
        with self.sessions.begin() as session:
            yield session

    def transaction_id(self, session: Session) -> int | None:
        """PostgreSQL: the id of the session's transaction, to ask about after a lost COMMIT."""
        if self.is_sqlite:
            return None
        return int(session.execute(text("SELECT txid_current()")).scalar_one())

    def committed(self, xid: int | None, tries: int = 10) -> bool | None:
        """Did transaction ``xid`` commit? True or False; None when it cannot be known.

        PostgreSQL's ``txid_status`` exists for exactly this: a client that lost its
        connection while COMMIT was in flight asks, on a new connection, how it ended. A
        backend that is still exiting reports "in progress" for a moment, hence the retries.
        """
        if xid is None:
            return None
        for attempt in range(tries):
            try:
                with self.engine.connect() as conn:
                    status = conn.execute(text("SELECT txid_status(:x)"), {"x": xid}).scalar()
            except Exception as exc:
                log.warning("cannot ask how a transaction ended (%s)", type(exc).__name__)
                return None
            if status in ("committed", "aborted"):
                return status == "committed"
            time.sleep(0.02 * (attempt + 1))
        return None

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (safe to call when already there)."""
        with self.engine.connect() as connection:
            if self.is_sqlite:
                # A batch migration copies a table and drops the old one; with foreign keys on,
                # dropping ``users`` would cascade-delete every person's rows. The pragma only
                # takes effect outside a transaction, hence the raw connection, before BEGIN.
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            try:
                with connection.begin():
                    if self.is_sqlite:
                        _migrate(connection, self.url)
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise RuntimeError(f"migration broke {len(broken)} foreign keys")
                    else:
                        # A migration may take longer than a turn is allowed to.
                        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
                        connection.exec_driver_sql("SET LOCAL lock_timeout = 0")
                        # Several processes may start at once: only one migrates, others wait.
                        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7242001)")
                        _migrate(connection, self.url)
            finally:
                if self.is_sqlite:
                    connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]

    def dispose(self) -> None:
        self.engine.dispose()


def _migrate(connection: Any, url: Any) -> None:
    from alembic import command

    cfg = alembic_config(url.render_as_string(hide_password=False))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _pg_timeouts(options: DatabaseSettings) -> str:
    """libpq ``options``: the server applies these to every session the pool opens."""
    values = {
        "lock_timeout": options.lock_timeout_seconds,
        "statement_timeout": options.statement_timeout_seconds,
        "idle_in_transaction_session_timeout": options.idle_in_transaction_timeout_seconds,
    }
    return " ".join(f"-c {name}={round(seconds * 1000)}" for name, seconds in values.items())


def _create_private_file(path: Path) -> None:
    """Create the database file 0600 (in a folder made 0700) before SQLite opens it.

    An existing file keeps the mode its owner gave it.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


# A pooled connection unused for this long is pinged before use; one in steady use is not, so
# a busy process pays no extra round trip per turn. A backend that died under a connection in
# use fails that turn's first statement instead, and the engine retries it once on a fresh one.
PING_IDLE_SECONDS = 2.0


def _ping_when_idle(engine: Engine) -> None:
    """``pool_pre_ping``, but only for connections idle longer than ``PING_IDLE_SECONDS``."""
    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["used"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        used = record.info.get("used")
        if used is None or time.monotonic() - used < PING_IDLE_SECONDS:
            return  # new (just connected) or in steady use
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError() from exc
        if not alive:
            raise DisconnectionError()


def _sync_pipelines(engine: Engine) -> None:
    @event.listens_for(engine, "after_cursor_execute")
    def _sync(conn: Any, *_args: Any) -> None:
        pipe = conn.info.get("pipeline")
        if pipe is not None:
            pipe.sync()


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
    url: str,
    echo: bool | None = None,
    pool_size: int | None = None,
    migrate: bool = True,
    settings: DatabaseSettings | None = None,
) -> Database:
    """Open the database; a new or outdated one is migrated first, so there is no extra step."""
    db = Database(url, echo=echo, pool_size=pool_size, settings=settings)
    if migrate and not is_current(db):
        db.upgrade()
    return db
