"""Count the round trips a turn makes to the database, with SQLAlchemy event listeners.

One per statement sent, one per COMMIT or ROLLBACK, and one for the BEGIN that psycopg sends
before a transaction's first statement, unless that statement went in the same pipeline
(``Database.pipelined``). Pings of idle pooled connections are counted too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from bot.storage.db import Database


class RoundTrips:
    """Attach to a database; ``count`` grows with every round trip from then on."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        self.statements = 0
        engine = db.engine

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.info["begin_pending"] = True

        @event.listens_for(engine, "before_cursor_execute")
        def _statement(conn: Any, *_args: Any) -> None:
            self.count += 1
            self.statements += 1
            if conn.info.pop("begin_pending", False) and conn.info.get("pipeline") is None:
                self.count += 1  # BEGIN went on its own

        @event.listens_for(engine, "commit")
        def _commit(conn: Any) -> None:
            if not conn.info.pop("begin_pending", False):  # nothing sent: nothing to commit
                self.count += 1

        @event.listens_for(engine, "rollback")
        def _rollback(conn: Any) -> None:
            if not conn.info.pop("begin_pending", False):
                self.count += 1

        dialect = engine.dialect
        ping = dialect.do_ping

        def counted_ping(dbapi_connection: Any) -> bool:
            self.count += 1
            return bool(ping(dbapi_connection))

        dialect.do_ping = counted_ping  # type: ignore[method-assign]
