"""Dates and times as people write them in a DM: "tmrw 10am", "next Friday afternoon", "05/12".

Why a normaliser in front of ``dateparser``: dateparser reads full dates well ("3 Dec 2026",
"jan 5th") but misses chat shorthand ("tmrw", "in 2 wks", "end of the month"), drops the time
in "tomorrow at 3", and on a day-first reader turns "12/25" into the year 2125. So the common
shapes are handled here by rule, and dateparser only sees what is left.

Rules (the labelled set in tests/data/understanding/dates.yaml follows them):
- A weekday means the next one after today: on Tuesday, "tuesday" and "next tuesday" are a week
  away and "friday" / "next friday" / "this friday" are this week's Friday. "this tuesday" on a
  Tuesday is today. "friday week" and "a week on friday" are a week after that Friday.
- A date without a year is the nearest one: written on 1 December, "20/11" is 20 November just
  gone (so a plan step can say it has passed) and "5/1" is next January.
- A bare hour ("at 3", "tomorrow at 3", "3:30") from 1 to 6 is in the afternoon; 7 to 12 is as
  written. "morning" is 9:00, "lunchtime"/"noon"/"midday" 12:00, "afternoon" 14:00, "evening"
  18:00, "tonight"/"night" 19:00, "eod"/"end of the day" 17:00.
- A time with no day is the next time that clock comes round (today, or tomorrow if passed).
- "end of the week" is Friday; "end of the month" its last day; "next week" is seven days on.
- Nothing is guessed for years far away: results outside last year .. three years ahead are
  rejected.

Nothing here raises on bad input: every entry point returns ``None`` when it cannot read a date.
This module imports nothing from other bot packages.
"""

from __future__ import annotations

import calendar
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

log = logging.getLogger(__name__)

#: Longer than any date phrase anyone types into a date field; longer text is not a date.
MAX_FIELD = 120
#: How much of a sentence ``find_when`` looks at; dateparser's search is slow on long text.
MAX_SENTENCE = 600

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip

# Chat shorthand and common typos, word by word, before anything else reads the text.
_WORDS = {
    "tmrw": "tomorrow", "tmr": "tomorrow", "tmw": "tomorrow", "tmro": "tomorrow",
    "tomoz": "tomorrow", "tomo": "tomorrow", "2moro": "tomorrow", "2morrow": "tomorrow",
    "2mrw": "tomorrow", "tomorow": "tomorrow", "tommorow": "tomorrow", "tommorrow": "tomorrow",
    "tomorrw": "tomorrow", "tomrrow": "tomorrow", "tmorrow": "tomorrow",
    "tdy": "today", "tday": "today", "2day": "today", "todayy": "today",
    "yday": "yesterday", "yest": "yesterday", "2nite": "tonight", "tonite": "tonight",
    "mon": "monday", "tue": "tuesday", "tues": "tuesday", "tuseday": "tuesday",
    "wed": "wednesday", "weds": "wednesday", "wensday": "wednesday", "wendsday": "wednesday",
    "wednsday": "wednesday", "wedensday": "wednesday", "thu": "thursday", "thur": "thursday",
    "thurs": "thursday", "thrusday": "thursday", "thursady": "thursday", "fri": "friday",
    "firday": "friday", "fridy": "friday", "sat": "saturday", "saturady": "saturday",
    "saterday": "saturday", "sun": "sunday", "sundy": "sunday",
    "wk": "week", "wks": "weeks", "wek": "week", "weeks'": "weeks", "mins": "minutes",
    "hr": "hour", "hrs": "hours", "mth": "month", "mths": "months", "mo": "month",
    "pls": "", "plz": "", "please": "", "maybe": "", "ish": "", "probably": "",
    "a.m.": "am", "p.m.": "pm", "o'clock": "oclock",
}  # fmt: skip
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "couple of": 2, "a couple of": 2,
    "few": 3, "a few": 3,
}  # fmt: skip
_PARTS = {
    "first thing": 9, "morning": 9, "lunchtime": 12, "lunch time": 12, "lunch": 12,
    "noon": 12, "midday": 12, "afternoon": 14, "evening": 18, "tonight": 19, "night": 19,
    "eod": 17, "end of day": 17, "end of the day": 17, "cob": 17, "close of business": 17,
}  # fmt: skip
_LATE_PARTS = {"afternoon", "evening", "tonight", "night"}
_HOLIDAYS = {
    "christmas eve": (12, 24), "christmas day": (12, 25), "christmas": (12, 25),
    "xmas": (12, 25), "boxing day": (12, 26), "new year's eve": (12, 31),
    "new years eve": (12, 31), "nye": (12, 31), "new year's day": (1, 1),
    "new years day": (1, 1),
}  # fmt: skip

