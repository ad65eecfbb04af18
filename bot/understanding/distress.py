"""The second safety layer: messages that *mean* distress without using the listed phrases.

The phrase list in ``bot.conversation.safety`` stays the first layer and gets the full crisis
reply. This layer compares the message with anchor sentences (declared in
``flows/_understanding.yaml``) by meaning, and with a few softer phrases by words; a hit gets a
gentle "are you safe?" check, never the full reply on a guess. A small classifier learns the
line between the distress anchors and everything ordinary (idioms like "this prep is killing
me", small talk, the flows' own examples), so a message must read as distress, not merely
share its words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.understanding.encoder import Encoder
from bot.understanding.intents import remembered_softmax
from bot.understanding.text import find_unnegated, normalise
from bot.understanding.wordbag import bag


@dataclass(frozen=True)
class DistressThresholds:
    # The classifier's probability that a message is distress (tuned on the tune split).
    probability: float = 0.5
    # Hashed words beside the embedding, as in the intent classifier (wordbag.py).
    words_weight: float = 0.7


class DistressDetector:
    def __init__(
        self,
        encoder: Encoder | None,
        anchors: Sequence[str],
        safe: Sequence[str] = (),
        phrases: Sequence[str] = (),
        thresholds: DistressThresholds | None = None,
        everyday: Sequence[str] = (),
    ) -> None:
        """``safe``: heavy words used lightly; ``everyday``: ordinary messages (the flows'
        examples, small talk). Both are the "not distress" side the classifier learns."""
        self.encoder = encoder
        self.t = thresholds or DistressThresholds()
        self.phrases = [normalise(p) for p in phrases if normalise(p)]
        self._model: tuple[np.ndarray, np.ndarray] | None = None
        negatives = [*safe, *everyday]
        if encoder is not None and anchors and negatives:
            texts = [*anchors, *negatives]
            x = self._features(texts, encoder.encode(texts))
            y = np.array([1] * len(anchors) + [0] * len(negatives))
            self._model = remembered_softmax(x, y, 2)

    def _features(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        return np.hstack([vectors, self.t.words_weight * bag(texts)])

    def probability(self, vector: np.ndarray | None, text: str = "") -> float:
        """How likely the message is distress, by meaning (0 without the encoder)."""
        if vector is None or self._model is None:
            return 0.0
        weights, bias = self._model
        x = self._features([text], vector.reshape(1, -1))[0]
        z = (x @ weights) * 10.0 + bias
        p = np.exp(z - z.max())
        return float(p[1] / p.sum())

    def concerned(self, text: str, vector: np.ndarray | None) -> bool:
        norm = normalise(text)
        # Only "not" right before a phrase undoes it: "I'm not worthless" is fine, but "I don't
        # know how much more of this I can take" is not made safe by its "don't".
        if any(find_unnegated(norm, p, window=1) for p in self.phrases):
            return True
        return self.probability(vector, text) >= self.t.probability
