"""The reminder kinds: when coaching books each one, whether it is still needed, what it is about.

``bot.reminders.schedule`` stores and times reminders; everything that depends on the *kind* of a
reminder is declared here, so the coaching code reads as "after an interview, check in that
evening" and the scheduler needs no edit for a new kind.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.conversation.context import TurnContext
from bot.conversation.registry import Registry
from bot.reminders.kinds import ReminderKind, StillNeeded
from bot.reminders.schedule import add_reminder, cancel_reminders, local_time
from bot.storage.models import (
    CommunitySettings,
    Conversation,
    FeedbackRequest,
    Interview,
    PlanAction,
    Reminder,
    User,
    owned,
)

REMINDER_FLOW = "reminders"


def _add(ctx: TurnContext, kind: str, due: object, ref_id: int) -> Reminder:
    return add_reminder(
        ctx.session, ctx.user, kind, due, ref_id=ref_id, now=ctx.now,  # type: ignore[arg-type]
        default_zone=ctx.settings.timezone,
    )  # fmt: skip


def plan_interview_reminders(
    ctx: TurnContext, interview: Interview, decision_on: date | None = None
) -> Reminder | None:
    """A debrief check-in the evening of the interview; 'any news?' after the decision date.
    Returns the debrief check-in, whose time (after quiet hours) is what the bot promises."""
    booked: Reminder | None = None
    reminders = ctx.settings.reminders
    zone = ctx.settings.timezone
    if decision_on is None and interview.happens_at is not None:
        day = interview.happens_at.astimezone(ctx.zone).date()
        due = local_time(ctx.user, zone, day, reminders.debrief_time)
        if due <= interview.happens_at:
            due = interview.happens_at + timedelta(hours=2)
        if due > ctx.now:
            booked = _add(ctx, "debrief", due, interview.id)
    decision = decision_on or interview.decision_by
    if decision is not None:
        cancel_reminders(ctx.session, ctx.user, kind="decision", ref_id=interview.id)
        due = local_time(ctx.user, zone, decision + timedelta(days=1), "10:00")
        _add(ctx, "decision", due, interview.id)
    return booked


def stop_interview_reminders(ctx: TurnContext, interview: Interview) -> None:
    for kind in ("debrief", "decision"):
        cancel_reminders(ctx.session, ctx.user, kind=kind, ref_id=interview.id)


def plan_feedback_follow_up(ctx: TurnContext, request: FeedbackRequest) -> None:
    days = ctx.settings.reminders.feedback_follow_up_days
    day = ctx.today + timedelta(days=days)
    due = local_time(ctx.user, ctx.settings.timezone, day, "10:00")
    cancel_reminders(ctx.session, ctx.user, kind="feedback_follow_up", ref_id=request.id)
    _add(ctx, "feedback_follow_up", due, request.id)


PLAN_KINDS = ("plan_action", "plan_halfway")
# A nudge halfway to the due date only when there is a real "halfway": at least this many days.
HALFWAY_MIN_DAYS = 3


def plan_action_reminder(ctx: TurnContext, item: PlanAction) -> bool:
    """A nudge on the due date, and one halfway there when it is far enough off, both at a
    morning hour (moved out of quiet hours like every reminder). True if the halfway one was
    booked."""
    if item.due_on is None:
        return False
    zone = ctx.settings.timezone
    _add(ctx, "plan_action", local_time(ctx.user, zone, item.due_on, "09:30"), item.id)
    days = (item.due_on - ctx.today).days
    if days < HALFWAY_MIN_DAYS:
        return False
    halfway = ctx.today + timedelta(days=days // 2)
    _add(ctx, "plan_halfway", local_time(ctx.user, zone, halfway, "09:30"), item.id)
    return True


def cancel_plan_reminders(session: Session, user: User, item_id: int) -> None:
    for kind in PLAN_KINDS:
        cancel_reminders(session, user, kind=kind, ref_id=item_id)


# ---------------------------------------------------------------------- the kinds
# One entry per kind: adding a kind is an entry here, a title in flows/_reminders.yaml and the
# code above that books it. ``reminder_is_<kind>`` conditions are made from this list.


def _interview_details(ctx: TurnContext, reminder: Reminder) -> dict[str, Any]:
    interview = owned(ctx.session, Interview, reminder.ref_id, ctx.user.id)
    if interview is None:
        return {}
    return {"interview_id": interview.id, "company": interview.company, "role": interview.role}


def _interview_pending(check_debrief: bool) -> StillNeeded:
    def not_needed(
        session: Session, reminder: Reminder, user: User, conv: Conversation | None
    ) -> str | None:
        interview = owned(session, Interview, reminder.ref_id, user.id)
        if interview is None:
            return "the interview was deleted"
        if interview.outcome != "pending":
            return "the outcome is already known"
        if check_debrief and interview.debrief:
            return "already debriefed"
        return None

    return not_needed


def _feedback_not_needed(
    session: Session, reminder: Reminder, user: User, conv: Conversation | None
) -> str | None:
    request = owned(session, FeedbackRequest, reminder.ref_id, user.id)
    if request is None:
        return "the feedback request was deleted"
    if request.reply != "waiting":
        return "the reply is already recorded"
    return None


def _feedback_details(ctx: TurnContext, reminder: Reminder) -> dict[str, Any]:
    request = owned(ctx.session, FeedbackRequest, reminder.ref_id, ctx.user.id)
    if request is None:
        return {}
    out: dict[str, Any] = {"feedback_id": request.id}
    interview = owned(ctx.session, Interview, request.interview_id, ctx.user.id)
    if interview is not None:
        out.update(interview_id=interview.id, company=interview.company, role=interview.role)
    return out


def _plan_not_needed(
    session: Session, reminder: Reminder, user: User, conv: Conversation | None
) -> str | None:
    item = owned(session, PlanAction, reminder.ref_id, user.id)
    if item is None:
        return "the plan action was deleted"
    if item.status != "open":
        return "the action is already done"
    return None


def _plan_details(ctx: TurnContext, reminder: Reminder) -> dict[str, Any]:
    item = owned(ctx.session, PlanAction, reminder.ref_id, ctx.user.id)
    return {} if item is None else {"action_id": item.id, "action_title": item.title}


def _check_in_not_needed(
    session: Session, reminder: Reminder, user: User, conv: Conversation | None
) -> str | None:
    # Still paused, or sitting on a nudge we showed since: otherwise they came back.
    if conv is None or (conv.paused_at is None and conv.flow != REMINDER_FLOW):
        return "they carried on by themselves"
    return None


def _weekly_not_needed(
    session: Session, reminder: Reminder, user: User, conv: Conversation | None
) -> str | None:
    return None if user.weekly_summary else "the weekly summary is off"


def _digest_not_needed(
    session: Session, reminder: Reminder, user: User, conv: Conversation | None
) -> str | None:
    row = session.get(CommunitySettings, reminder.ref_id) if reminder.ref_id else None
    values = row.values if row is not None and isinstance(row.values, dict) else {}
    if row is None or row.platform != user.platform:
        return "the workspace's settings are gone"
    if not values.get("digest") or not values.get("staff_channel"):
        return "the weekly digest is off"
    return None


KINDS = (
    ReminderKind("debrief", _interview_pending(True), _interview_details),
    ReminderKind("decision", _interview_pending(False), _interview_details),
    ReminderKind("feedback_follow_up", _feedback_not_needed, _feedback_details),
    ReminderKind("plan_action", _plan_not_needed, _plan_details),
    ReminderKind("plan_halfway", _plan_not_needed, _plan_details),
    ReminderKind("paused_check_in", _check_in_not_needed, _interview_details),
    ReminderKind("weekly_summary", _weekly_not_needed),
    ReminderKind("staff_digest", _digest_not_needed),
)


def contribute(registry: Registry) -> None:
    """Declare the kinds, and one ``reminder_is_<kind>`` condition for each, for the flows."""
    for kind in KINDS:
        registry.reminder_kinds[kind.name] = kind
        registry.add_condition(f"reminder_is_{kind.name}", _kind_is(kind.name))
    registry.add_condition(
        "reminder_about_plan", lambda ctx: ctx.slots.get("reminder_kind") in PLAN_KINDS
    )


def _kind_is(name: str) -> Callable[[TurnContext], bool]:
    return lambda ctx: ctx.slots.get("reminder_kind") == name
