"""Placeholder until the dates module lands (replaced on merge)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class When:
    at: datetime
    has_time: bool


def find_when(text: str, now_local: datetime, *, day_first: bool = True) -> When | None:
    return None
