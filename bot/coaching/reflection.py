"""Reflecting on the interview: the guided answers and the in-control / not-in-control sort."""

from __future__ import annotations

from bot.conversation.context import TurnContext
from bot.conversation.registry import action
from bot.storage.models import Reflection

ANSWER_SLOTS = (
    "asked_q", "prep", "off_guard_q", "answers", "nerves", "body_q", "skills_shown", "skills",
    "differently",
)  # fmt: skip


@action("save_reflection", provides=["reflection_depth"])
def save_reflection(ctx: TurnContext) -> None:
    """Keep the answers; note when every question was skipped, so the thanks fits."""
    answered = [k for k in (*ANSWER_SLOTS, "in_control", "outside_control") if ctx.slots.get(k)]
    ctx.slots["reflection_depth"] = "some" if answered else "none"
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
