"""Which of the offered options a typed answer means ("a lot tbh" -> "A lot").

Two opinions are combined. Words first: an option's label or one of its synonyms appearing in
the message, not negated just before ("not nervous at all" is not "nervous"), the longest such
phrase winning. Meaning second: the sentence encoder's nearest label or synonym. When both
agree, or the words alone are unambiguous in a short message, the answer is taken; when only
one opinion is there, the flow confirms it with the option's buttons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.understanding.encoder import Encoder
from bot.understanding.intents import Guess, Level
from bot.understanding.text import contains_phrase, find_unnegated, normalise, words

_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "i'm",
        "me",
        "my",
        "it",
        "its",
        "it's",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "and",
        "or",
        "but",
        "so",
        "is",
        "was",
        "be",
        "been",
        "that",
        "this",
        "one",
        "with",
        "just",
        "really",
        "very",
        "yes",
        "no",
        "not",
        "some",
        "bit",
    ]
)


@dataclass(frozen=True)
class OptionSpec:
    id: str
    label: str
    synonyms: tuple[str, ...] = ()

    def phrases(self) -> list[str]:
        return [normalise(p) for p in (self.label, *self.synonyms) if normalise(p)]


@dataclass(frozen=True)
class OptionThresholds:
    act: float = 0.70
    confirm: float = 0.42
    margin: float = 0.08
    # A short message that is mostly one option's words is taken without asking.
    short_words: int = 4


class OptionMatcher:
    def __init__(self, encoder: Encoder | None, thresholds: OptionThresholds | None = None):
        self.encoder = encoder
        self.t = thresholds or OptionThresholds()

    def lexical(self, text: str, options: Sequence[OptionSpec]) -> dict[str, int]:
        """Option id -> length in words of its longest unnegated phrase found in the text."""
        norm = normalise(text)
        found: dict[str, int] = {}
        for option in options:
            for phrase in option.phrases():
                if find_unnegated(norm, phrase):
                    found[option.id] = max(found.get(option.id, 0), len(words(phrase)))
        if not found:
            # A distinctive word of exactly one label ("the stripe one").
            mine = {w for w in words(norm) if w not in _STOP and len(w) >= 3}
            owners = {
                o.id for o in options for w in mine if contains_phrase(normalise(o.label), w) >= 0
            }
            if len(owners) == 1:
                found[owners.pop()] = 1
        return found

    def semantic(
        self, vector: np.ndarray | None, options: Sequence[OptionSpec]
    ) -> dict[str, float]:
        if self.encoder is None or vector is None or not options:
            return {}
        out: dict[str, float] = {}
        for option in options:
            phrases = option.phrases() or [option.id]
            sims = self.encoder.encode(phrases) @ vector
            out[option.id] = float(sims.max())
        return out

    def match(self, text: str, vector: np.ndarray | None, options: Sequence[OptionSpec]) -> Guess:
        lex = self.lexical(text, options)
        sem = self.semantic(vector, options)
        ranked = tuple(sorted(sem.items(), key=lambda kv: kv[1], reverse=True))
        sem_best, sem_score = ranked[0] if ranked else (None, 0.0)
        sem_second = ranked[1][1] if len(ranked) > 1 else 0.0
        n_words = len(words(normalise(text)))
        if lex:
            longest = max(lex.values())
            top = [oid for oid, n in lex.items() if n == longest]
            if len(top) == 1:
                choice = top[0]
                agrees = sem_best == choice or not sem
                covers = n_words <= self.t.short_words or longest * 2 >= n_words
                level: Level = "act" if agrees and covers else "confirm"
                return Guess(choice, max(sem.get(choice, 0.0), 0.5), level, ranked)
            if sem_best in top:
                return Guess(sem_best, sem_score, "confirm", ranked)
        if sem_best is None or sem_score < self.t.confirm:
            return Guess(None, sem_score, "none", ranked)
        clear = sem_score >= self.t.act and sem_score - sem_second >= self.t.margin
        return Guess(sem_best, sem_score, "act" if clear else "confirm", ranked)
