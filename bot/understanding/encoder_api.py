"""The one thing the understanding layers need from a sentence encoder.

Kept apart from the real model so every layer can be built and tested with a stand-in, and so
the bot runs (on exact and word matching) on a machine where the model package is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Encoder(Protocol):
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...