_WD = "|".join(WEEKDAYS)
_MON = "|".join([m for m in MONTHS] + [m[:3] for m in MONTHS] + ["sept"])
_NUM = (
    r"\d{1,3}|a couple of|couple of|a few|few|an|a|one|two|three|four|five|six|seven|eight"
    r"|nine|ten"
)
_UNIT = r"days?|weeks?|fortnights?|months?"

_CLOCK = re.compile(
    r"(?<![\d/.\-])(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)\b"  # 2pm, 2.30pm, 10:15 am
    r"|(?<![\d/.\-])(\d{1,2}):(\d{2})(?![\d/:])"  # 14:00, 9:30
    r"|(?:\b(?:at|around|about|for|from)|@)\s*(\d{1,2})(?:[.](\d{2}))?(?:\s*oclock)?\b(?![/.:\-]\d)"
    r"(?!\s*(?:st|nd|rd|th|days?|weeks?|months?|of|people|minutes|hours?|mins?)\b)"  # at 3
    r"|(?<![\d/.\-])(\d{1,2})\s*oclock\b"  # 3 o'clock
)
_HALF = re.compile(r"\b(half|quarter)\s+(past|to)?\s*(\d{1,2})\b|\bhalf\s+(\d{1,2})\b")
_PART = re.compile(
    r"\b(?:(?:in|at)\s+the\s+|this\s+|at\s+)?("
    + "|".join(sorted((re.escape(p) for p in _PARTS), key=len, reverse=True))
    + r")\b"
)
_IN_N = re.compile(rf"^(?:in\s+)?({_NUM})\s+({_UNIT})(?:\s+(?:time|from now|from today|later))?$")
_NUMERIC = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})(?:[/.\-](\d{4}|\d{2}))?$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_ORDINAL = re.compile(r"^(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)$")
_WEEKDAY = re.compile(
    rf"^(?:(this coming|this|next|coming|last|a week on|a week from|a week)\s+)?({_WD})(\s+week)?$"
)


@dataclass(frozen=True)
class When:
    """A moment read from text: ``at`` is aware, in the person's zone.

    ``has_time`` says whether the person gave a time; when False, ``at`` is midnight and the
    caller picks the default (a reminder at 9:00, a due date with no time at all).
    """

    at: datetime
    has_time: bool


def day_first_for(timezone_name: str | None) -> bool:
    """Whether people in this zone write 05/12 for 5 December (False only for US zones).

    A person's region is not stored, so the zone stands in for it: the United States writes
    month first, almost everywhere else day first.
    """
    name = timezone_name or ""
    if name.startswith("US/") or name in ("Pacific/Honolulu", "America/Puerto_Rico"):
        return False
    us_prefixes = (
        "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
        "America/Phoenix", "America/Anchorage", "America/Detroit", "America/Boise",
        "America/Juneau", "America/Sitka", "America/Nome", "America/Adak", "America/Yakutat",
        "America/Metlakatla", "America/Menominee", "America/Indiana", "America/Kentucky",
        "America/North_Dakota", "America/Louisville", "America/Indianapolis",
    )  # fmt: skip
    return not name.startswith(us_prefixes)


# ---------------------------------------------------------------------------- public


