"""The reminders table is the source of truth: what to remind whom, and when (in UTC).

Any process may add, move or cancel rows here inside its own transaction; the single scheduler
process only times and delivers them (``bot.reminders.scheduler``). Local wall-clock times are
converted with the person's IANA zone, and anything that would land in their quiet hours moves
to the next allowed minute. Every "local" computation goes through :func:`wall_clock_to_utc`, so
a daylight-saving change can neither skip a reminder nor fire it twice: each row is one instant.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.storage.models import Reminder, User, owned

KINDS = (
    "debrief",
    "decision",
    "feedback_follow_up",
    "plan_action",
    "plan_halfway",
    "paused_check_in",
    "weekly_summary",
    "staff_digest",  # a workspace's weekly anonymous figures, booked under the admin who asked
)
# A row's life: pending -> claimed -> sending -> sent, or one of the other endings.
# claimed: taken by the scheduler, nothing handed to a sender yet (safe to take back).
# sending: handed to a sender; if the process dies now nobody knows if it arrived (never resent).
STATUSES = (
    "pending", "claimed", "sending", "sent", "failed", "cancelled", "skipped",
    "missed", "folded", "interrupted",
)  # fmt: skip
SNOOZES = ("hour", "tomorrow", "week")
WEEKLY_DAY = 0  # Monday
WEEKLY_TIME = "09:00"


def _hhmm(value: str) -> time:
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def zone_of(user: User, default_zone: str) -> ZoneInfo:
    return ZoneInfo(user.timezone or default_zone)


def wall_clock_to_utc(day: date, at: time, zone: ZoneInfo, fold: int = 0) -> datetime:
    """Local wall-clock time to UTC, DST-safe.

    A time skipped by spring-forward (01:30 in London on the last Sunday of March) does not
    exist; with ``fold=0`` Python reads it with the offset in force before the jump, which lands
    it just after the gap (02:30 BST). A time that happens twice at fall-back takes the first
    (``fold=1``: the second).
    """
    return datetime.combine(day, at).replace(tzinfo=zone, fold=fold).astimezone(UTC)


def local_time(user: User, default_zone: str, day: date, hhmm: str) -> datetime:
    """``hhmm`` on ``day`` in the person's zone, as an aware UTC datetime."""
    return wall_clock_to_utc(day, _hhmm(hhmm), zone_of(user, default_zone))


def in_quiet_hours(moment: datetime, zone: ZoneInfo, start: str, end: str) -> bool:
    """True when the local wall clock at ``moment`` reads inside ``start``-``end``."""
    local = moment.astimezone(zone).time()
    quiet_from, quiet_to = _hhmm(start), _hhmm(end)
    if quiet_from == quiet_to:
        return False
    if quiet_from < quiet_to:
        return quiet_from <= local < quiet_to
    return local >= quiet_from or local < quiet_to  # overnight, e.g. 21:00-08:00


def out_of_quiet_hours(moment: datetime, zone: ZoneInfo, start: str, end: str) -> datetime:
    """The first allowed minute at or after ``moment``.

    Quiet hours are wall-clock hours. On a fall-back night the end of the window can happen
    twice (01:30, then 01:30 again an hour later); the first one that is still ahead wins, so
    the answer is never in the past (an earlier version returned the first 01:30 from inside the
    repeated hour, and a deferred reminder was deferred again on every pass).
    """
    if not in_quiet_hours(moment, zone, start, end):
        return moment
    local = moment.astimezone(zone)
    quiet_to = _hhmm(end)
    day = local.date()
    if local.time() >= quiet_to:  # in the evening part of an overnight window
        day += timedelta(days=1)
    for fold in (0, 1):
        candidate = wall_clock_to_utc(day, quiet_to, zone, fold)
        if candidate > moment:
            return candidate
    return wall_clock_to_utc(day + timedelta(days=1), quiet_to, zone)  # pragma: no cover


