"""Questions about what the bot is, and requests for a therapist or counsellor.

Crisis screening is not here: every message goes through the screen first
(:mod:`bot.understanding.screening`, with its data in ``flows/_safety.yaml``), in the turn.
"""

from __future__ import annotations

import re
import unicodedata

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
