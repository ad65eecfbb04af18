"""The first step after a rejection: name the feeling, weigh it, and offer one reframe at a time.

Which reframe comes first depends on the feeling: someone doubting themselves hears first that a
rejection says nothing about their worth; someone angry, that most of the decision was outside
their control. The wording of each reframe lives in ``flows/rejection.yaml``.
"""

from __future__ import annotations

import re

from bot.conversation.context import TurnContext
from bot.conversation.registry import action, condition
from bot.storage.models import FeelingEntry
from bot.understanding.text import find_unnegated, negated_at, normalise

FEELINGS = (
    "disappointed", "frustrated", "angry", "anxious", "doubting", "numb", "relieved", "other",
)  # fmt: skip

_WORDS = {
    "disappointed": (
        "disappoint", "sad", "down", "gutted", "upset", "heartbroken", "low", "not okay",
        "not ok", "not good", "awful", "terrible", "rubbish", "horrible",
    ),
    "frustrated": ("frustrat", "annoyed", "fed up", "irritat"),
    "angry": ("angry", "furious", "mad", "rage", "unfair", "livid"),
    "anxious": ("anxious", "worried", "scared", "afraid", "nervous", "panic", "stress"),
    "doubting": ("doubt", "useless", "not good enough", "failure", "stupid", "worthless"),
    "numb": ("numb", "empty", "nothing", "flat", "don't know"),
    "relieved": ("relieved", "relief", "glad"),
}

REFRAMES = ("not_personal", "investment", "not_your_worth", "bigger_picture")
_ORDER = {
    "doubting": ("not_your_worth", "not_personal", "investment", "bigger_picture"),
    "angry": ("investment", "not_personal", "bigger_picture", "not_your_worth"),
    "frustrated": ("investment", "bigger_picture", "not_personal", "not_your_worth"),
    "anxious": ("bigger_picture", "not_personal", "not_your_worth", "investment"),
}


def feeling_from_words(text: str) -> str:
    """The listed feeling a person's own words point to; a negated word doesn't count
    ("I'm not okay at all" is not relief)."""
    lowered = normalise(text)
    for feeling, words in _WORDS.items():
        if any(find_unnegated(lowered, w) or _stem_unnegated(lowered, w) for w in words):
            return feeling
    return "other"


def _stem_unnegated(text: str, stem: str) -> bool:
    """Stems like "frustrat" match the start of a word, unless negated just before it."""
    for match in re.finditer(rf"\b{re.escape(stem)}\w*", text):
        if not negated_at(text, match.start()):
            return True
    return False


@action("log_feeling", provides=["feeling", "intensity"])
def log_feeling(ctx: TurnContext) -> None:
    """Keep how they felt and how strongly: the progress chart shows it over time."""
    feeling = str(ctx.slots.get("feeling") or "other")
    note = ctx.slots.get("feeling_words")
    if feeling == "other" and note:
        feeling = feeling_from_words(str(note))
        ctx.slots["feeling"] = feeling
    intensity = ctx.slot_int("intensity")
    ctx.session.add(
        FeelingEntry(
            user_id=ctx.user.id,
            interview_id=ctx.slot_int("interview_id"),
            feeling=feeling if feeling in FEELINGS else "other",
            intensity=intensity,
            note=str(note)[:2000] if note else None,
            created_at=ctx.now,
        )
    )
    ctx.slots["reframe_index"] = 0
    ctx.slots["reframe"] = _ORDER.get(feeling, REFRAMES)[0]


@action("next_reframe", provides=["reframe"])
def next_reframe(ctx: TurnContext) -> None:
    order = _ORDER.get(str(ctx.slots.get("feeling")), REFRAMES)
    index = (ctx.slot_int("reframe_index") or 0) + 1
    ctx.slots["reframe_index"] = index
    ctx.slots["reframe"] = order[index % len(order)]


@condition("more_reframes")
def more_reframes(ctx: TurnContext) -> bool:
    return (ctx.slot_int("reframe_index") or 0) < len(REFRAMES) - 1


@condition("feeling_is_strong")
def feeling_is_strong(ctx: TurnContext) -> bool:
    return (ctx.slot_int("intensity") or 0) >= 4


@action("pause_here")
def pause_here(ctx: TurnContext) -> None:
    """The person chose to stop for today: pause, so a gentle check-in can follow later."""
    ctx.pause_requested = True