def allowed_from(user: User, default_zone: str, moment: datetime) -> datetime:
    """``moment`` moved out of this person's quiet hours (in their current zone)."""
    zone = zone_of(user, default_zone)
    return out_of_quiet_hours(moment.astimezone(UTC), zone, user.quiet_start, user.quiet_end)


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
    reminder = Reminder(
        user_id=user.id,
        kind=kind,
        due_at=allowed_from(user, default_zone, due_at),
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


def snooze_until(user: User, default_zone: str, now: datetime, choice: str) -> datetime:
    """When a snoozed reminder comes back: in an hour, tomorrow or next week, same local time.

    "Tomorrow" and "next week" keep the wall-clock time, so across a DST change they are 23 or
    25 hours (or 7 days +- 1 hour) away, as a person expects. Quiet hours still apply.
    """
    if choice not in SNOOZES:
        raise ValueError(f"unknown snooze {choice!r}")
    if choice == "hour":
        return allowed_from(user, default_zone, now + timedelta(hours=1))
    zone = zone_of(user, default_zone)
    local = now.astimezone(zone)
    day = local.date() + timedelta(days=1 if choice == "tomorrow" else 7)
    at = local.time().replace(second=0, microsecond=0, tzinfo=None)
    due = wall_clock_to_utc(day, at, zone)
    if in_quiet_hours(due, zone, user.quiet_start, user.quiet_end):
        # Snoozed at 23:00, "tomorrow" means tomorrow morning, not the morning after.
        due = wall_clock_to_utc(day, _hhmm(user.quiet_end), zone)
    return allowed_from(user, default_zone, due)


def rezone_reminders(
    session: Session, user: User, old_zone: str, default_zone: str, now: datetime
) -> int:
    """Re-book the person's pending reminders after their time zone changed; returns how many.

    Each was booked for a wall-clock time in the old zone (18:00 for a debrief, 09:30 on a
    plan action's day); it keeps that wall-clock time, now in the person's new zone
    (``user.timezone``), then moves out of their quiet hours as a new one would. One that would
    now lie in the past is due at once rather than skipped."""
    old, new = ZoneInfo(old_zone), zone_of(user, default_zone)
    if old.key == new.key:
        return 0
    moved = 0
    for reminder in session.scalars(
        select(Reminder).where(Reminder.user_id == user.id, Reminder.status == "pending")
    ):
        stored = reminder.due_at
        local = (stored if stored.tzinfo else stored.replace(tzinfo=UTC)).astimezone(old)
        due = wall_clock_to_utc(local.date(), local.time().replace(tzinfo=None), new)
        reminder.due_at = allowed_from(user, default_zone, max(due, now))
        moved += 1
    return moved


def reschedule(reminder: Reminder, due_at: datetime) -> None:
    """Put a reminder (delivered or not) back in the queue for ``due_at``, as if new."""
    reminder.status = "pending"
    reminder.due_at = due_at
    reminder.attempts = 0
    reminder.claimed_by = None
    reminder.claimed_at = None
    reminder.last_error = None


def next_weekly_summary(user: User, default_zone: str, now: datetime) -> datetime:
    """The next Monday 09:00 in the person's zone, strictly after ``now``."""
    zone = zone_of(user, default_zone)
    today = now.astimezone(zone).date()
    for ahead in range(8):
        day = today + timedelta(days=ahead)
        if day.weekday() == WEEKLY_DAY:
            due = allowed_from(user, default_zone, local_time(user, default_zone, day, WEEKLY_TIME))
            if due > now:
                return due
    raise AssertionError("unreachable: a Monday is always within 8 days")  # pragma: no cover


def upcoming(session: Session, user: User, limit: int = 8) -> list[Reminder]:
    """The person's pending reminders, soonest first (what ``reminders`` lists)."""
    return list(
        session.scalars(
            select(Reminder)
            .where(Reminder.user_id == user.id, Reminder.status == "pending")
            .order_by(Reminder.due_at, Reminder.id)
            .limit(limit)
        )
    )


def own_reminder(session: Session, user: User, reminder_id: object) -> Reminder | None:
    """The person's own reminder with this id; a forged id from elsewhere finds nothing."""
    return owned(session, Reminder, reminder_id, user.id)