def parse_when(
    text: str, now_local: datetime, *, day_first: bool = True, want_time: bool
) -> When | None:
    """Read a date field's answer ("tmrw 10am", "15/12", "end of the month"), or None.

    ``now_local`` is the person's own "now" (aware, in their zone; naive is read as local).
    With ``want_time`` False any time given is dropped, as a due date has none.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_FIELD:
        return None
    try:
        return _parse(_clean(text), now_local, day_first=day_first, want_time=want_time)
    except Exception:  # a date reader must never take a turn down; the text is not logged
        log.warning("date parse failed", exc_info=False)
        return None


def find_when(
    sentence: str, now_local: datetime, *, day_first: bool = True, want_time: bool = True
) -> When | None:
    """Pull the date and time out of a longer message, or None.

    "I have an interview on friday with Monzo for a PM role" gives Friday. Only shapes that
    are clearly dates count (a weekday, "tomorrow", "15/12", "4 december", "at 3pm"): words
    like "may", "march" or "PM" alone are not taken as dates.
    """
    if not isinstance(sentence, str) or not sentence.strip():
        return None
    try:
        return _find(_clean(sentence[:MAX_SENTENCE]), now_local, day_first, want_time)
    except Exception:
        log.warning("date search failed", exc_info=False)
        return None


def in_words(at: datetime, has_time: bool, now_local: datetime) -> str:
    """A date phrase to echo back: "Friday 4 December at 14:00" (year added when not this one).

    Echoing the understood date in words lets the person catch a misreading at once.
    """
    day = f"{WEEKDAYS[at.weekday()].title()} {at.day} {MONTHS[at.month - 1].title()}"
    if at.year != now_local.year:
        day += f" {at.year}"
    return f"{day} at {at:%H:%M}" if has_time else day


def looks_like_bad_time(text: str) -> bool:
    """True when the text holds a clock time that cannot exist ("25:00", "13pm").

    Lets the caller say "that time doesn't look right" rather than "I couldn't read that".
    """
    if not isinstance(text, str) or len(text) > MAX_FIELD:
        return False
    for m in re.finditer(r"(?<![\d/.\-])(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\b", text.lower()):
        hour, minute, half = int(m.group(1)), int(m.group(2) or 0), m.group(3)
        if m.group(2) is None and half is None:
            continue
        if minute > 59 or hour > 23 or (half and (hour > 12 or hour == 0)):
            return True
    return False


# ---------------------------------------------------------------------------- cleaning


def _clean(text: str) -> str:
    """Lower case, emoji and punctuation out, shorthand expanded, spaces squeezed."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        kept.append(ch if cat[0] in "LN" or ch in " /:.-'@" else " ")
    text = "".join(kept)
    text = re.sub(r"(\d)t(\d)", r"\1 \2", text)  # 2026-12-04T14:00
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1\2", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # keep dots only inside numbers
    text = re.sub(r"(?<![\d])-|-(?![\d])", " ", text)
    text = re.sub(r"'(?!s\b)", " ", text.replace("o'clock", "oclock"))
    words = [_WORDS.get(w, w) for w in text.split()]
    return " ".join(w for w in words if w)


# ---------------------------------------------------------------------------- the parser


def _parse(text: str, now: datetime, *, day_first: bool, want_time: bool) -> When | None:
    clock, rest, bad = _take_time(text)
    if bad:
        return None
    rest = re.sub(r"\b(?:on|at|by|around|about|for|the day of|before|until|till|due)\b", " ", rest)
    rest = re.sub(r"\s+", " ", rest).strip()
    if clock is not None and not rest:
        if "tonight" in text or re.search(r"\bthis\b", text):
            day = now.date()
        else:
            day = now.date()
            if datetime.combine(day, clock) <= now.replace(tzinfo=None):
                day += timedelta(days=1)
    else:
        found = _day(rest, now.date(), day_first)
        if found is None:
            return None
        day = found
    if not _plausible(day, now.date()):
        return None
    zone = now.tzinfo
    if clock is None or not want_time:
        return When(datetime.combine(day, time(), tzinfo=zone), False)
    return When(datetime.combine(day, clock, tzinfo=zone), True)


def _plausible(day: date, today: date) -> bool:
    return today.year - 1 <= day.year <= today.year + 3


