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
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from dateutil import parser as dateparser

MAX_TEXT = 4000
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_IN_N = re.compile(r"^in (\d{1,3}) (day|days|week|weeks)$")


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


def parse_date(text: str, today: date, words: Mapping[str, str]) -> tuple[date | None, str | None]:
    """Accepts 'today', 'tomorrow', weekday names, 'in 3 days', and ordinary dates."""
    word = normalise_command(text)
    if word in ("today", "now"):
        return today, None
    if word == "tomorrow":
        return today + timedelta(days=1), None
    if word.removeprefix("next ") in _WEEKDAYS:
        target = _WEEKDAYS.index(word.removeprefix("next "))
        ahead = (target - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead), None
    if match := _IN_N.match(word):
        n = int(match.group(1))
        return today + timedelta(days=n * (7 if match.group(2).startswith("week") else 1)), None
    try:
        default = datetime.combine(today, time())
        parsed = dateparser.parse(text, default=default, dayfirst=False, fuzzy=False)
    except (ValueError, OverflowError, TypeError):
        return None, words["date_unreadable"]
    return parsed.date(), None


def parse_datetime(
    text: str, now_local: datetime, zone: tzinfo, words: Mapping[str, str]
) -> tuple[datetime | None, str | None]:
    """A local date and time; a date alone means 9:00. Returned aware, in the person's zone."""
    word = normalise_command(text)
    if word == "now":
        return now_local.replace(second=0, microsecond=0), None
    tail = re.search(r"\b(at )?(\d{1,2})(:(\d{2}))?\s*(am|pm)?$", word)
    day_part = word
    hour, minute = 9, 0
    if tail and (tail.group(3) or tail.group(5)):
        hour = int(tail.group(2)) % 24
        minute = int(tail.group(4) or 0)
        if tail.group(5) == "pm" and hour < 12:
            hour += 12
        if tail.group(5) == "am" and hour == 12:
            hour = 0
        day_part = word[: tail.start()].strip()
    if day_part:
        day, _ = parse_date(day_part, now_local.date(), words)
        if day is None:
            return None, words["datetime_unreadable"]
    else:
        day = now_local.date()
    if hour > 23 or minute > 59:
        return None, words["time_unreadable"]
    return datetime.combine(day, time(hour, minute), tzinfo=zone), None
