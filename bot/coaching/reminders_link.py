"""Where coaching decides that a reminder is due; ``bot.reminders.schedule`` stores and times it.

Kept in one place so the coaching code reads as "after an interview, check in that evening"
rather than as scheduling arithmetic.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from bot.conversation.context import TurnContext
from bot.storage.models import FeedbackRequest, Interview, PlanAction


def _schedule() -> Any:
    # Imported at call time: the coaching package must load even where reminders are not set up.
    from bot.reminders import schedule

    return schedule


def add_reminder(*args: Any, **kwargs: Any) -> Any:
    return _schedule().add_reminder(*args, **kwargs)


def cancel_reminders(*args: Any, **kwargs: Any) -> Any:
    return _schedule().cancel_reminders(*args, **kwargs)


def local_time(*args: Any, **kwargs: Any) -> Any:
    return _schedule().local_time(*args, **kwargs)


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
            add_reminder(ctx.session, ctx.user, "debrief", due, ref_id=interview.id, now=ctx.now)
    decision = decision_on or interview.decision_by
    if decision is not None:
        cancel_reminders(ctx.session, ctx.user, kind="decision", ref_id=interview.id)
        due = local_time(ctx.user, zone, decision + timedelta(days=1), "10:00")
        add_reminder(ctx.session, ctx.user, "decision", due, ref_id=interview.id, now=ctx.now)


def stop_interview_reminders(ctx: TurnContext, interview: Interview) -> None:
    for kind in ("debrief", "decision"):
        cancel_reminders(ctx.session, ctx.user, kind=kind, ref_id=interview.id)


def plan_feedback_follow_up(ctx: TurnContext, request: FeedbackRequest) -> None:
    days = ctx.settings.reminders.feedback_follow_up_days
    day = ctx.today + timedelta(days=days)
    due = local_time(ctx.user, ctx.settings.timezone, day, "10:00")
    cancel_reminders(ctx.session, ctx.user, kind="feedback_follow_up", ref_id=request.id)
    add_reminder(ctx.session, ctx.user, "feedback_follow_up", due, ref_id=request.id, now=ctx.now)


def plan_action_reminder(ctx: TurnContext, item: PlanAction) -> None:
    if item.due_on is None:
        return
    due = local_time(ctx.user, ctx.settings.timezone, item.due_on, "09:30")
    add_reminder(ctx.session, ctx.user, "plan_action", due, ref_id=item.id, now=ctx.now)