def _take_time(text: str) -> tuple[time | None, str, bool]:
    """Find a clock time or a part of the day; return it, the text without it, and 'bad'."""
    hour: int | None = None
    minute = 0
    explicit = False  # am/pm or a 24-hour clock: no afternoon rule
    rest = text
    m = _HALF.search(rest)
    if m:
        if m.group(4):
            hour, minute = int(m.group(4)), 30
        else:
            hour = int(m.group(3))
            minute = {"half": 30, "quarter": 15}[m.group(1)]
            if m.group(2) == "to":
                hour, minute = hour - 1, 60 - minute
        rest = rest[: m.start()] + " " + rest[m.end() :]
    else:
        m = _CLOCK.search(rest)
        if m:
            g = m.groups()
            if g[0] is not None:
                hour, minute, half = int(g[0]), int(g[1] or 0), g[2]
                if hour > 12 or hour == 0 or minute > 59:
                    return None, rest, True
                hour = hour % 12 + (12 if half == "pm" else 0)
                explicit = True
            elif g[3] is not None:
                hour, minute = int(g[3]), int(g[4])
                explicit = g[3].startswith("0") or hour >= 13 or hour == 0
            elif g[5] is not None:
                hour, minute = int(g[5]), int(g[6] or 0)
            else:
                hour = int(g[7])
            rest = rest[: m.start()] + " " + rest[m.end() :]
    part = _PART.search(rest)
    part_name = part.group(1) if part else None
    if part:
        rest = rest[: part.start()] + " " + rest[part.end() :]
        if part_name == "tonight":
            rest = "today " + rest
    if hour is None and part_name is None:
        return None, text, False
    if hour is None:
        assert part_name is not None
        return time(_PARTS[part_name], 0), rest, False
    if hour > 23 or minute > 59 or hour < 0:
        return None, rest, True
    late = (part_name in _LATE_PARTS and hour < 12) or (part_name is None and 1 <= hour <= 6)
    if late and not explicit:
        hour += 12
    return time(hour, minute), rest, False


def _day(rest: str, today: date, day_first: bool) -> date | None:
    """The day in what is left once the time is out; None when it is not a date."""
    if rest in ("today", "now", "later today"):
        return today
    if rest == "tomorrow":
        return today + timedelta(days=1)
    if rest in ("day after tomorrow", "the day after tomorrow", "overmorrow"):
        return today + timedelta(days=2)
    if rest == "yesterday":
        return today - timedelta(days=1)
    if rest in ("a week today", "week today", "this day next week", "same time next week"):
        return today + timedelta(days=7)
    if rest in ("a week tomorrow", "week tomorrow"):
        return today + timedelta(days=8)
    if rest in ("next week", "a week", "one week", "a weeks time", "in a weeks time"):
        return today + timedelta(days=7)
    if rest in ("next month", "a month"):
        return _add_months(today, 1)
    if found := _end_or_start(rest, today):
        return found
    if found := _weekday(rest, today):
        return found
    if m := _IN_N.match(rest):
        return _in_n(today, _NUMBERS.get(m.group(1)) or int(m.group(1)), m.group(2))
    if m := _ISO.match(rest):
        return _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if m := _NUMERIC.match(rest):
        a, b = int(m.group(1)), int(m.group(2))
        day_n, month_n = (a, b) if day_first else (b, a)
        year = m.group(3)
        if year:
            y = int(year) + (2000 if len(year) == 2 else 0)
            return _safe_date(y, month_n, day_n)
        return _nearest(today, month_n, day_n)
    if found := _month_name_date(rest, today):
        return found
    if m := _ORDINAL.match(rest):
        return _next_day_of_month(today, int(m.group(1)))
    for name, (month_n, day_n) in _HOLIDAYS.items():
        if rest == name or rest == f"{name} day":
            return _nearest(today, month_n, day_n, future=True)
    # "friday 4 december", "fri 4/12": the weekday is decoration when a date follows
    stripped = re.sub(rf"^(?:{_WD})\s+(?:the\s+)?", "", rest)
    if stripped != rest and stripped:
        return _day(stripped, today, day_first)
    return _dateparser_day(rest, today, day_first)


_DAY_MONTH = re.compile(
    rf"^(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MON})(?:\s+(\d{{4}}))?$"
    rf"|^({_MON})\s+(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+(\d{{4}}))?$"
)


def _month_name_date(rest: str, today: date) -> date | None:
    """ "4 dec", "4th of January", "dec 4th 2026": the usual shapes, without dateparser."""
    m = _DAY_MONTH.match(rest)
    if not m:
        return None
    day_s, month_s, year_s = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (
        m.group(5), m.group(4), m.group(6))  # fmt: skip
    month_n = next(i for i, name in enumerate(MONTHS, 1) if name.startswith(month_s[:3]))
    if year_s:
        return _safe_date(int(year_s), month_n, int(day_s))
    return _nearest(today, month_n, int(day_s))


