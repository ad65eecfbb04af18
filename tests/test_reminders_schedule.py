"""The reminders data API: UTC storage, quiet hours, and local-time maths across DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.reminders.schedule import (
    add_reminder,
    cancel_reminders,
    in_quiet_hours,
    local_time,
    next_weekly_summary,
    out_of_quiet_hours,
    own_reminder,
    snooze_until,
    upcoming,
)
from bot.storage.db import Database
from bot.storage.models import Reminder, User

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def person(zone: str | None = "Europe/London", quiet: tuple[str, str] = ("21:00", "08:00")) -> User:
    return User(
        platform="terminal", workspace="local", external_id="x", timezone=zone,
        quiet_start=quiet[0], quiet_end=quiet[1], reminders_on=True, weekly_summary=False,
    )  # fmt: skip


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ------------------------------------------------------------------ local wall-clock time


@pytest.mark.parametrize(
    ("zone", "day", "hhmm", "expected_utc"),
    [
        # Europe/London springs forward at 01:00 GMT on 2026-03-29: 01:00-01:59 never happens.
        ("Europe/London", date(2026, 3, 29), "00:30", "2026-03-29 00:30"),
        ("Europe/London", date(2026, 3, 29), "01:30", "2026-03-29 01:30"),  # = 02:30 BST
        ("Europe/London", date(2026, 3, 29), "02:30", "2026-03-29 01:30"),
        ("Europe/London", date(2026, 3, 29), "18:00", "2026-03-29 17:00"),
        ("Europe/London", date(2026, 3, 28), "18:00", "2026-03-28 18:00"),
        # ... and falls back at 02:00 BST on 2026-10-25: 01:00-01:59 happens twice.
        ("Europe/London", date(2026, 10, 25), "01:30", "2026-10-25 00:30"),  # the first one
        ("Europe/London", date(2026, 10, 25), "18:00", "2026-10-25 18:00"),
        ("Europe/London", date(2026, 10, 24), "18:00", "2026-10-24 17:00"),
        # America/New_York: 02:00-02:59 is skipped on 2026-03-08, 01:00-01:59 repeats 2026-11-01.
        ("America/New_York", date(2026, 3, 8), "02:30", "2026-03-08 07:30"),  # = 03:30 EDT
        ("America/New_York", date(2026, 3, 8), "18:00", "2026-03-08 22:00"),
        ("America/New_York", date(2026, 11, 1), "01:30", "2026-11-01 05:30"),  # EDT, the first
        ("America/New_York", date(2026, 11, 1), "18:00", "2026-11-01 23:00"),
    ],
)
def test_local_time_is_dst_safe(zone: str, day: date, hhmm: str, expected_utc: str) -> None:
    assert local_time(person(zone), "UTC", day, hhmm) == utc(expected_utc)


def test_local_time_uses_the_default_zone_when_the_person_has_none() -> None:
    assert local_time(person(None), "Asia/Tokyo", date(2026, 6, 1), "09:00") == utc(
        "2026-06-01 00:00"
    )


# ------------------------------------------------------------------ quiet hours


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-01-10 20:59", "2026-01-10 20:59"),  # just before quiet hours: unchanged
        ("2026-01-10 21:00", "2026-01-11 08:00"),  # evening part: next morning
        ("2026-01-11 03:00", "2026-01-11 08:00"),  # small hours: this morning
        ("2026-01-11 08:00", "2026-01-11 08:00"),
    ],
)
def test_out_of_quiet_hours_overnight(moment: str, expected: str) -> None:
    zone = ZoneInfo("Europe/London")
    assert out_of_quiet_hours(utc(moment), zone, "21:00", "08:00") == utc(expected)


def test_quiet_end_inside_the_spring_gap_moves_forward() -> None:
    zone = ZoneInfo("Europe/London")  # 01:30 does not exist on 2026-03-29
    moved = out_of_quiet_hours(utc("2026-03-28 23:00"), zone, "22:00", "01:30")
    assert moved == utc("2026-03-29 01:30")  # 02:30 BST, the first minute that exists after
    assert moved.astimezone(zone).strftime("%H:%M") == "02:30"


def test_quiet_end_repeated_at_fall_back_is_never_in_the_past() -> None:
    zone = ZoneInfo("Europe/London")  # 01:30 happens at 00:30 UTC and again at 01:30 UTC
    assert out_of_quiet_hours(utc("2026-10-24 23:00"), zone, "22:00", "01:30") == utc(
        "2026-10-25 00:30"
    )
    # 01:10 UTC reads 01:10 GMT: quiet again by the wall clock; the first 01:30 is behind us.
    assert out_of_quiet_hours(utc("2026-10-25 01:10"), zone, "22:00", "01:30") == utc(
        "2026-10-25 01:30"
    )


def test_equal_start_and_end_means_no_quiet_hours() -> None:
    assert not in_quiet_hours(utc("2026-01-01 03:00"), ZoneInfo("UTC"), "00:00", "00:00")


ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
HHMM = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 30]))


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(ZONES),
    start=HHMM,
    end=HHMM,
)
def test_out_of_quiet_hours_is_ahead_allowed_and_within_a_day(
    moment: datetime, zone: str, start: str, end: str
) -> None:
    tz = ZoneInfo(zone)
    moved = out_of_quiet_hours(moment, tz, start, end)
    assert moment <= moved <= moment + timedelta(hours=25)
    assert not in_quiet_hours(moved, tz, start, end)


# ------------------------------------------------------------------ rows


def stored_person(db: Database, zone: str = "Europe/London") -> int:
    with db.transaction() as s:
        user = person(zone)
        s.add(user)
        s.flush()
        return user.id


def test_add_reminder_stores_utc_moved_out_of_quiet_hours(db: Database) -> None:
    uid = stored_person(db)
    with db.transaction() as s:
        user = s.get(User, uid)
        assert user is not None
        late = datetime(2026, 7, 1, 23, 30, tzinfo=ZoneInfo("Europe/London"))
        row = add_reminder(s, user, "plan_action", late, ref_id=7, payload={"a": 1}, now=NOW)
        rid = row.id
    with db.transaction() as s:
        row = s.get(Reminder, rid)
        assert row is not None
        assert row.due_at == utc("2026-07-02 07:00")  # 08:00 BST
        assert (row.status, row.attempts, row.ref_id, row.payload) == ("pending", 0, 7, {"a": 1})


def test_add_reminder_refuses_naive_times_and_unknown_kinds(db: Database) -> None:
    uid = stored_person(db)
    with db.transaction() as s:
        user = s.get(User, uid)
        assert user is not None
        with pytest.raises(ValueError, match="aware"):
            add_reminder(s, user, "debrief", datetime(2026, 7, 1, 12))
        with pytest.raises(ValueError, match="unknown reminder kind"):
            add_reminder(s, user, "birthday", NOW)


def test_cancel_touches_only_pending_rows_of_that_kind_and_ref(db: Database) -> None:
    uid = stored_person(db)
    with db.transaction() as s:
        user = s.get(User, uid)
        assert user is not None
        for kind, ref in [("debrief", 1), ("decision", 1), ("debrief", 2)]:
            add_reminder(s, user, kind, NOW + timedelta(hours=1), ref_id=ref, now=NOW)
        add_reminder(s, user, "debrief", NOW, ref_id=1, now=NOW).status = "sent"
        s.flush()
        assert cancel_reminders(s, user, kind="debrief", ref_id=1) == 1
        assert cancel_reminders(s, user, kind="debrief", ref_id=1) == 0
        assert [r.kind for r in upcoming(s, user)] == ["decision", "debrief"]
        assert cancel_reminders(s, user) == 2
        statuses = sorted(s.scalars(select(Reminder.status)))
    assert statuses == ["cancelled", "cancelled", "cancelled", "sent"]


def test_own_reminder_never_finds_someone_elses(db: Database) -> None:
    with db.transaction() as s:
        mine, theirs = person(), person()
        theirs.external_id = "y"
        s.add_all([mine, theirs])
        s.flush()
        row = add_reminder(s, theirs, "debrief", NOW, now=NOW)
        assert own_reminder(s, mine, row.id) is None
        assert own_reminder(s, theirs, str(row.id)) is row
        assert own_reminder(s, theirs, "1; DROP TABLE") is None


# ------------------------------------------------------------------ snooze and weekly


@pytest.mark.parametrize(
    ("now", "choice", "expected"),
    [
        ("2026-03-28 18:00", "tomorrow", "2026-03-29 17:00"),  # 18:00 BST: 23 hours later
        ("2026-10-24 17:00", "tomorrow", "2026-10-25 18:00"),  # 18:00 GMT: 25 hours later
        ("2026-03-25 18:00", "week", "2026-04-01 17:00"),
        ("2026-03-28 19:30", "hour", "2026-03-28 20:30"),
        ("2026-03-28 20:30", "hour", "2026-03-29 07:00"),  # 21:30 is quiet: 08:00 BST
        ("2026-03-27 23:00", "tomorrow", "2026-03-28 08:00"),  # tomorrow morning, not the next
    ],
)
def test_snooze_keeps_the_wall_clock(now: str, choice: str, expected: str) -> None:
    assert snooze_until(person(), "UTC", utc(now), choice) == utc(expected)


def test_weekly_summary_is_monday_nine_local_either_side_of_dst() -> None:
    london = person()
    first = next_weekly_summary(london, "UTC", utc("2026-03-20 12:00"))
    second = next_weekly_summary(london, "UTC", first)
    assert first == utc("2026-03-23 09:00")  # GMT
    assert second == utc("2026-03-30 08:00")  # 09:00 BST
    assert next_weekly_summary(london, "UTC", utc("2026-10-26 08:59")) == utc("2026-10-26 09:00")
