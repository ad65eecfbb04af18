"""The second safety layer: messages that *mean* distress without using the listed phrases.

The phrase list in ``bot.conversation.safety`` stays the first layer and gets the full crisis
reply. This layer compares the message with anchor sentences (declared in
``flows/_understanding.yaml``) by meaning, and with a few softer phrases by words; a hit gets a
gentle "are you safe?" check, never the full reply on a guess. Idioms ("this prep is killing
me") are anchored on the other side, so the message must be clearly nearer the distress side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.understanding.encoder import Encoder
from bot.understanding.text import find_unnegated, normalise


@dataclass(frozen=True)
class DistressThresholds:
    score: float = 0.47
    margin: float = 0.08


class DistressDetector:
    def __init__(
        self,
        encoder: Encoder | None,
        anchors: Sequence[str],
        safe: Sequence[str] = (),
        phrases: Sequence[str] = (),
        thresholds: DistressThresholds | None = None,
    ) -> None:
        self.encoder = encoder
        self.t = thresholds or DistressThresholds()
        self.phrases = [normalise(p) for p in phrases if normalise(p)]
        has = encoder is not None
        self._anchors = encoder.encode(list(anchors)) if has and anchors else None
        self._safe = encoder.encode(list(safe)) if has and safe else None

    def scores(self, vector: np.ndarray | None) -> tuple[float, float]:
        """(nearest distress anchor, nearest safe anchor) by cosine."""
        if vector is None or self._anchors is None:
            return 0.0, 0.0
        near = float((self._anchors @ vector).max())
        safe = float((self._safe @ vector).max()) if self._safe is not None else 0.0
        return near, safe

    def concerned(self, text: str, vector: np.ndarray | None) -> bool:
        norm = normalise(text)
        # Only "not" right before a phrase undoes it: "I'm not worthless" is fine, but "I don't
        # know how much more of this I can take" is not made safe by its "don't".
        if any(find_unnegated(norm, p, window=1) for p in self.phrases):
            return True
        near, safe = self.scores(vector)
        return near >= self.t.score and near - safe >= self.t.margin
