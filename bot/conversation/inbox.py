"""The durable inbox: acknowledge now, take the turn in a worker, lose nothing if it dies.

A platform that wants an answer within seconds (Slack: 3 s, and it retries) is answered by a
process that does nothing else: it verifies the request, writes it here (:meth:`Inbox.put`) and
acknowledges. Workers claim waiting rows in arrival order (:meth:`Inbox.claim`), take the turns,
post the answers and delete the rows (:meth:`Inbox.done`).

The claim is a lease, the same pattern as the reminder scheduler's ``claimed`` rows and
``scheduler_lease``: a claimed row carries its worker's id and an expiry. A worker that dies
(SIGKILL, OOM, a lost host) leaves its rows claimed until the lease runs out; then any worker
claims them again. That second try is safe because the engine records each platform event id
in the turn's own transaction: a turn that had committed is not taken again, one that had not
is taken now, so each event is answered once. On PostgreSQL the claim uses ``FOR UPDATE SKIP
LOCKED``, so workers never wait on each other; on SQLite the claim's transaction holds the
write lock (BEGIN IMMEDIATE) and claims serialise, which is what one process needs anyway.

The payload is opaque here (the adapter's own serialisation); the person's identity is kept
beside it so ``forget me`` deletes what is still waiting.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.conversation.messages import UserKey
from bot.storage.db import Database
from bot.storage.models import InboxItem, ProcessedEvent

log = logging.getLogger(__name__)

# A turn takes milliseconds; a worker that has not finished a claimed row in this long is gone.
CLAIM_TTL = timedelta(seconds=20)
# A row claimed this many times without being finished kills its workers: drop it, say so.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Item:
    """One claimed event: its row id, the adapter's payload, and how many times it was tried."""

    id: int
    key: str
    payload: str
    attempts: int


def new_worker_id() -> str:
    """A worker id unique to this instance; host and pid are only a label for people."""
    return f"{uuid.uuid4().hex[:12]} {socket.gethostname()}:{os.getpid()}"[:120]


class Inbox:
    """The ``inbox`` table: put (ack side), claim / done (worker side)."""

    def __init__(self, db: Database, ttl: timedelta = CLAIM_TTL) -> None:
        self.db = db
        self.ttl = ttl

    def put_many(self, events: list[tuple[str, UserKey, str]]) -> list[bool]:
        """Store several events in one transaction (one commit, one flush of the log to disk
        for all of them); for each, False when its key was already waiting (a retry)."""
        if not events:
            return []
        if self.db.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        now = datetime.now(UTC)
        rows = [
            {
                "key": key[:200],
                "platform": user.platform[:20],
                "workspace": user.workspace[:64],
                "external_id": user.user_id[:64],
                "payload": payload,
                "received_at": now,
                "attempts": 0,
            }
            for key, user, payload in events
        ]
        statement = (
            insert(InboxItem)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(InboxItem.key)
        )
        with self.db.sessions() as session, session.begin(), self.db.pipelined(session):
            stored = set(session.scalars(statement).all())
        out = []
        for row in rows:  # the first of two equal keys in one batch is the one stored
            out.append(row["key"] in stored)
            stored.discard(row["key"])
        return out

    def put(self, key: str, user: UserKey, payload: str) -> bool:
        """Store one event; False when an event with this key is already waiting (a retry).

        Returns only after the row is committed: the caller acknowledges after this, so an
        acknowledged event is never only in memory."""
        row = InboxItem(
            key=key[:200],
            platform=user.platform[:20],
            workspace=user.workspace[:64],
            external_id=user.user_id[:64],
            payload=payload,
            received_at=datetime.now(UTC),
            attempts=0,
        )
        try:
            with self.db.transaction() as session:
                session.add(row)
        except IntegrityError:
            return False
        return True

    def claim(self, worker: str, limit: int = 16) -> list[Item]:
        """Up to ``limit`` waiting (or abandoned: lease expired) events, oldest first, now ours.

        Rows tried ``MAX_ATTEMPTS`` times are deleted instead, with one log line (never the
        payload): an event that kills every worker that takes it must not stop the queue."""
        now = datetime.now(UTC)
        free = or_(InboxItem.claimed_until.is_(None), InboxItem.claimed_until < now)
        with self.db.transaction() as session:
            rows = session.execute(
                select(InboxItem.id, InboxItem.key, InboxItem.payload, InboxItem.attempts)
                .where(free)
                .order_by(InboxItem.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            poison = [r.id for r in rows if r.attempts >= MAX_ATTEMPTS]
            if poison:
                log.error("dropped %d inbox events after %d tries each", len(poison), MAX_ATTEMPTS)
                session.execute(delete(InboxItem).where(InboxItem.id.in_(poison)))
                dropped = [r.key for r in rows if r.attempts >= MAX_ATTEMPTS]
                session.execute(
                    update(ProcessedEvent)
                    .where(ProcessedEvent.key.in_(dropped))
                    .values(replies=None)
                )
            items = [
                Item(r.id, r.key, r.payload, r.attempts + 1) for r in rows if r.id not in poison
            ]
            if items:
                session.execute(
                    update(InboxItem)
                    .where(InboxItem.id.in_([i.id for i in items]))
                    .values(
                        claimed_by=worker,
                        claimed_until=now + self.ttl,
                        attempts=InboxItem.attempts + 1,
                    )
                )
        return items

    def done(self, item_id: int, key: str | None = None) -> None:
        """The event was answered: forget it, and the replies its turn kept until they were sent
        (``processed_events.replies``, the same key), in one transaction."""
        with self.db.transaction() as session:
            session.execute(delete(InboxItem).where(InboxItem.id == item_id))
            if key is not None:
                session.execute(
                    update(ProcessedEvent)
                    .where(ProcessedEvent.key == key, ProcessedEvent.replies.is_not(None))
                    .values(replies=None)
                )

    def release(self, worker: str) -> None:
        """Give back what this worker claimed and did not finish (a clean shutdown)."""
        with self.db.transaction() as session:
            session.execute(
                update(InboxItem)
                .where(InboxItem.claimed_by == worker)
                .values(claimed_by=None, claimed_until=None, attempts=InboxItem.attempts - 1)
            )

    def waiting(self) -> int:
        """How many events are waiting or being worked on (for health checks and benchmarks)."""
        from sqlalchemy import func

        with self.db.transaction() as session:
            return int(session.execute(select(func.count()).select_from(InboxItem)).scalar_one())


class GroupCommit:
    """Acknowledgements that arrive while an inbox write is in flight share the next one.

    Under load, one transaction per acknowledgement means one commit (and one flush of the
    write-ahead log) per event; here every event that arrived meanwhile goes into the next
    transaction together. Alone, an event is written at once. Use from one event loop."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self._pending: list[tuple[str, UserKey, str, asyncio.Future[bool]]] = []
        self._writing = False
        self._task: asyncio.Future[None] | None = None

    async def put(self, key: str, user: UserKey, payload: str) -> bool:
        """Like :meth:`Inbox.put`: True once committed, False for a retry of a waiting event;
        raises what the database raised."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((key, user, payload, future))
        if not self._writing:
            self._writing = True
            self._task = asyncio.ensure_future(self._write())
        return await future

    async def _write(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    stored = await asyncio.to_thread(
                        self.inbox.put_many, [(k, u, p) for k, u, p, _ in batch]
                    )
                except Exception as exc:
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (*_, future), ok in zip(batch, stored, strict=True):
                    if not future.done():
                        future.set_result(ok)
        finally:
            self._writing = False
