"""Where coaching decides that a reminder is due; ``bot.reminders.schedule`` stores and times it.

Kept in one place so the coaching code reads as "after an interview, check in that evening"
rather than as scheduling arithmetic.
"""

from __future__ import annotations

from datetime import date, timedelta

from bot.conversation.context import TurnContext
from bot.reminders.schedule import add_reminder, cancel_reminders, local_time
from bot.storage.models import FeedbackRequest, Interview, PlanAction


def _add(ctx: TurnContext, kind: str, due: object, ref_id: int) -> None:
    add_reminder(
        ctx.session, ctx.user, kind, due, ref_id=ref_id, now=ctx.now,  # type: ignore[arg-type]
        default_zone=ctx.settings.timezone,
    )  # fmt: skip


def plan_interview_reminders(
    ctx: TurnContext, interview: Interview, decision_on: date | None = None
) -> None:
    """A debrief check-in the evening of the interview; 'any news?' after the decision date."""
    reminders = ctx.settings.reminders
    zone = ctx.settings.timezone
    if decision_on is None and interview.happens_at is not None:
        day = interview.happens_at.astimezone(ctx.zone).date()
        due = local_time(ctx.user, zone, day, reminders.debrief_time)
        if due <= interview.happens_at:
            due = interview.happens_at + timedelta(hours=2)
        if due > ctx.now:
            _add(ctx, "debrief", due, interview.id)
    decision = decision_on or interview.decision_by
    if decision is not None:
        cancel_reminders(ctx.session, ctx.user, kind="decision", ref_id=interview.id)
        due = local_time(ctx.user, zone, decision + timedelta(days=1), "10:00")
        _add(ctx, "decision", due, interview.id)


def stop_interview_reminders(ctx: TurnContext, interview: Interview) -> None:
    for kind in ("debrief", "decision"):
        cancel_reminders(ctx.session, ctx.user, kind=kind, ref_id=interview.id)


def plan_feedback_follow_up(ctx: TurnContext, request: FeedbackRequest) -> None:
    days = ctx.settings.reminders.feedback_follow_up_days
    day = ctx.today + timedelta(days=days)
    due = local_time(ctx.user, ctx.settings.timezone, day, "10:00")
    cancel_reminders(ctx.session, ctx.user, kind="feedback_follow_up", ref_id=request.id)
    _add(ctx, "feedback_follow_up", due, request.id)


def plan_action_reminder(ctx: TurnContext, item: PlanAction) -> None:
    if item.due_on is None:
        return
    due = local_time(ctx.user, ctx.settings.timezone, item.due_on, "09:30")
    _add(ctx, "plan_action", due, item.id)
