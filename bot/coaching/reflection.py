"""Reflecting on the interview: the guided answers and the in-control / not-in-control sort."""

from __future__ import annotations

from bot.conversation.context import TurnContext
from bot.conversation.registry import action
from bot.storage.models import Reflection

ANSWER_SLOTS = ("prep", "off_guard_q", "answers", "nerves", "skills_shown", "skills", "differently")


@action("save_reflection")
def save_reflection(ctx: TurnContext) -> None:
    ctx.session.add(
        Reflection(
            user_id=ctx.user.id,
            interview_id=ctx.slot_int("interview_id"),
            answers={k: ctx.slots.get(k) for k in ANSWER_SLOTS if ctx.slots.get(k)},
            in_control=str(ctx.slots.get("in_control") or "")[:4000] or None,
            outside_control=str(ctx.slots.get("outside_control") or "")[:4000] or None,
            created_at=ctx.now,
        )
    )
