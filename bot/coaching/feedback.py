"""Asking the employer for feedback: the email draft, whether it went, and what came back.

The draft is built from the person's own context and questions. It is polite, asks for what
went well as well as what to improve, and offers a short call at a time that suits the
interviewer, so they can prepare proper feedback rather than be put on the spot.

Whatever the person types becomes bullets that read like a person wrote them (one point a
line, a capital first, a question mark on a question, no "- and whether..."), and an answer
that says they don't know what to ask ("not sure, what should I ask?") never becomes a bullet:
it leads to specific questions suggested from their reflection, their themes and what the
employer wrote, which they pick or replace with their own.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.coaching.interviews import own_interview
from bot.coaching.names import sign_name
from bot.coaching.reminder_kinds import plan_feedback_follow_up
from bot.coaching.templates import Suggestions, Templates, greeting, templates
from bot.coaching.themes import recurring, tag_reply_text, tag_text
from bot.conversation.context import TurnContext
from bot.conversation.registry import action, condition, option_provider
from bot.storage.models import FeedbackRequest, Interview, Reflection, ThemeTag, owned

MAX_POINTS = 5  # bullets of the person's own (besides the ones always asked)
MAX_SUGGESTED = 3
MAX_PICKED = 3
RUN_ON = 14  # words: a longer point joined by "and whether..." is split in two
MIN_WORDS = 3  # a shorter comma-separated bit belongs to its neighbour ("SQL, Python")
REPLY_LIMIT = 4000
UNSURE_MAX_WORDS = 7

_CONJUNCTION = re.compile(r"^(?:(?:and|but|or|also|plus|so|then|as well as)\b[\s,]*)+", re.I)
_HEDGE = re.compile(
    r"^(?:(?:maybe|perhaps|possibly|probably|i guess|i suppose|basically)\b[\s,]*)+", re.I
)
_NUMBERING = re.compile(r"^\s*(?:[-•*–]+|\(?\d+[.)]|[a-z][.)](?=\s))\s*", re.I)
_SENTENCES = re.compile(r"\n+|;|(?<=[?!])\s+|(?<=\.)\s+(?=[A-Z])")
_JOINED = re.compile(
    r"\s+(?:and|but|or|also|plus)\s+(?=(?:whether|if|how|what|which|why|where|when|who|did|was|"
    r"were|is|are|could|should|would|do|does|can)\b)(?!if so\b)",
    re.I,
)
_LOWER_I = re.compile(r"(?<![\w'’])i(?=$|[\s,;:?!'’])")
_WH = frozenset({"what", "which", "how", "why", "where", "when", "who", "whom", "whose"})
_AUX = frozenset({
    "is", "are", "was", "were", "am", "do", "does", "did", "can", "could", "would", "should",
    "will", "shall", "have", "has", "had", "may", "might",
})  # fmt: skip
_SUBJECTS = frozenset({
    "i", "my", "me", "we", "our", "you", "your", "they", "their", "he", "his", "she", "her",
    "it", "its",
})  # fmt: skip
_UNSURE = re.compile(
    r"\bnot (?:really |too |quite |totally |entirely )?sure\b|\bunsure\b|\bno (?:idea|clue)\b"
    r"|\bany (?:ideas|suggestions)\b|\bdon'?t know\b|\bdo not know\b|\bdunno\b|\bidk\b"
    r"|\bwhat (?:should|do|can|could|would|shall) i (?:ask|say|put|write)\b"
    r"|\bwhat i (?:should|could|can) (?:ask|say|put)\b|\bwhat to (?:ask|say|put|write)\b"
    r"|\byou (?:tell me|decide|choose|pick)\b|\b(?:can|could) you suggest\b"
    r"|\bsuggest (?:some|something|a few|one)\b|^what (?:would|do) you (?:suggest|recommend)$"
)
_OFF_GUARD_LEAD = re.compile(
    r"^(?:(?:the|a|one|that)\s+)?(?:(?:question|one|bit|part)s?\s+)?"
    r"(?:(?:where|when)\s+they\s+asked(?:\s+me)?|they\s+asked(?:\s+me)?|asking(?:\s+me)?)?\s*"
    r"(?:about|on)?\s*",
    re.I,
)
_NOTHING = frozenset({"none", "nothing", "no", "nope", "not really", "n/a", "na", "skip"})


# ---------------------------------------------------------------------- bullets


def shape_points(text: str) -> list[str]:
    """What the person typed, as bullets that read naturally, whatever shape it came in.

    One point per line, sentence or comma-separated part; a short part ("SQL, Python") stays
    with its neighbour, and so does an "and ..." that finishes the previous thought, unless
    together they run on (then each stands alone). Leading "and"/"but" go, the first letter
    is a capital, a question ends with "?". Anything that only says "not sure what to ask" is
    dropped: it is for Rebound, not for the employer.
    """
    pieces: list[str] = []
    for sentence in _SENTENCES.split(text or ""):
        for part in _comma_parts(sentence):
            pieces.extend(_split_run_on(part))
    out: dict[str, str] = {}
    for piece in pieces:
        point = tidy_point(piece)
        if point and not is_unsure(point) and sum(c.isalpha() for c in point) > 2:
            out.setdefault(_key(point), point)
    return list(out.values())[:MAX_POINTS]


def _words(text: str) -> int:
    return len(text.split())


def _comma_parts(sentence: str) -> list[str]:
    parts: list[str] = []
    for raw in sentence.split(","):
        part = raw.strip()
        if not part or is_unsure(part):  # "not sure, ..." is for Rebound, not the employer
            continue
        if parts and (
            _words(parts[-1]) < MIN_WORDS
            or _words(part) < MIN_WORDS
            or (_CONJUNCTION.match(part) and _words(parts[-1]) + _words(part) <= RUN_ON)
        ):
            parts[-1] = f"{parts[-1]}, {part}"
        else:
            parts.append(part)
    return parts


def _split_run_on(part: str) -> list[str]:
    """'how my answers came across and whether I showed enough leadership in the panel
    exercise' -> two points; 'what went well and what didn't' stays one."""
    if _words(part) <= RUN_ON:
        return [part]
    out: list[str] = []
    for bit in _JOINED.split(part):
        if out and (_words(bit) < MIN_WORDS or _words(out[-1]) < MIN_WORDS):
            out[-1] = f"{out[-1]} and {bit}"
        else:
            out.append(bit)
    return out


def tidy_point(text: str) -> str:
    """One bullet: no list marks or leading conjunctions, a capital, '?' on a question."""
    point = re.sub(r"\s+", " ", text).strip()
    point = _NUMBERING.sub("", point).strip()
    point = _CONJUNCTION.sub("", point).strip(" ,;:-")
    point = _CONJUNCTION.sub("", _HEDGE.sub("", point)).strip(" ,;:-")
    asked = point.endswith("?")
    point = point.rstrip(" ?.!,;:").strip()
    if not point:
        return ""
    point = _LOWER_I.sub("I", point)
    first = point.split(" ", 1)[0]
    if point[0].islower() and not (len(first) > 1 and first[1].isupper()):
        point = point[0].upper() + point[1:]
    return f"{point}?" if asked or is_question(point) else point


def is_question(text: str) -> bool:
    """A direct question ('Which skills should I build?'), not a clause after 'in particular:'
    ('What I could have done better', 'Which skills to build first')."""
    words = [w.strip(",;:").lower() for w in text.split()]
    if not words:
        return False
    first = words[0].replace("’", "'")
    if first in _AUX:
        return True
    if first.split("'")[0] in _WH and "'" in first:  # what's, how's
        return True
    if first not in _WH or len(words) < 2 or words[1] in _SUBJECTS:
        return False
    return any(w in _AUX for w in words[1:4])


def is_unsure(text: str) -> bool:
    """'not sure, what should I ask?', 'no idea', 'idk': the person wants suggestions."""
    lowered = re.sub(r"[^\w\s']", " ", text.lower().replace("’", "'"))
    lowered = re.sub(r"\s+", " ", lowered).strip()
    return _words(lowered) <= UNSURE_MAX_WORDS and bool(_UNSURE.search(lowered))


def _key(point: str) -> str:
    return point.rstrip("?").casefold()


def _lines(points: str) -> list[str]:
    return [p for p in (tidy_point(line) for line in points.split("\n")) if p]


# ---------------------------------------------------------------------- the email


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
    asks = [tidy_point(a) for a in (*email.always_ask, *points) if tidy_point(a)] or [
        tidy_point(a) for a in email.if_none
    ]
    unique: dict[str, str] = {}
    for ask in asks:
        unique.setdefault(_key(ask), ask)  # the first wording of a repeat, in its place
    body = "\n".join(f"- {a}" for a in unique.values())
    return email.text.format(
        greeting=greeting(words, interviewer), role=role, company=company, asks=body, name=name
    ).rstrip("\n")


@action("draft_feedback_email", provides=["draft"])
def draft_feedback_email(ctx: TurnContext) -> None:
    interview = own_interview(ctx)
    words = templates(ctx)
    company = interview.company if interview else str(ctx.slots.get("company") or "")
    role = interview.role if interview else str(ctx.slots.get("role") or "")
    who = str(ctx.slots.get("interviewer") or (interview.interviewer if interview else "") or "")
    if interview is not None and who and not interview.interviewer:
        interview.interviewer = who[:200]  # so a second request greets them by name too
    second = bool(ctx.slots.get("_second_request"))
    ctx.slots["draft"] = draft_email(
        words,
        company or words.some_company,
        role or words.some_role,
        who,
        _lines(str(ctx.slots.get("points") or "")),
        sign_name(ctx.user) or words.unnamed,
        second,
    )


# ---------------------------------------------------------------------- choosing questions


@action("check_points")
def check_points(ctx: TurnContext) -> None:
    """The first request's points, typed: shaped into bullets, or 'not sure' noted."""
    raw = str(ctx.slots.get("points") or "")
    shaped = shape_points(raw)
    ctx.slots["_unsure"] = bool(raw.strip()) and not shaped and _said_unsure(raw)
    ctx.slots["points"] = "\n".join(shaped)


