"""Themes across rejections: tagged from words and choices, always with the evidence kept.

Tagging is deliberately simple and explainable: a theme is recorded with the words that
triggered it, so the bot can say *why* it thinks nerves keep coming up, and a person can see
it is not guessing. A theme "recurs" when it shows up in at least ``RECUR_MIN`` of the last
``RECUR_WINDOW`` rejections.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from bot.conversation.context import TurnContext
from bot.conversation.registry import action, condition
from bot.storage.models import Interview, ThemeTag

RECUR_WINDOW = 4
RECUR_MIN = 3
RETHINK_MIN = 3

THEME_NAMES = {
    "nerves": "nerves getting in the way",
    "preparation": "feeling underprepared",
    "tough_questions": "questions that caught you off guard",
    "skills_gap": "a gap in specific skills",
    "experience": "others having more experience",
    "communication": "getting your answers across clearly",
    "fit": "questions of fit with the team or role",
}

_KEYWORDS: dict[str, tuple[str, ...]] = {
    "nerves": (
        "nervous", "nerves", "anxious", "anxiety", "panic", "froze", "freeze", "blank",
        "shaking", "stammer", "sweat", "stressed",
    ),
    "preparation": (
        "unprepared", "not prepared", "didn't prepare", "did not prepare", "no research",
        "didn't research", "more research", "didn't know much about", "underprepared",
    ),
    "tough_questions": (
        "off guard", "unexpected question", "didn't know how to answer", "tricky question",
        "curveball", "couldn't answer", "stumped", "hard question",
    ),
    "skills_gap": (
        "skills gap", "technical", "coding", "certification", "qualification", "lack of skill",
        "missing skill", "tooling", "didn't know the tool", "knowledge of",
    ),
    "experience": (
        "more experience", "years of experience", "more experienced", "senior", "track record",
    ),
    "communication": (
        "rambled", "rambling", "unclear", "concise", "examples", "star method", "waffled",
        "too long", "explain",
    ),
    "fit": ("culture fit", "team fit", "not a fit", "good fit", "fit with", "values"),
}  # fmt: skip

# Choices that are themselves evidence: (slot, value) -> theme.
CHOICE_THEMES: dict[tuple[str, str], str] = {
    ("nerves", "a_lot"): "nerves",
    ("nerves", "a_little"): "nerves",
    ("prep", "partly"): "preparation",
    ("prep", "not_really"): "preparation",
    ("skills_shown", "not_really"): "skills_gap",
}

_PATTERNS = {
    theme: re.compile("|".join(rf"\b{re.escape(w)}" for w in words))
    for theme, words in _KEYWORDS.items()
}


def find_themes(text: str) -> dict[str, str]:
    """Theme -> the first words that gave it away."""
    lowered = text.lower().replace("’", "'")
    found: dict[str, str] = {}
    for theme, pattern in _PATTERNS.items():
        if match := pattern.search(lowered):
            found[theme] = match.group(0)
    return found


def tag_text(ctx: TurnContext, interview_id: int | None, source: str, text: str) -> list[str]:
    """Record every theme found in ``text``, once per interview and theme."""
    return _record(ctx, interview_id, source, find_themes(text))


def tag_reply_text(ctx: TurnContext, interview_id: int | None, text: str) -> list[str]:
    """The employer's own reply, tagged like the person's words (evidence kept), so what
    they wrote counts towards the person's themes and their plan."""
    return tag_text(ctx, interview_id, "employer_reply", text)


def tag_choices(ctx: TurnContext, interview_id: int | None, source: str) -> list[str]:
    """Themes from answers to choices. An answer typed in the person's own words (kept by the
    turn under ``_said``, by step) is the evidence, and is searched for themes itself."""
    said = ctx.slots.get("_said") if isinstance(ctx.slots.get("_said"), dict) else {}
    found = {
        theme: (
            f"said '{str(said[slot])[:120]}'"
            if slot in said
            else f"answered '{str(ctx.slots.get(slot)).replace('_', ' ')}'"
        )
        for (slot, value), theme in CHOICE_THEMES.items()
        if ctx.slots.get(slot) == value
    }
    for words in said.values():
        for theme, evidence in find_themes(str(words)).items():
            found.setdefault(theme, evidence)
    return _record(ctx, interview_id, source, found)


def _record(
    ctx: TurnContext, interview_id: int | None, source: str, found: dict[str, str]
) -> list[str]:
    existing = set(
        ctx.session.scalars(
            select(ThemeTag.theme).where(
                ThemeTag.user_id == ctx.user.id, ThemeTag.interview_id == interview_id
            )
        )
    )
    added = []
    for theme, evidence in found.items():
        if interview_id is not None and theme in existing:
            continue
        ctx.session.add(
            ThemeTag(
                user_id=ctx.user.id,
                interview_id=interview_id,
                theme=theme,
                source=source,
                evidence=evidence[:200],
                created_at=ctx.now,
            )
        )
        added.append(theme)
    ctx.session.flush()
    return added


@dataclass(frozen=True)
class Pattern:
    theme: str
    count: int
    window: int
    evidence: list[str]


def recent_rejections(ctx: TurnContext, limit: int) -> list[Interview]:
    return list(
        ctx.session.scalars(
            select(Interview)
            .where(Interview.user_id == ctx.user.id, Interview.outcome == "rejected")
            .order_by(Interview.closed_at.desc().nulls_last(), Interview.id.desc())
            .limit(limit)
        )
    )