def _end_or_start(rest: str, today: date) -> date | None:
    rest = re.sub(r"\b(?:the|this)\b\s*", "", rest).strip()
    monday = today - timedelta(days=today.weekday())
    if rest in ("end of month", "end of month end", "month end", "end of month day"):
        return date(today.year, today.month, calendar.monthrange(today.year, today.month)[1])
    if rest in ("end of next month", "next month end"):
        nxt = _add_months(today.replace(day=1), 1)
        return nxt.replace(day=calendar.monthrange(nxt.year, nxt.month)[1])
    if rest in ("end of week", "week end", "weekend", "end of working week"):
        if rest == "weekend":
            return today + timedelta(days=(5 - today.weekday()) % 7)
        friday = monday + timedelta(days=4)
        return friday if friday >= today else friday + timedelta(days=7)
    if rest in ("end of next week",):
        return monday + timedelta(days=11)
    if rest in ("start of next week", "beginning of next week", "early next week"):
        return monday + timedelta(days=7)
    if rest in ("start of next month", "beginning of next month"):
        return _add_months(today.replace(day=1), 1)
    return None


def _weekday(rest: str, today: date) -> date | None:
    m = _WEEKDAY.match(rest)
    if not m:
        return None
    prefix, target = m.group(1), WEEKDAYS.index(m.group(2))
    if prefix == "last":
        back = (today.weekday() - target) % 7 or 7
        return today - timedelta(days=back)
    ahead = (target - today.weekday()) % 7
    if ahead == 0 and prefix not in ("this",):
        ahead = 7
    day = today + timedelta(days=ahead)
    if m.group(3) or prefix in ("a week on", "a week from", "a week"):
        day += timedelta(days=7)
    return day


def _in_n(today: date, n: int, unit: str) -> date | None:
    if n > 400:
        return None
    if unit.startswith("day"):
        return today + timedelta(days=n)
    if unit.startswith("week"):
        return today + timedelta(days=7 * n)
    if unit.startswith("fortnight"):
        return today + timedelta(days=14 * n)
    return _add_months(today, n)


def _add_months(day: date, n: int) -> date:
    month0 = day.month - 1 + n
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _nearest(today: date, month: int, day: int, *, future: bool = False) -> date | None:
    """The date with this day and month closest to today (or the next one, with future)."""
    options = [d for y in (today.year - 1, today.year, today.year + 1)
               if (d := _safe_date(y, month, day)) is not None]  # fmt: skip
    if future:
        options = [d for d in options if d >= today]
    if not options:
        return None
    return min(options, key=lambda d: (abs((d - today).days), d < today))


def _next_day_of_month(today: date, day_n: int) -> date | None:
    if not 1 <= day_n <= 31:
        return None
    first = today.replace(day=1)
    for k in range(0, 3):
        month = _add_months(first, k)
        found = _safe_date(month.year, month.month, day_n)
        if found is not None and found >= today:
            return found
    return None


def _settings(today: date, day_first: bool) -> dict[str, Any]:
    return {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": datetime.combine(today, time(12)),
        "DATE_ORDER": "DMY" if day_first else "MDY",
        "RETURN_AS_TIMEZONE_AWARE": False,
        "STRICT_PARSING": False,
    }


def _dateparser_day(rest: str, today: date, day_first: bool) -> date | None:
    """dateparser for the long tail ("3 dec 2026", "jan 5th"), on the day part only."""
    if not re.search(rf"\b(?:{_MON})\b|\d[/.\-]\d|\b\d{{4}}\b", rest):
        return None  # no month and no written date: dateparser would only guess ("31m")
    if not re.search(r"\b\d{1,2}(?:st|nd|rd|th)?\b|\d[/.\-]\d", rest):
        return None  # a month or a year alone ("may", "2026") is not a day
    import dateparser  # imported late: loading it costs ~0.5 s, paid on the first date only

    parsed = dateparser.parse(rest, languages=["en"], settings=_settings(today, day_first))
    if parsed is None:
        return None
    day = parsed.date()
    if not re.search(r"\b\d{4}\b|[/.\-]\d{2}\b", rest):  # no year written: the nearest one
        day = _nearest(today, day.month, day.day) or day
    return day


# ---------------------------------------------------------------------------- search


