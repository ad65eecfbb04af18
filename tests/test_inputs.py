"""Parsing what people type: numbers, dates, times, and cleaning control characters."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.conversation.flow_check import load_messages
from bot.conversation.inputs import clean_text, parse_date, parse_datetime, parse_number

from .conftest import FLOWS

TODAY = date(2026, 11, 23)  # a Monday
WORDS = load_messages(FLOWS)[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", date(2026, 11, 23)),
        ("tomorrow", date(2026, 11, 24)),
        ("friday", date(2026, 11, 27)),
        ("next monday", date(2026, 11, 30)),
        ("in 3 days", date(2026, 11, 26)),
        ("in 2 weeks", date(2026, 12, 7)),
        ("2026-12-03", date(2026, 12, 3)),
        ("3 Dec 2026", date(2026, 12, 3)),
    ],
)
def test_dates(text: str, expected: date) -> None:
    assert parse_date(text, TODAY, WORDS) == (expected, None)


@pytest.mark.parametrize("text", ["soonish", "32/13/2026", "🙂"])
def test_bad_dates_explain(text: str) -> None:
    value, why = parse_date(text, TODAY, WORDS)
    assert value is None and why


def test_datetimes_are_local_and_aware() -> None:
    zone = ZoneInfo("Europe/London")
    now = datetime(2026, 11, 23, 10, 0, tzinfo=zone)
    assert parse_datetime("tomorrow 2pm", now, zone, WORDS)[0] == datetime(
        2026, 11, 24, 14, 0, tzinfo=zone
    )
    assert parse_datetime("2026-12-01 09:30", now, zone, WORDS)[0] == datetime(
        2026, 12, 1, 9, 30, tzinfo=zone
    )
    assert parse_datetime("friday", now, zone, WORDS)[0] == datetime(
        2026, 11, 27, 9, 0, tzinfo=zone
    )
    assert parse_datetime("whenever", now, zone, WORDS)[0] is None


def test_numbers() -> None:
    assert parse_number("4", 1, 5, WORDS) == (4, None)
    assert parse_number("about 3 I guess", 1, 5, WORDS) == (3, None)
    assert parse_number("7", 1, 5, WORDS) == (None, "Please pick a number from 1 to 5.")
    assert parse_number("lots", 1, 5, WORDS)[0] is None


def test_clean_text_strips_controls_keeps_emoji_and_newlines() -> None:
    assert clean_text("  hi\x00\x1b there 🙂\nok\u200b ") == "hi there 🙂\nok"
