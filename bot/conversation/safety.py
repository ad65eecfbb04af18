"""Spot messages that suggest self-harm or crisis, and questions about what the bot is.

People talk to Rebound at a low moment. A miss on an obvious phrase is the worst failure this
bot can have, so the list errs towards stopping the flow; a false alarm costs one kind message.
Negation is handled for the common forms ("I'm not suicidal", "no thoughts of ending it") so a
person who says they are fine is not treated as in crisis.
"""

from __future__ import annotations

import re
import unicodedata

# Each pattern is matched against lower-cased text with apostrophes normalised.
_CRISIS_PATTERNS: tuple[str, ...] = (
    r"\bsuicid(e|al)\b",
    r"\bkill(ing)? my ?self\b",
    r"\bend(ing)? (my|it) (life|all)\b",
    r"\bend(ing)? it all\b",
    r"\btake my (own )?life\b",
    r"\bwant(ed)? to die\b",
    r"\bwish i (was|were) dead\b",
    r"\bbetter off dead\b",
    r"\b(hurt|harm|cut)(ing)? my ?self\b",
    r"\bself[- ]?harm(ing)?\b",
    r"\bno (reason|point) (to|in) (live|living|go on|going on)\b",
    r"\bdon'?t want to (live|be alive|be here any ?more|wake up)\b",
    r"\bcan'?t go on\b",
    r"\boverdose\b",
    r"\b(not|isn'?t|no longer) worth living\b",
    r"\b(not|never) (to )?wake up\b",
    r"\bbetter off (if i('?m| was| were) (gone|dead|not here)|without me)\b",
    r"\bif i (just )?(wasn'?t|weren'?t) (here|around|alive)\b",
    r"\bwant (it all|everything|my life) to (end|stop)\b",
    r"\b(pills|tablets) (saved|stored|stockpiled|ready)\b|\bstockpil\w* (pills|tablets)\b",
    r"\bend(ing)? my(self| own life)\b",
    r"\bdon'?t want to exist\b",
)
_CRISIS = re.compile("|".join(f"(?:{p})" for p in _CRISIS_PATTERNS))
# Already negative in form ("I don't see a reason to live", "no one would notice if I died"):
# a negation before these makes them more worrying, not less, so it never cancels them.
_CRISIS_ANYWAY = re.compile(
    r"\b(point|reason) (of|in|to|for) "
    r"(living|being alive|stay(ing)? alive|be(ing)? here|go(ing)? on)\b"
    r"|\b(notice|care|miss me) if i (died|was gone|disappeared|wasn'?t here)\b"
)

# A negation shortly before the match ("not", "never", "no thoughts of") cancels it.
_NEGATION = re.compile(
    r"\b(not|never|no|nor|don'?t|doesn'?t|isn'?t|am not|i'?m not|wasn'?t|without)\b"
    r"(\s+\w+){0,3}\s*$"
)
# Phrases that use the words but are plainly not about the person ("killing it", "dying to").
_BENIGN = re.compile(r"\b(killed it|killing it|dying to (know|hear|start|see))\b")

_IDENTITY = re.compile(
    r"\b(are|r) (you|u) (a |an )?(real )?(therapist|counsell?or|psychologist|human|person|"
    r"real person|doctor|bot|robot|ai)\b|\bwho (are|r) (you|u)\b|\bwhat are you\b"
)
# "Are you a therapist?" deserves a pointer to one, not only a "no".
_IDENTITY_CARE = re.compile(
    r"\b(are|r) (you|u) (a |an )?(real )?(therapist|counsell?or|psychologist|doctor)\b"
)
_CARE_WORDS = (
    r"(therap(y|ist|ists)|counsell?(ing|ors?)|psychologists?|psychotherap\w*|"
    r"talking therap\w*|mental health (support|help|services?))"
)
# Looking for a professional: "I think I need a therapist, where can I find one?",
# "can you recommend a counsellor", "how do I get counselling".
_ASKS_FOR_CARE = re.compile(
    rf"\b(need|want|find|found|get|getting|see|seeing|recommend|looking for|where|how|book|"
    rf"talk to|speak to|refer|access)\b[^.?!]{{0,40}}\b{_CARE_WORDS}"
    rf"|\b{_CARE_WORDS}\b[^.?!]{{0,30}}\b(near me|where|how|recommend|help me find)\b"
)
_NO_CARE_NEEDED = re.compile(r"\b(don'?t|do not|never|no longer) (need|want)\b")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return text.replace("’", "'").replace("‘", "'")


def suggests_crisis(text: str) -> bool:
    """True when the message suggests self-harm or crisis and is not plainly negated."""
    norm = _normalise(text)
    if _CRISIS_ANYWAY.search(norm):
        return True
    if _BENIGN.search(norm) and not _CRISIS.search(_BENIGN.sub("", norm)):
        return False
    for match in _CRISIS.finditer(norm):
        before = norm[max(0, match.start() - 40) : match.start()]
        # Only the clause the match is in: a negation in an earlier sentence does not count.
        clause = re.split(r"[.!?;,]|\bbut\b", before)[-1]
        if not _NEGATION.search(clause):
            return True
    return False


def asks_what_bot_is(text: str) -> bool:
    return bool(_IDENTITY.search(_normalise(text)))


def asks_if_bot_is_a_professional(text: str) -> bool:
    """'Are you a therapist?': the answer is no, and where to find one."""
    return bool(_IDENTITY_CARE.search(_normalise(text)))


def asks_for_counselling(text: str) -> bool:
    """The person is looking for a therapist or counsellor (not just mentioning therapy)."""
    norm = _normalise(text)
    match = _ASKS_FOR_CARE.search(norm)
    if match is None:
        return False
    return not _NO_CARE_NEEDED.search(norm[max(0, match.start() - 12) : match.end()])
