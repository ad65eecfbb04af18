"""Asking the employer for feedback: the email draft, whether it went, and what came back.

The draft is built from the person's own context and questions. It is polite, asks for what
went well as well as what to improve, and offers a short call at a time that suits the
interviewer, so they can prepare proper feedback rather than be put on the spot.
"""

from __future__ import annotations

import re

from bot.coaching.interviews import own_interview
from bot.coaching.reminder_kinds import plan_feedback_follow_up
from bot.coaching.templates import Templates, greeting, templates
from bot.coaching.themes import tag_text
from bot.conversation.context import TurnContext
from bot.conversation.registry import action, condition, option_provider
from bot.storage.models import FeedbackRequest, owned


def _points(text: str) -> list[str]:
    parts = [p.strip(" -•*\t") for p in re.split(r"[\n;]|(?<=[?.])\s+|,\s*(?=and\b)?", text)]
    return [p.rstrip("?.") for p in parts if len(p.strip()) > 2][:4]


def draft_email(
    words: Templates,
    company: str,
    role: str,
    interviewer: str,
    points: list[str],
    name: str,
    second: bool,
) -> str:
    """The draft, from ``flows/_templates.yaml``: the wording is there, the choices here."""
    email = words.feedback_second if second else words.feedback_first
    asks = [*email.always_ask, *points] or list(email.if_none)
    body = "\n".join(f"- {_lower_first(a)}" for a in dict.fromkeys(asks))
    return email.text.format(
        greeting=greeting(words, interviewer), role=role, company=company, asks=body, name=name
    ).rstrip("\n")


def _lower_first(text: str) -> str:
    """'How my answers came across' -> 'how my answers came across'; keeps 'SQL' and 'I'."""
    first = text.split(" ", 1)[0].rstrip("'’sm")
    if not text or first.isupper():
        return text
    return text[0].lower() + text[1:]


@action("draft_feedback_email", provides=["draft"])
def draft_feedback_email(ctx: TurnContext) -> None:
    interview = own_interview(ctx)
    words = templates(ctx)
    company = interview.company if interview else str(ctx.slots.get("company") or "")
    role = interview.role if interview else str(ctx.slots.get("role") or "")
    who = str(ctx.slots.get("interviewer") or (interview.interviewer if interview else "") or "")
    second = bool(ctx.slots.get("_second_request"))
    points = _points(str(ctx.slots.get("points") or ""))
    name = ctx.user.display_name or words.unnamed
    ctx.slots["draft"] = draft_email(
        words,
        company or words.some_company,
        role or words.some_role,
        who,
        points,
        name,
        second,
    )


@action("save_feedback_request", provides=["feedback_id"])
def save_feedback_request(ctx: TurnContext) -> None:
    """The person sent it: record the draft and check back in a few days."""
    request = FeedbackRequest(
        user_id=ctx.user.id,
        interview_id=ctx.slot_int("interview_id"),
        points=str(ctx.slots.get("points") or "")[:2000] or None,
        draft=str(ctx.slots.get("draft") or ""),
        round=2 if ctx.slots.get("_second_request") else 1,
        sent_at=ctx.now,
        created_at=ctx.now,
    )
    ctx.session.add(request)
    ctx.session.flush()
    ctx.slots["feedback_id"] = request.id
    plan_feedback_follow_up(ctx, request)


def own_request(ctx: TurnContext) -> FeedbackRequest | None:
    return owned(ctx.session, FeedbackRequest, ctx.slots.get("feedback_id"), ctx.user.id)


@action("load_feedback_request", provides=["company", "role", "interview_id"])
def load_feedback_request(ctx: TurnContext) -> None:
    request = own_request(ctx)
    if request is None:
        ctx.slots.pop("feedback_id", None)
        return
    interview = own_interview(ctx, request.interview_id) if request.interview_id else None
    ctx.slots["interview_id"] = request.interview_id
    ctx.slots["company"] = interview.company if interview else "the employer"
    ctx.slots["role"] = interview.role if interview else "the role"


@condition("has_feedback_request")
def has_feedback_request(ctx: TurnContext) -> bool:
    return own_request(ctx) is not None


@action("record_feedback_reply")
def record_feedback_reply(ctx: TurnContext) -> None:
    """Store what the reply said and tag its themes, so the plan can build on it."""
    request = own_request(ctx)
    if request is None:
        return
    request.reply = str(ctx.slots.get("reply_kind") or "specific")
    request.positives = str(ctx.slots.get("positives") or "")[:4000] or None
    request.negatives = str(ctx.slots.get("negatives") or "")[:4000] or None
    tag_text(ctx, request.interview_id, "feedback", request.negatives or "")


@action("record_no_reply")
def record_no_reply(ctx: TurnContext) -> None:
    request = own_request(ctx)
    if request is not None:
        request.reply = str(ctx.slots.get("reply_kind") or "none")


@action("prepare_second_request")
def prepare_second_request(ctx: TurnContext) -> None:
    ctx.slots["_second_request"] = True


@action("wait_for_reply")
def wait_for_reply(ctx: TurnContext) -> None:
    request = own_request(ctx)
    if request is not None:
        plan_feedback_follow_up(ctx, request)


@option_provider("feedback_requests", provides=["company", "role"])
def feedback_requests(ctx: TurnContext) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from bot.storage.models import Interview

    rows = ctx.session.execute(
        select(FeedbackRequest, Interview)
        .outerjoin(Interview, FeedbackRequest.interview_id == Interview.id)
        .where(FeedbackRequest.user_id == ctx.user.id, FeedbackRequest.reply == "waiting")
        .order_by(FeedbackRequest.id.desc())
        .limit(6)
    ).all()
    return [
        (str(req.id), f"{iv.company} ({req.sent_at:%d %b})" if iv and req.sent_at else "Request")
        for req, iv in rows
    ]


@condition("has_feedback_requests")
def has_feedback_requests(ctx: TurnContext) -> bool:
    return bool(feedback_requests(ctx))
