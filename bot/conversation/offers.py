"""Offers: a question the core itself asks between flow steps, with its own small buttons.

"Did you mean ...?", "switch to that and come back?", "carry on where we were?" and the gentle
"are you safe?" check are not steps of any flow: they sit on top of whatever step the person is
on. An offer is stored in the conversation's slots (so it survives a restart like everything
else), rendered with a fresh step token, and answered by a button, its number, or a plain
yes/no. Any other message drops the offer and is read as usual: an offer never traps anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.understanding.text import normalise, words

OFFER_KEY = "__offer"
SUSPENDED_KEY = "__suspended"
PREFIX = "~"

_YES = frozenset(
    [
        "yes",
        "y",
        "sure",
        "okay",
        "please",
        "correct",
        "right",
        "yup",
        "exactly",
        "definitely",
        "absolutely",
        "affirmative",
        "👍",
        "go",
        "switch",
    ]
)
_YES_PHRASES = ("that's right", "thats right", "go on", "do it", "sounds good", "let's do it",
                "lets do it", "that one", "yes please", "i do", "i am")  # fmt: skip
_NO = frozenset(["no", "n", "nope", "not", "cancel", "menu", "wrong", "neither"])


@dataclass
class Offer:
    kind: str
    choices: list[tuple[str, str]]
    data: dict[str, Any] = field(default_factory=dict)

    def dump(self) -> dict[str, Any]:
        return {"kind": self.kind, "choices": [list(c) for c in self.choices], "data": self.data}

    @classmethod
    def load(cls, raw: Any) -> Offer | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
            return None
        choices = [(str(c[0]), str(c[1])) for c in raw.get("choices") or [] if len(c) == 2]
        return cls(raw["kind"], choices, dict(raw.get("data") or {}))

    def ids(self) -> list[str]:
        return [c[0] for c in self.choices]


def yes_or_no(text: str) -> bool | None:
    """A plain yes or no in the first words of a typed answer, else None."""
    norm = normalise(text)
    if any(norm.startswith(p) for p in _YES_PHRASES):
        return True
    first = words(norm)[:1] or [norm]
    if first[0] in _NO:
        return False
    if first[0] in _YES:
        return True
    return None


def typed_choice(offer: Offer, text: str) -> str | None:
    """Which of the offer's own buttons a typed answer means: a number, a label, yes or no."""
    norm = normalise(text)
    if norm.isdecimal() and 1 <= int(norm) <= len(offer.choices):
        return offer.choices[int(norm) - 1][0]
    for cid, label in offer.choices:
        if norm == normalise(label):
            return cid
    answer = yes_or_no(text)
    if answer is None or not offer.choices:
        return None
    if answer:
        return str(offer.data.get("yes", offer.choices[0][0]))
    return str(offer.data.get("no", offer.choices[-1][0]))
