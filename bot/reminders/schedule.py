"""The reminders table is the source of truth: what to remind whom, and when (in UTC).

Any process may add, move or cancel rows here inside its own transaction; the single scheduler
process only times and delivers them. Local wall-clock times are converted with the person's
IANA zone, and anything that would land in their quiet hours moves to the next allowed minute.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.storage.models import Reminder, User

KINDS = (
    "debrief",
    "decision",
    "feedback_follow_up",
    "plan_action",
    "paused_check_in",
    "weekly_summary",
)


def _hhmm(value: str) -> time:
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def zone_of(user: User, default_zone: str) -> ZoneInfo:
    return ZoneInfo(user.timezone or default_zone)


def wall_clock_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Local wall-clock time to UTC, DST-safe.

    A time skipped by spring-forward (01:30 in London on the last Sunday of March) does not
    exist; with ``fold=0`` Python reads it with the offset in force before the jump, which lands
    it just after the gap (02:30 BST). A time that happens twice at fall-back takes the first.
    """
    return datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(UTC)


def local_time(user: User, default_zone: str, day: date, hhmm: str) -> datetime:
    """``hhmm`` on ``day`` in the person's zone, as an aware UTC datetime."""
    return wall_clock_to_utc(day, _hhmm(hhmm), zone_of(user, default_zone))


def in_quiet_hours(moment: datetime, zone: ZoneInfo, start: str, end: str) -> bool:
    local = moment.astimezone(zone).time()
    quiet_from, quiet_to = _hhmm(start), _hhmm(end)
    if quiet_from == quiet_to:
        return False
    if quiet_from < quiet_to:
        return quiet_from <= local < quiet_to
    return local >= quiet_from or local < quiet_to  # overnight, e.g. 21:00-08:00


def out_of_quiet_hours(moment: datetime, zone: ZoneInfo, start: str, end: str) -> datetime:
    """The first allowed minute at or after ``moment``."""
    if not in_quiet_hours(moment, zone, start, end):
        return moment
    local = moment.astimezone(zone)
    quiet_to = _hhmm(end)
    day = local.date()
    if local.time() >= quiet_to:  # in the evening part of an overnight window
        day += timedelta(days=1)
    return wall_clock_to_utc(day, quiet_to, zone)


def add_reminder(
    session: Session,
    user: User,
    kind: str,
    due_at: datetime,
    *,
    ref_id: int | None = None,
    payload: dict[str, Any] | None = None,
    now: datetime | None = None,
    default_zone: str = "UTC",
) -> Reminder:
    """Store a reminder, moved out of the person's quiet hours."""
    if kind not in KINDS:
        raise ValueError(f"unknown reminder kind {kind!r}")
    if due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    zone = zone_of(user, default_zone)
    due = out_of_quiet_hours(due_at.astimezone(UTC), zone, user.quiet_start, user.quiet_end)
    reminder = Reminder(
        user_id=user.id,
        kind=kind,
        due_at=due,
        ref_id=ref_id,
        payload=payload or {},
        status="pending",
        attempts=0,
        created_at=now or datetime.now(UTC),
    )
    session.add(reminder)
    session.flush()
    return reminder


def cancel_reminders(
    session: Session, user: User, *, kind: str | None = None, ref_id: int | None = None
) -> int:
    """Cancel the person's pending reminders (of one kind, for one thing); returns how many."""
    stmt = update(Reminder).where(Reminder.user_id == user.id, Reminder.status == "pending")
    if kind is not None:
        stmt = stmt.where(Reminder.kind == kind)
    if ref_id is not None:
        stmt = stmt.where(Reminder.ref_id == ref_id)
    result = session.execute(
        stmt.values(status="cancelled"), execution_options={"synchronize_session": False}
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