def _said_unsure(text: str) -> bool:
    return any(is_unsure(bit) for bit in re.split(r"[\n,;.?!]+", text) if bit.strip()) or (
        is_unsure(text)
    )


@condition("questions_unsure")
def questions_unsure(ctx: TurnContext) -> bool:
    return bool(ctx.slots.get("_unsure"))


def _reply_text(ctx: TurnContext, interview_id: int | None) -> str:
    typed = str(ctx.slots.get("reply_text") or "")
    if typed or interview_id is None:
        return typed
    stored = ctx.session.scalars(
        select(FeedbackRequest.reply_text)
        .where(
            FeedbackRequest.user_id == ctx.user.id,
            FeedbackRequest.interview_id == interview_id,
            FeedbackRequest.reply_text.is_not(None),
        )
        .order_by(FeedbackRequest.id.desc())
        .limit(1)
    ).first()
    return stored or ""


def _themes_in_order(ctx: TurnContext, interview_id: int | None) -> list[str]:
    """The recurring theme first, then this interview's, then the person's other recent ones."""
    ordered: list[str] = []
    pattern = recurring(ctx)
    if pattern is not None:
        ordered.append(pattern.theme)
    tags = list(
        ctx.session.scalars(
            select(ThemeTag).where(ThemeTag.user_id == ctx.user.id).order_by(ThemeTag.id.desc())
        ).all()[:40]
    )
    here = [t.theme for t in reversed(tags) if interview_id and t.interview_id == interview_id]
    for theme in [*here, *(t.theme for t in tags)]:
        if theme not in ordered:
            ordered.append(theme)
    return ordered