def recurring(ctx: TurnContext) -> Pattern | None:
    """The strongest theme present in RECUR_MIN of the last RECUR_WINDOW rejections, if any."""
    rejections = recent_rejections(ctx, RECUR_WINDOW)
    if len(rejections) < RECUR_MIN:
        return None
    ids = [r.id for r in rejections]
    tags = list(
        ctx.session.scalars(
            select(ThemeTag).where(ThemeTag.user_id == ctx.user.id, ThemeTag.interview_id.in_(ids))
        )
    )
    per_interview = Counter({(t.theme, t.interview_id) for t in tags})
    counts = Counter(theme for theme, _ in per_interview)
    if not counts:
        return None
    theme, count = counts.most_common(1)[0]
    if count < RECUR_MIN:
        return None
    evidence = [t.evidence for t in tags if t.theme == theme][:3]
    return Pattern(theme, count, len(rejections), evidence)


# Where rejections come tells what to work on: late ones mean the applications work and the
# last step needs preparing; early ones (or one kind of role, again and again) mean the roles or
# how the CV tells the story deserve a fresh look.
EARLY_STAGES = frozenset({"screen", "first_round"})
LATE_STAGES = frozenset({"second_round", "final"})


@dataclass(frozen=True)
class SearchPattern:
    kind: str  # "final_stages", "same_role" or "early_stages"
    reason: str  # the role family ("data analyst roles"); the flows word the stage kinds
    count: int
    window: int


def search_pattern(ctx: TurnContext, minimum: int = RETHINK_MIN) -> SearchPattern | None:
    """What ``minimum`` of the last five rejections share: a late stage, a role, an early stage."""
    rejections = recent_rejections(ctx, 5)
    if len(rejections) < minimum:
        return None
    window = len(rejections)
    late = sum(r.stage in LATE_STAGES for r in rejections)
    early = sum(r.stage in EARLY_STAGES for r in rejections)
    role, role_count = Counter(_role_key(r.role) for r in rejections).most_common(1)[0]
    if late >= minimum and late * 2 > window:
        return SearchPattern("final_stages", "", late, window)
    if role and role_count >= minimum:
        return SearchPattern("same_role", f"{role} roles", role_count, window)
    if early >= minimum and early * 2 >= window:
        return SearchPattern("early_stages", "", early, window)
    return None


def rethink_reason(ctx: TurnContext) -> str | None:
    """The kind of pattern recent rejections share, if any."""
    pattern = search_pattern(ctx)
    return pattern.kind if pattern else None


def _role_key(role: str) -> str:
    words = re.sub(r"[^a-z ]", " ", role.lower()).split()
    noise = {"junior", "senior", "graduate", "lead", "principal", "trainee", "intern", "i", "ii"}
    return " ".join(w for w in words if w not in noise)


@action("tag_reflection_themes", provides=["new_themes"])
def tag_reflection_themes(ctx: TurnContext) -> None:
    interview_id = ctx.slot_int("interview_id")
    text = " ".join(
        str(ctx.slots.get(k) or "")
        for k in (
            "asked_q", "off_guard_q", "answers", "body_q", "skills", "differently", "in_control",
        )
    )
    added = tag_text(ctx, interview_id, "reflection", text) + tag_choices(
        ctx, interview_id, "reflection"
    )
    ctx.slots["new_themes"] = ", ".join(THEME_NAMES[t] for t in added) or "nothing in particular"


@action("describe_pattern", provides=["pattern_name", "pattern_count", "pattern_window"])
def describe_pattern(ctx: TurnContext) -> None:
    pattern = recurring(ctx)
    if pattern is None:
        return
    ctx.slots["pattern_theme"] = pattern.theme
    ctx.slots["pattern_name"] = THEME_NAMES[pattern.theme]
    ctx.slots["pattern_count"] = pattern.count
    ctx.slots["pattern_window"] = pattern.window


@condition("theme_recurs")
def theme_recurs(ctx: TurnContext) -> bool:
    return recurring(ctx) is not None


def _told_key(ctx: TurnContext, pattern: Pattern) -> str:
    return f"{pattern.theme}:{ctx.slot_int('interview_id') or ''}"


@condition("pattern_untold")
def pattern_untold(ctx: TurnContext) -> bool:
    """A theme recurs and hasn't been pointed out yet for this rejection: the check runs after
    every rejection (at the plan step too), but says it once."""
    pattern = recurring(ctx)
    return pattern is not None and ctx.slots.get("_pattern_told") != _told_key(ctx, pattern)


@action("note_pattern_told")
def note_pattern_told(ctx: TurnContext) -> None:
    if (pattern := recurring(ctx)) is not None:
        ctx.slots["_pattern_told"] = _told_key(ctx, pattern)


@condition("rethink_suggested")
def rethink_suggested(ctx: TurnContext) -> bool:
    return rethink_reason(ctx) is not None and not ctx.slots.get("_rethink_done")


@action(
    "describe_rethink",
    provides=["rethink_reason", "rejection_count", "rethink_kind", "rethink_count"],
)
def describe_rethink(ctx: TurnContext) -> None:
    pattern = search_pattern(ctx)
    ctx.slots["rethink_kind"] = pattern.kind if pattern else "general"
    ctx.slots["rethink_reason"] = pattern.reason if pattern else ""
    ctx.slots["rethink_count"] = pattern.count if pattern else 0
    ctx.slots["rejection_count"] = len(recent_rejections(ctx, 5))
    ctx.slots["_rethink_done"] = True


@condition("final_stage_pattern")
def final_stage_pattern(ctx: TurnContext) -> bool:
    return ctx.slots.get("rethink_kind") == "final_stages"
