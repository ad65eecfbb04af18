"""Shared helpers for the reminder tests: people, rows, a recording sender, a stepping clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, Reply, UserKey
from bot.conversation.sender import Recipient
from bot.reminders.schedule import add_reminder
from bot.reminders.scheduler import ReminderScheduler
from bot.storage.db import Database
from bot.storage.models import Conversation, Interview, Reminder, User

from .conftest import Clock


@dataclass
class Delivery:
    user: str
    at: datetime
    replies: list[Reply]

    @property
    def text(self) -> str:
        return " ".join(r.text for r in self.replies)


@dataclass
class Inbox:
    """A sender that records what it was given (and when, by the test clock)."""

    clock: Callable[[], datetime]
    platform: str = "terminal"
    fail: Callable[[Recipient], None] | None = None
    sent: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deliver(self, recipient: Recipient, replies: Sequence[Reply]) -> None:
        if self.fail is not None:
            self.fail(recipient)
        with self.lock:
            self.sent.append(Delivery(recipient.user.user_id, self.clock(), list(replies)))

    def to(self, name: str) -> list[Delivery]:
        return [d for d in self.sent if d.user == name]


def meet(engine: Engine, name: str, zone: str | None = None, quiet: str = "21:00-08:00") -> UserKey:
    """A person who has said hello and confirmed the time zone, as the welcome flow does."""
    key = UserKey("terminal", "local", name)
    engine.handle(Inbound(user=key, text="hi"))
    engine.handle(Inbound(user=key, text="1"))
    start, end = quiet.split("-")
    with engine.db.transaction() as s:
        user = find(s, key)
        user.timezone, user.quiet_start, user.quiet_end = zone, start, end
        conv = s.scalars(select(Conversation).where(Conversation.user_id == user.id)).one()
        conv.updated_at = conv.updated_at - timedelta(hours=1)  # not mid-conversation
    return key


def find(session: Any, key: UserKey) -> User:
    return session.scalars(select(User).where(User.external_id == key.user_id)).one()


def remind(
    db: Database,
    key: UserKey,
    kind: str,
    due: datetime,
    *,
    ref_id: int | None = None,
    payload: dict[str, Any] | None = None,
    raw: bool = False,
) -> int:
    """Add a reminder; ``raw`` stores ``due`` as given (no quiet-hours move), like a stale row."""
    with db.transaction() as s:
        user = find(s, key)
        if raw:
            row = Reminder(user_id=user.id, kind=kind, due_at=due, ref_id=ref_id,
                           payload=payload or {}, status="pending", attempts=0,
                           created_at=due)  # fmt: skip
            s.add(row)
            s.flush()
            return row.id
        return add_reminder(s, user, kind, due, ref_id=ref_id, payload=payload, now=due).id


def interview(db: Database, key: UserKey, company: str = "Acme", role: str = "Analyst") -> int:
    with db.transaction() as s:
        row = Interview(user_id=find(s, key).id, company=company, role=role,
                        happens_at=datetime(2026, 1, 1, tzinfo=UTC),
                        decision_by=date(2026, 1, 2))  # fmt: skip
        s.add(row)
        s.flush()
        return row.id


def status(db: Database, reminder_id: int) -> str:
    with db.transaction() as s:
        row = s.get(Reminder, reminder_id)
        return "deleted" if row is None else row.status


def row(db: Database, reminder_id: int) -> Reminder:
    with db.transaction() as s:
        found = s.get(Reminder, reminder_id)
        assert found is not None
        return found


def step(
    clock: Clock, scheduler: ReminderScheduler, until: datetime, every: timedelta
) -> None:
    """Move the clock forward in steps, one scheduler pass per step (the poll, compressed)."""
    while clock.now < until:
        clock.now = min(clock.now + every, until)
        scheduler.run_pending()