def _off_guard(ctx: TurnContext, interview_id: int | None) -> str:
    """The question that caught them off guard, in their words: the reflection, else the
    debrief."""
    if interview_id is None:
        return ""
    reflection = ctx.session.scalars(
        select(Reflection)
        .where(Reflection.user_id == ctx.user.id, Reflection.interview_id == interview_id)
        .order_by(Reflection.id.desc())
        .limit(1)
    ).first()
    said = (reflection.answers or {}).get("off_guard_q") if reflection else None
    if not said:
        interview = ctx.session.get(Interview, interview_id)
        if interview is not None and interview.user_id == ctx.user.id:
            said = (interview.debrief or {}).get("off_guard")
    return str(said or "")


def off_guard_question(words: Suggestions, said: str) -> str | None:
    """'the one about salary expectations' -> 'What would a strong answer on salary
    expectations have included?'; None when it would not read well (long, or nothing)."""
    first = re.split(r"[\n.;?!]|,\s", said.strip(), maxsplit=1)[0].strip()
    if not words.off_guard or first.lower() in _NOTHING:
        return None
    topic = _OFF_GUARD_LEAD.sub("", first, count=1).strip(" \"'“”‘’")
    if not topic or _words(topic) > 6 or topic.lower() in _NOTHING:
        return None
    question = words.off_guard.format(question=topic)
    return question if len(question) <= 75 else None


def _asked_before(ctx: TurnContext, interview_id: int | None) -> frozenset[str]:
    """Questions already sent to this employer about this interview: not suggested again."""
    if interview_id is None:
        return frozenset()
    sent = ctx.session.scalars(
        select(FeedbackRequest.points).where(
            FeedbackRequest.user_id == ctx.user.id, FeedbackRequest.interview_id == interview_id
        )
    )
    return frozenset(_key(p) for points in sent if points for p in _lines(points))


