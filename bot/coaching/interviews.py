"""Interviews: logging them, picking one, debriefing, and recording the outcome.

Several interviews can be open at once, so flows that concern one interview carry its id in
the ``interview_id`` slot. Every lookup goes through :func:`own_interview`, which only ever
returns a row belonging to the person in this turn: a forged id from someone else's
conversation finds nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from bot.coaching.names import sign_name
from bot.coaching.reminder_kinds import plan_interview_reminders, stop_interview_reminders
from bot.coaching.templates import greeting, templates
from bot.coaching.themes import tag_choices, tag_text
from bot.conversation.context import TurnContext
from bot.conversation.registry import action, condition, option_provider
from bot.storage.models import Interview, owned

STAGES = {
    "screen": "phone or video screen",
    "first_round": "first round",
    "second_round": "second round",
    "assessment": "assessment or task",
    "final": "final round",
    "other": "interview",
}


def own_interview(ctx: TurnContext, interview_id: object = None) -> Interview | None:
    """The person's own interview with this id (default: the ``interview_id`` slot)."""
    raw = ctx.slots.get("interview_id") if interview_id is None else interview_id
    return owned(ctx.session, Interview, raw, ctx.user.id)


def describe(interview: Interview) -> str:
    return f"{interview.role} at {interview.company}"


def _fill_slots(ctx: TurnContext, interview: Interview) -> None:
    ctx.slots["interview_id"] = interview.id
    ctx.slots["company"] = interview.company
    ctx.slots["role"] = interview.role
    ctx.slots["interviewer"] = interview.interviewer or ""
    ctx.slots["stage_name"] = STAGES.get(interview.stage, "interview")


@action(
    "save_interview",
    provides=["interview_id", "when_text", "stage_name", "check_in_when", "check_in_booked"],
)
def save_interview(ctx: TurnContext) -> None:
    """Store the interview from the form and plan its debrief and 'any news?' check-ins."""
    when = ctx.slots.get("when")
    happens_at = datetime.fromisoformat(when).astimezone(UTC) if when else None
    decision = ctx.slots.get("decision_by")
    interview = Interview(
        user_id=ctx.user.id,
        company=str(ctx.slots.get("company") or "").strip()[:200] or "the company",
        role=str(ctx.slots.get("role") or "").strip()[:200] or "the role",
        stage=str(ctx.slots.get("stage") or "other"),
        interviewer=(str(ctx.slots.get("interviewer") or "").strip()[:200] or None),
        happens_at=happens_at,
        decision_by=date.fromisoformat(decision) if decision else None,
        created_at=ctx.now,
    )
    ctx.session.add(interview)
    ctx.session.flush()
    _fill_slots(ctx, interview)
    local = happens_at.astimezone(ctx.zone) if happens_at else None
    ctx.slots["when_text"] = f"{local:%A %d %B at %H:%M}" if local else "soon"
    check_in = plan_interview_reminders(ctx, interview)
    # The promise names the real time: quiet hours can move the check-in to the next morning.
    check_local = check_in.due_at.astimezone(ctx.zone) if check_in else None
    ctx.slots["check_in_when"] = f"{check_local:%A at %H:%M}" if check_local else ""
    ctx.slots["check_in_booked"] = "yes" if check_local else "no"


@action("quick_interview", provides=["interview_id", "stage_name"])
def quick_interview(ctx: TurnContext) -> None:
    """A rejection for an interview that was never logged: store the little we know."""
    interview = Interview(
        user_id=ctx.user.id,
        company=str(ctx.slots.get("company") or "").strip()[:200] or "the company",
        role=str(ctx.slots.get("role") or "").strip()[:200] or "the role",
        stage=str(ctx.slots.get("stage") or "other"),
        created_at=ctx.now,
    )
    ctx.session.add(interview)
    ctx.session.flush()
    _fill_slots(ctx, interview)


@option_provider("open_interviews", provides=["company", "role", "interviewer", "stage_name"])
def open_interviews(ctx: TurnContext) -> list[tuple[str, str]]:
    rows = ctx.session.scalars(
        select(Interview)
        .where(Interview.user_id == ctx.user.id, Interview.outcome == "pending")
        .order_by(Interview.happens_at.desc().nulls_last(), Interview.id.desc())
        .limit(8)
    )
    return [(str(r.id), describe(r)) for r in rows]


@condition("has_open_interviews")
def has_open_interviews(ctx: TurnContext) -> bool:
    return bool(open_interviews(ctx))


@condition("has_interview")
def has_interview(ctx: TurnContext) -> bool:
    return own_interview(ctx) is not None


