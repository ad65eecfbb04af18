"""Turn what a person typed into clean values: text, numbers, dates, date-times.

Every parser returns ``(value, None)`` or ``(None, why)`` where ``why`` is a short, friendly
sentence the engine shows before asking again, taken from ``words`` (the system messages in
``flows/_messages.yaml``: ``number_needed``, ``date_unreadable``, ...). Nothing here raises on
bad input.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime, time, tzinfo
from typing import Any

from bot.understanding.dates import (
    day_first_for,
    looks_like_bad_time,
    parse_when,
    zone_name,
)

MAX_TEXT = 4000


def clean_text(raw: str) -> str:
    """Drop control characters (keeping newlines and tabs) and surrounding white space."""
    kept = "".join(
        ch for ch in raw if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    )
    return kept.strip()


def normalise_command(text: str) -> str:
    """Lower-case, trim punctuation at the ends, squeeze spaces: 'Start over!' -> 'start over'."""
    text = re.sub(r"\s+", " ", text.lower()).strip(" .!?,;:'\"/")
    return text


def parse_number(
    text: str, low: float | None, high: float | None, words: Mapping[str, str]
) -> tuple[Any, str | None]:
    match = re.search(r"-?\d+(\.\d+)?", text)
    if not match:
        return None, words["number_needed"]
    number = float(match.group())
    value: Any = int(number) if number.is_integer() else number
    if (low is not None and number < low) or (high is not None and number > high):
        return None, words["number_range"].format(low=_fmt(low), high=_fmt(high))
    return value, None


def _fmt(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


def parse_date(
    text: str, today: date, words: Mapping[str, str], *, day_first: bool = True
) -> tuple[date | None, str | None]:
    """Accepts what people write: 'tomorrow', 'friday', 'in 2 wks', '15/12', '3 Dec 2026'.

    The reading itself is bot.understanding.dates (day-first unless ``day_first`` is False);
    a date that has passed is returned as it is, so a flow can say so (the plan step does).
    """
    now_local = datetime.combine(today, time())
    found = parse_when(text, now_local, day_first=day_first, want_time=False)
    if found is None:
        return None, words["date_unreadable"]
    return found.at.date(), None


def parse_datetime(
    text: str,
    now_local: datetime,
    zone: tzinfo,
    words: Mapping[str, str],
    *,
    day_first: bool | None = None,
) -> tuple[datetime | None, str | None]:
    """A local date and time; a date alone means 9:00. Returned aware, in the person's zone.

    Month-first reading ("12/4" is 4 December) follows the zone unless ``day_first`` is given.
    """
    if normalise_command(text) == "now":
        return now_local.astimezone(zone).replace(second=0, microsecond=0), None
    if day_first is None:
        day_first = day_first_for(zone_name(zone))
    local = now_local.astimezone(zone) if now_local.tzinfo else now_local.replace(tzinfo=zone)
    found = parse_when(text, local, day_first=day_first, want_time=True)
    if found is None:
        if looks_like_bad_time(text):
            return None, words["time_unreadable"]
        return None, words["datetime_unreadable"]
    clock = found.at.timetz() if found.has_time else time(9, 0)
    return datetime.combine(found.at.date(), clock.replace(tzinfo=None), tzinfo=zone), None