def suggest_for(
    words: Suggestions,
    reply: str,
    themes: list[str],
    off_guard: str,
    asked: frozenset[str] = frozenset(),
) -> list[str]:
    """Up to three specific questions: one answering what the employer wrote, the person's
    themes (the recurring one first), the question that caught them out, then general ones;
    none they have already asked (``asked``, lower case without the "?")."""
    lowered = reply.lower().replace("’", "'")
    from_reply = [c.ask for c in words.from_reply if any(w.lower() in lowered for w in c.words)]
    by_theme = [words.themes[t] for t in themes if t in words.themes]
    caught = off_guard_question(words, off_guard)
    ordered = [*from_reply[:1], *by_theme[:1], *([caught] if caught else []), *by_theme[1:]]
    picked = [q for q in dict.fromkeys([*ordered, *words.general]) if _key(q) not in asked]
    return picked[:MAX_SUGGESTED]


@action("suggest_questions", provides=["reply_known"])
def suggest_questions(ctx: TurnContext) -> None:
    """Work out the suggestions once, and start the choice afresh."""
    interview_id = ctx.slot_int("interview_id")
    reply = _reply_text(ctx, interview_id)
    ctx.slots["reply_known"] = "yes" if reply.strip() else "no"
    ctx.slots["_suggested"] = suggest_for(
        templates(ctx).suggestions,
        reply,
        _themes_in_order(ctx, interview_id),
        _off_guard(ctx, interview_id),
        asked=_asked_before(ctx, interview_id),
    )
    ctx.slots["_picked"] = []
    ctx.slots["points"] = ""
    ctx.slots["_unsure"] = False


def _suggested(ctx: TurnContext) -> list[str]:
    value = ctx.slots.get("_suggested")
    return [str(q) for q in value] if isinstance(value, list) else []


def _picked(ctx: TurnContext) -> list[int]:
    value = ctx.slots.get("_picked")
    return [int(i) for i in value if isinstance(i, int)] if isinstance(value, list) else []


@option_provider("suggested_questions")
def suggested_questions(ctx: TurnContext) -> list[tuple[str, str]]:
    picked = set(_picked(ctx))
    return [(str(i), q) for i, q in enumerate(_suggested(ctx)) if i not in picked]


def _add(ctx: TurnContext, points: list[str]) -> None:
    have = _lines(str(ctx.slots.get("points") or ""))
    known = {_key(p) for p in have}
    have += [p for p in points if _key(p) not in known]
    ctx.slots["points"] = "\n".join(have[:MAX_POINTS])


@action("add_picked_question", provides=["last_question"])
def add_picked_question(ctx: TurnContext) -> None:
    index = ctx.slot_int("question_pick")
    suggested = _suggested(ctx)
    if index is None or not 0 <= index < len(suggested):
        return
    ctx.slots["_picked"] = [*_picked(ctx), index]
    ctx.slots["last_question"] = suggested[index]
    _add(ctx, [suggested[index]])


@action("add_own_questions", provides=["last_question"])
def add_own_questions(ctx: TurnContext) -> None:
    """Their own words, as bullets; 'not sure what to ask' is noted instead, never added."""
    raw = str(ctx.slots.pop("own_points", None) or "")
    shaped = shape_points(raw)
    ctx.slots["_unsure"] = not shaped and _said_unsure(raw)
    if shaped:
        ctx.slots["last_question"] = shaped[0]
        _add(ctx, shaped)


@condition("has_picked_questions")
def has_picked_questions(ctx: TurnContext) -> bool:
    return bool(_lines(str(ctx.slots.get("points") or "")))


@condition("questions_full")
def questions_full(ctx: TurnContext) -> bool:
    """Enough to ask (three), or nothing left to pick from."""
    points = _lines(str(ctx.slots.get("points") or ""))
    return len(points) >= MAX_PICKED or not suggested_questions(ctx)


# ---------------------------------------------------------------------- sent, and the reply


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


@action("record_reply_text", provides=["reply_themes"])
def record_reply_text(ctx: TurnContext) -> None:
    """Keep what the employer wrote, and tag it for themes like the person's own words."""
    request = own_request(ctx)
    text = str(ctx.slots.get("reply_text") or "").strip()[:REPLY_LIMIT]
    if request is None or not text:
        return
    request.reply_text = text
    request.reply = str(ctx.slots.get("reply_kind") or request.reply)
    tag_reply_text(ctx, request.interview_id, text)


@condition("reply_was_vague")
def reply_was_vague(ctx: TurnContext) -> bool:
    return ctx.slots.get("reply_kind") == "vague"


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
