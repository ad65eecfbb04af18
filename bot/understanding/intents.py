"""Which flow a sentence asks for: nearest examples by meaning, checked by words.

The router only *ranks* the flows that the flow files declare; it never invents an answer.
Each flow lists a few example phrases (``understand.examples``); a message is compared with
every example through the sentence encoder, and the best flow wins if it is clearly ahead.
Three outcomes, decided by the thresholds: act, ask "did you mean ...?", or not understood.
Flows that must never start on a guess (``confirm: true``) top out at asking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from bot.understanding.encoder import Encoder
from bot.understanding.store import digest, remembered
from bot.understanding.text import find_unnegated, normalise
from bot.understanding.wordbag import bag

Level = Literal["act", "confirm", "none"]
NONE = "none"


@dataclass(frozen=True)
class IntentSpec:
    """What a flow says about itself: its name, a short label, example phrases, commands."""

    name: str
    label: str
    examples: tuple[str, ...]
    commands: tuple[str, ...] = ()
    confirm: bool = False


@dataclass(frozen=True)
class Thresholds:
    """On the classifier's probabilities; tuned on the ``tune`` split of
    tests/data/understanding only (``python -m benchmarks.understanding``)."""

    act: float = 0.9
    confirm: float = 0.25
    margin: float = 0.5
    # Added to a flow's probability when one of its multi-word command phrases appears,
    # unnegated, in the text ("i got rejected", "feedback reply").
    command_bonus: float = 0.25
    # How much the hashed words count next to the unit embedding (wordbag.py); chosen by the
    # flow examples' own 5-fold cross-validation, not on the labelled set.
    words_weight: float = 0.7


def train_softmax(
    x: np.ndarray, y: np.ndarray, classes: int, steps: int = 300, scale: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """A small multinomial logistic regression over the examples' vectors.

    Why not nearest example: one stray example decides a nearest-neighbour vote, while a
    linear read of all of a flow's examples together generalises better to new wording
    (measured on the labelled set; see benchmarks/README.md). Deterministic, ~50 ms.
    """
    weights = np.zeros((x.shape[1], classes), np.float32)
    bias = np.zeros(classes, np.float32)
    target = np.eye(classes, dtype=np.float32)[y]
    for _ in range(steps):
        z = (x @ weights) * scale + bias
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - target) / len(x)
        weights -= 2.0 * (x.T @ grad * scale + 1e-3 * weights)
        bias -= 2.0 * grad.sum(axis=0)
    return weights, bias


def remembered_softmax(
    x: np.ndarray, y: np.ndarray, classes: int, steps: int = 300, scale: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`train_softmax`, read back from the last start when trained on the same arrays
    (store.py): ~1 s per start on this machine, ten times that when it is busy."""
    key = digest([np.ascontiguousarray(x).tobytes(), np.asarray(y).tobytes(),
                  f"{classes} {steps} {scale}"])  # fmt: skip

    def make() -> dict[str, np.ndarray]:
        weights, bias = train_softmax(x, y, classes, steps, scale)
        return {"weights": weights, "bias": bias}

    model = remembered("softmax", key, make)
    return model["weights"], model["bias"]


@dataclass(frozen=True)
class Guess:
    name: str | None
    score: float
    level: Level
    ranked: tuple[tuple[str, float], ...] = field(default=(), compare=False)


class IntentRouter:
    """Ranks the declared intents for one message. Build once; ``route`` is cheap."""

    def __init__(
        self,
        intents: Sequence[IntentSpec],
        encoder: Encoder | None,
        small_talk: Sequence[str] = (),
        thresholds: Thresholds | None = None,
    ) -> None:
        self.intents = {i.name: i for i in intents}
        self.encoder = encoder
        self.t = thresholds or Thresholds()
        self._names: list[str] = []
        texts: list[str] = []
        for intent in intents:
            for example in (*intent.examples, *intent.commands, intent.label):
                self._names.append(intent.name)
                texts.append(example)
        for example in small_talk:
            self._names.append(NONE)
            texts.append(example)
        self._owners = np.array(self._names)
        self._matrix = encoder.encode(texts) if encoder is not None and texts else None
        self._classes = sorted(set(self._names))
        if self._matrix is not None:
            index = {name: i for i, name in enumerate(self._classes)}
            labels = np.array([index[n] for n in self._names])
            x = self._features(texts, self._matrix)
            self._weights, self._bias = remembered_softmax(x, labels, len(self._classes))
        self._commands = {
            i.name: sorted((normalise(c) for c in i.commands if len(c.split()) >= 2), key=len)
            for i in intents
        }

    def scores(self, text: str, vector: np.ndarray | None) -> dict[str, float]:
        """Each intent's score for the message (higher is closer), small talk under ``none``."""
        out: dict[str, float] = {}
        if self._matrix is not None and vector is not None:
            x = self._features([text], vector.reshape(1, -1))[0]
            z = (x @ self._weights) * 10.0 + self._bias
            p = np.exp(z - z.max())
            p /= p.sum()
            out = {name: float(p[i]) for i, name in enumerate(self._classes)}
        norm = normalise(text)
        for name, phrases in self._commands.items():
            if any(find_unnegated(norm, p) for p in phrases):
                out[name] = out.get(name, self.t.confirm) + self.t.command_bonus
        return out

    def _features(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """Each text's embedding with its hashed words beside it (see wordbag.py)."""
        return np.hstack([vectors, self.t.words_weight * bag(texts)])

    def route(self, text: str, vector: np.ndarray | None) -> Guess:
        scores = self.scores(text, vector)
        ranked = tuple(sorted(scores.items(), key=lambda kv: kv[1], reverse=True))
        if not ranked:
            return Guess(None, 0.0, "none")
        best, score = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        if best == NONE or score < self.t.confirm:
            return Guess(None, score, "none", ranked)
        intent = self.intents[best]
        clear = score >= self.t.act and score - second >= self.t.margin
        level: Level = (
            "act" if clear and not intent.confirm and self._matrix is not None else "confirm"
        )
        return Guess(best, score, level, ranked)