_DAY_SPANS = [
    r"\d{4}-\d{1,2}-\d{1,2}",
    r"(?:the\s+)?day after tomorrow",
    r"a week (?:today|tomorrow)",
    r"end of (?:the\s+|this\s+)?(?:next\s+)?(?:week|month)",
    r"(?:start|beginning) of next (?:week|month)",
    rf"(?:(?:this coming|this|next|coming|last|a week on|a week from)\s+)?(?:{_WD})(?:\s+week)?"
    rf"(?:\s+(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)?(?:\s+(?:of\s+)?(?:{_MON}))?)?",
    r"tomorrow|today|tonight|yesterday",
    rf"in\s+(?:{_NUM})\s+(?:{_UNIT})(?:\s+time)?|(?:{_NUM})\s+(?:{_UNIT})\s+from\s+(?:now|today)",
    r"next (?:week|month)",
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MON})\b(?:\s+\d{{4}})?",
    rf"(?:{_MON})\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?!:)(?:\s+\d{{4}})?",
    r"(?:christmas eve|christmas day|christmas|xmas|boxing day|new year'?s (?:eve|day))",
]
_DAY_RE = re.compile(r"\b(?:" + "|".join(_DAY_SPANS) + r")\b")
# A numeric date in a sentence only after a word that introduces one ("rated it 3/5" is not).
_NUMERIC_IN = re.compile(
    r"\b(?:on|by|for|until|till|before|after|from|date|due|is|it's|its)\s+"
    r"(\d{1,2}[/.\-]\d{1,2}(?:[/.\-](?:\d{4}|\d{2}))?)(?![\d/])"
)
_TIME_IN = re.compile(
    r"(?<![\d/.\-])\d{1,2}(?:[:.]\d{2})?\s*(?:am|pm)\b|(?<![\d/.\-])\d{1,2}:\d{2}(?![\d/:])"
    r"|(?:\bat|@)\s*\d{1,2}(?:[.:]\d{2})?\b(?![/.:\-]\d)"
    r"(?=\s*(?:$|[,;!?]|(?:on|tomorrow|today|tonight|this|next|in|with|for|ish|oclock)\b))"
    r"|\bhalf\s+(?:past\s+)?\d{1,2}\b|\bquarter\s+(?:past|to)\s+\d{1,2}\b"
    r"|\b(?:in the |this |tomorrow )?(?:morning|afternoon|evening|lunchtime)\b|\bnoon\b"
    r"|\bmidday\b|\beod\b|\bend of (?:the )?day\b"
)


def _find(text: str, now: datetime, day_first: bool, want_time: bool) -> When | None:
    day_m = _DAY_RE.search(text)
    day_text = day_m.group(0) if day_m else None
    if day_text is None and (n := _NUMERIC_IN.search(text)):
        day_text = n.group(1)
    times = [
        t for t in _TIME_IN.finditer(text)
        if not re.search(r"\bgood\s*$", text[: t.start()])  # "good morning" is a greeting
    ]  # fmt: skip
    time_text = times[0].group(0) if times else ""
    if day_text is not None:
        found = _parse(f"{day_text} {time_text}".strip(), now, day_first=day_first,
                       want_time=want_time)  # fmt: skip
        if found is not None:
            return found
    if time_text and re.search(r"\d|this|tonight", time_text):
        found = _parse(time_text, now, day_first=day_first, want_time=want_time)
        if found is not None:
            return found
    return _search_fallback(text, now, day_first, want_time)


def _search_fallback(text: str, now: datetime, day_first: bool, want_time: bool) -> When | None:
    """dateparser's search, kept only for spans that are clearly dates (a month with a day)."""
    if not re.search(rf"\b(?:{_MON})\b", text) or not re.search(r"\d", text):
        return None
    from dateparser.search import search_dates

    hits = search_dates(text, languages=["en"], settings=_settings(now.date(), day_first))
    for span, _ in hits or []:
        if re.search(r"\d", span) and re.search(rf"\b(?:{_MON})\b", span):
            found = _parse(span, now, day_first=day_first, want_time=want_time)
            if found is not None:
                return found
    return None


def zone_name(zone: tzinfo | None) -> str | None:
    """The IANA name of a zone when it has one (ZoneInfo.key), for ``day_first_for``."""
    return getattr(zone, "key", None)