@action("load_interview", provides=["company", "role", "interviewer", "stage_name"])
def load_interview(ctx: TurnContext) -> None:
    """Fill the interview's details into slots (after a pick, or from a reminder)."""
    interview = own_interview(ctx) or _named_open_interview(ctx)
    if interview is None:
        ctx.slots.pop("interview_id", None)
        return
    _fill_slots(ctx, interview)


def _named_open_interview(ctx: TurnContext) -> Interview | None:
    """The one open interview at the company the person named ("rejected from Stripe"), when
    no interview was picked yet; none if the name fits no open interview or several."""
    if ctx.slots.get("interview_id") or not ctx.slots.get("company"):
        return None
    name = str(ctx.slots["company"]).strip().lower()
    rows = ctx.session.scalars(
        select(Interview).where(
            Interview.user_id == ctx.user.id,
            Interview.outcome == "pending",
            func.lower(Interview.company) == name,
        )
    ).all()
    return rows[0] if len(rows) == 1 else None


@condition("interview_in_past")
def interview_in_past(ctx: TurnContext) -> bool:
    interview = own_interview(ctx)
    return bool(interview and interview.happens_at and interview.happens_at <= ctx.now)


@condition("decision_date_passed")
def decision_date_passed(ctx: TurnContext) -> bool:
    interview = own_interview(ctx)
    return bool(interview and interview.decision_by and interview.decision_by < ctx.today)


@action("save_debrief")
def save_debrief(ctx: TurnContext) -> None:
    """Keep the quick notes on the interview and tag themes in them."""
    interview = own_interview(ctx)
    if interview is None:
        return
    notes = {
        key: ctx.slots.get(key)
        for key in ("how", "asked", "off_guard", "nerves", "body")
        if ctx.slots.get(key)
    }
    interview.how_it_went = str(ctx.slots.get("how") or "")[:20] or None
    interview.debrief = {**(interview.debrief or {}), **notes}
    tag_text(ctx, interview.id, "debrief", " ".join(str(v) for v in notes.values()))
    # "They took over" is as much evidence of nerves as a word typed about them.
    tag_choices(ctx, interview.id, "debrief")


@condition("has_debrief")
def has_debrief(ctx: TurnContext) -> bool:
    """Notes were taken after the interview, so reflection needn't ask what they asked."""
    interview = own_interview(ctx)
    return bool(interview is not None and interview.debrief)


@action("record_offer")
def record_offer(ctx: TurnContext) -> None:
    _close(ctx, "offer")


@action("record_rejection")
def record_rejection(ctx: TurnContext) -> None:
    _close(ctx, "rejected")


def _close(ctx: TurnContext, outcome: str) -> None:
    interview = own_interview(ctx)
    if interview is None:
        return
    interview.outcome = outcome
    interview.closed_at = ctx.now
    stop_interview_reminders(ctx, interview)


@action("plan_news_check", provides=["check_day"])
def plan_news_check(ctx: TurnContext) -> None:
    """No news yet: look again after the decision date, or in a week if it already passed."""
    interview = own_interview(ctx)
    after = interview.decision_by if interview else None
    if after is None or after < ctx.today:
        after = ctx.today + timedelta(days=7)
    ctx.slots["check_day"] = f"{after + timedelta(days=1):%A %d %B}"
    if interview is not None:
        plan_interview_reminders(ctx, interview, decision_on=after)


@option_provider("recent_interviews", provides=["company", "role"])
def recent_interviews(ctx: TurnContext) -> list[tuple[str, str]]:
    rows = ctx.session.scalars(
        select(Interview)
        .where(Interview.user_id == ctx.user.id)
        .order_by(Interview.id.desc())
        .limit(6)
    )
    return [(str(r.id), describe(r)) for r in rows]


@condition("has_recent_interviews")
def has_recent_interviews(ctx: TurnContext) -> bool:
    return bool(recent_interviews(ctx))


@condition("has_interviewer_name")
def has_interviewer_name(ctx: TurnContext) -> bool:
    return bool(str(ctx.slots.get("interviewer") or "").strip())


@action("draft_follow_up_note", provides=["nudge"])
def draft_follow_up_note(ctx: TurnContext) -> None:
    """A polite 'any news?' note for when the decision date has passed in silence."""
    interview = own_interview(ctx)
    if interview is None:
        return
    words = templates(ctx)
    ctx.slots["nudge"] = words.follow_up.format(
        greeting=greeting(words, interview.interviewer),
        role=interview.role,
        company=interview.company,
        name=sign_name(ctx.user) or words.unnamed,
    ).rstrip("\n")
