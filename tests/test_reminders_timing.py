"""When reminders fire, on a controlled clock: each kind at its local time, across both DST
changes, out of quiet hours, after a misfire, and never over someone's live conversation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey
from bot.reminders.schedule import local_time
from bot.reminders.scheduler import ReminderScheduler
from bot.storage.models import Conversation, FeedbackRequest, PlanAction, Reminder, User

from .conftest import Clock
from .reminders_helpers import Inbox, find, interview, meet, remind, row, status, step

MINUTE = timedelta(minutes=1)
# Each kind, the local time it is booked for, and words its nudge must contain.
KINDS = {
    "debrief": ("18:00", "How did your Analyst interview at Acme go?"),
    "decision": ("10:00", "Acme hoped to decide about the Analyst role by now"),
    "feedback_follow_up": ("10:00", "since you asked Acme for feedback"),
    "plan_action": ("09:30", "A nudge for today: Practise answers out loud"),
    "paused_check_in": ("10:00", "just checking in after the other day"),
    "weekly_summary": ("09:00", "Your week in brief"),
}
# The four DST days of 2026 (a Sunday each; the weekly summary goes on the Monday after).
DST_DAYS = [
    ("Europe/London", date(2026, 3, 29)),
    ("Europe/London", date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
]


@pytest.fixture
def inbox(clock: Clock) -> Inbox:
    return Inbox(clock)


@pytest.fixture
def scheduler(engine: Engine, inbox: Inbox) -> ReminderScheduler:
    return ReminderScheduler(engine, {"terminal": inbox})


def subject(engine: Engine, kind: str, key: UserKey) -> tuple[int | None, dict[str, Any]]:
    """The thing a reminder of ``kind`` is about, stored for this person: (ref_id, payload)."""
    iid = interview(engine.db, key)
    with engine.db.transaction() as s:
        user = find(s, key)
        if kind == "feedback_follow_up":
            req = FeedbackRequest(user_id=user.id, interview_id=iid, draft="Hello")
            s.add(req)
            s.flush()
            return req.id, {}
        if kind == "plan_action":
            item = PlanAction(user_id=user.id, kind="practice", title="Practise answers out loud")
            s.add(item)
            s.flush()
            return item.id, {}
        if kind == "paused_check_in":
            conv = s.scalars(select(Conversation).where(Conversation.user_id == user.id)).one()
            conv.flow, conv.state, conv.paused_at = "rejection", "rest", conv.updated_at
            return iid, {"flow": "rejection", "interview_id": iid}
        if kind == "weekly_summary":
            user.weekly_summary = True
            return None, {}
    return iid, {}


def zone_user(engine: Engine, key: UserKey) -> User:
    with engine.db.transaction() as s:
        return find(s, key)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(("zone", "day"), DST_DAYS, ids=lambda v: str(v))
def test_each_kind_fires_once_at_its_local_time_on_dst_days(
    engine: Engine, clock: Clock, inbox: Inbox, scheduler: ReminderScheduler,
    kind: str, zone: str, day: date,
) -> None:  # fmt: skip
    hhmm, words = KINDS[kind]
    clock.now = datetime.combine(day, datetime.min.time(), UTC) - timedelta(days=2)
    key = meet(engine, "sam", zone)
    ref, payload = subject(engine, kind, key)
    if kind == "weekly_summary":
        day += timedelta(days=1)
    due = local_time(zone_user(engine, key), "UTC", day, hhmm)
    rid = remind(engine.db, key, kind, due, ref_id=ref, payload=payload)
    clock.now = due - 3 * MINUTE
    step(clock, scheduler, due + 3 * MINUTE, MINUTE)
    assert [d.at for d in inbox.sent] == [due]
    assert words in inbox.sent[0].text
    assert due.astimezone(ZoneInfo(zone)).strftime("%H:%M") == hhmm
    assert status(engine.db, rid) == "sent"


@pytest.mark.parametrize(("zone", "day"), DST_DAYS, ids=lambda v: str(v))
def test_a_night_of_reminders_across_the_dst_change_each_fires_exactly_once(
    engine: Engine, clock: Clock, inbox: Inbox, scheduler: ReminderScheduler, zone: str, day: date
) -> None:
    """Every quarter hour of local wall time from 00:00 to 03:45, skipped and repeated hours
    included, with the clock stepping five minutes at a time through the whole night."""
    clock.now = datetime.combine(day, datetime.min.time(), UTC) - timedelta(days=1)
    wanted: dict[str, datetime] = {}
    for minutes in range(0, 4 * 60, 15):
        name = f"p{minutes:03d}"
        key = meet(engine, name, zone, quiet="00:00-00:00")  # no quiet hours
        hhmm = f"{minutes // 60:02d}:{minutes % 60:02d}"
        wanted[name] = local_time(zone_user(engine, key), "UTC", day, hhmm)
        remind(engine.db, key, "weekly_summary", wanted[name])
        with engine.db.transaction() as s:
            find(s, key).weekly_summary = True
    start = min(wanted.values()) - timedelta(hours=2)
    clock.now = start
    step(clock, scheduler, max(wanted.values()) + timedelta(hours=3), 5 * MINUTE)
    got = {d.user: d.at for d in inbox.sent}
    assert len(inbox.sent) == len(wanted) == len(got)  # nobody twice, nobody skipped
    for name, due in wanted.items():
        assert due <= got[name] < due + 5 * MINUTE


@pytest.mark.parametrize(("zone", "day"), [DST_DAYS[0], DST_DAYS[1], DST_DAYS[3]])
def test_weekly_summary_chain_stays_at_nine_local_across_dst(
    engine: Engine, clock: Clock, inbox: Inbox, scheduler: ReminderScheduler, zone: str, day: date
) -> None:
    clock.now = datetime.combine(day - timedelta(days=15), datetime.min.time(), UTC)
    key = meet(engine, "wes", zone)
    engine.handle(Inbound(user=key, text="settings"))
    engine.handle(Inbound(user=key, text="Start a Monday summary"))
    with engine.db.transaction() as s:  # they wander off: not mid-conversation
        conv = s.scalars(select(Conversation)).one()
        conv.updated_at -= timedelta(hours=1)
    step(clock, scheduler, clock.now + timedelta(days=35), timedelta(minutes=30))
    local = [d.at.astimezone(ZoneInfo(zone)) for d in inbox.sent]
    assert len(local) == 5
    assert {(t.weekday(), t.strftime("%H:%M")) for t in local} == {(0, "09:00")}
    gaps = {b - a for a, b in pairwise(local)}  # 7 days of wall clock, DST or not
    assert gaps <= {timedelta(days=7), timedelta(days=7, hours=1), timedelta(days=6, hours=23)}


def test_nothing_is_delivered_in_quiet_hours_it_waits_for_the_morning(
    engine: Engine, clock: Clock, inbox: Inbox, scheduler: ReminderScheduler
) -> None:
    clock.set("2026-11-23 12:00")
    key = meet(engine, "quinn", "Europe/London")
    rid = remind(engine.db, key, "weekly_summary", datetime(2026, 11, 23, 20, 30, tzinfo=UTC))
    with engine.db.transaction() as s:
        user = find(s, key)
        user.weekly_summary = True
        user.quiet_start = "20:00"  # changed after the reminder was stored
    step(clock, scheduler, datetime(2026, 11, 24, 9, 0, tzinfo=UTC), 10 * MINUTE)
    assert [d.at for d in inbox.sent] == [datetime(2026, 11, 24, 8, 0, tzinfo=UTC)]
    assert status(engine.db, rid) == "sent"


def test_misfire_within_the_window_is_delivered_once_older_ones_fold_into_the_next(
    engine: Engine, clock: Clock, inbox: Inbox, scheduler: ReminderScheduler
) -> None:
    """The scheduler was down for two days: one fresh reminder goes out, the stale pile does
    not; the stale ones are mentioned in that one message instead."""
    clock.set("2026-11-25 10:00")
    key = meet(engine, "max", None, quiet="00:00-00:00")
    iid = interview(engine.db, key, company="Contoso")
    stale = [
        remind(engine.db, key, "debrief", clock.now - timedelta(days=2), ref_id=iid, raw=True),
        remind(engine.db, key, "decision", clock.now - timedelta(hours=13), ref_id=iid, raw=True),
    ]
    fresh = remind(engine.db, key, "decision", clock.now - timedelta(hours=3), ref_id=iid)
    assert scheduler.run_pending() == 1
    assert scheduler.run_pending() == 0
    (only,) = inbox.sent
    assert "I missed a check-in or two (Debrief: Analyst at Contoso; Any news from Contoso?)" in (
        only.text
    )
    assert "Contoso hoped to decide" in only.text
    assert [status(engine.db, r) for r in [*stale, fresh]] == ["folded", "folded", "sent"]
    assert row(engine.db, stale[0]).payload["folded_into"] == fresh


def test_a_reminder_never_lands_in_a_live_conversation(
    engine: Engine, clock: Clock, inbox: Inbox, scheduler: ReminderScheduler
) -> None:
    clock.set("2026-11-23 12:00")
    key = meet(engine, "lou", None, quiet="00:00-00:00")
    rid = remind(engine.db, key, "plan_action", clock.now, ref_id=plan_item(engine, key))
    clock.set("2026-11-23 11:58")
    engine.handle(Inbound(user=key, text="progress"))  # typing two minutes before it is due
    step(clock, scheduler, datetime(2026, 11, 23, 12, 2, tzinfo=UTC), MINUTE)
    assert inbox.sent == [] and status(engine.db, rid) == "pending"
    step(clock, scheduler, datetime(2026, 11, 23, 12, 10, tzinfo=UTC), MINUTE)
    assert [d.at for d in inbox.sent] == [datetime(2026, 11, 23, 12, 3, tzinfo=UTC)]


def plan_item(engine: Engine, key: UserKey) -> int:
    with engine.db.transaction() as s:
        item = PlanAction(user_id=find(s, key).id, kind="practice", title="Practise")
        s.add(item)
        s.flush()
        return item.id


def test_crisis_silences_every_reminder_until_the_person_writes_again(
    engine: Engine, clock: Clock, inbox: Inbox, scheduler: ReminderScheduler
) -> None:
    clock.set("2026-11-23 12:00")
    key = meet(engine, "cy", None, quiet="00:00-00:00")
    engine.handle(Inbound(user=key, text="i want to end my life"))
    rid = remind(engine.db, key, "plan_action", clock.now + MINUTE, ref_id=plan_item(engine, key))
    step(clock, scheduler, clock.now + timedelta(hours=6), 10 * MINUTE)
    assert inbox.sent == [] and status(engine.db, rid) == "pending"
    assert scheduler.next_due() is None  # not even timed while the flag is set
    engine.handle(Inbound(user=key, text="hi, I'm feeling a bit better"))
    clock.advance(minutes=10)
    assert scheduler.run_pending() == 1


def test_stopped_reminders_stay_queued_and_come_back_when_turned_on(
    engine: Engine, clock: Clock, inbox: Inbox, scheduler: ReminderScheduler
) -> None:
    clock.set("2026-11-23 12:00")
    key = meet(engine, "sky", None, quiet="00:00-00:00")
    with engine.db.transaction() as s:
        find(s, key).reminders_on = False
    rid = remind(engine.db, key, "plan_action", clock.now, ref_id=plan_item(engine, key))
    clock.advance(hours=1)
    assert scheduler.run_pending() == 0 and status(engine.db, rid) == "pending"
    with engine.db.transaction() as s:
        find(s, key).reminders_on = True
    assert scheduler.run_pending() == 1


def test_reminders_no_longer_needed_are_cancelled_not_sent(
    engine: Engine, clock: Clock, inbox: Inbox, scheduler: ReminderScheduler
) -> None:
    clock.set("2026-11-23 12:00")
    key = meet(engine, "nia", None, quiet="00:00-00:00")
    iid = interview(engine.db, key)
    item = plan_item(engine, key)
    debrief = remind(engine.db, key, "debrief", clock.now, ref_id=iid)
    action = remind(engine.db, key, "plan_action", clock.now, ref_id=item)
    check_in = remind(engine.db, key, "paused_check_in", clock.now, payload={"flow": "plan"})
    with engine.db.transaction() as s:
        s.get(PlanAction, item).status = "done"  # type: ignore[union-attr]
        from bot.storage.models import Interview

        s.get(Interview, iid).debrief = {"how": "ok"}  # type: ignore[union-attr]
    clock.advance(minutes=1)
    assert scheduler.run_pending() == 0
    reasons = {r: row(engine.db, r).last_error for r in (debrief, action, check_in)}
    assert reasons == {
        debrief: "already debriefed",
        action: "the action is already done",
        check_in: "they carried on by themselves",
    }
    assert {status(engine.db, r) for r in reasons} == {"cancelled"}


def test_debrief_booked_by_the_log_flow_fires_at_six_in_the_evening_on_spring_forward(
    engine: Engine, clock: Clock, inbox: Inbox, scheduler: ReminderScheduler
) -> None:
    clock.set("2026-03-29 08:00")
    key = meet(engine, "ola", "Europe/London")
    for text in ("log",):
        engine.handle(Inbound(user=key, text=text))
    conv_token = _token(engine, key)
    engine.handle(Inbound(user=key, form={"company": "Acme", "role": "Analyst",
                                          "when": "today 11:00"}, token=conv_token))  # fmt: skip
    engine.handle(Inbound(user=key, text="First round"))
    engine.handle(Inbound(user=key, form={"interviewer": "", "decision_by": ""},
                          token=_token(engine, key)))  # fmt: skip
    with engine.db.transaction() as s:
        (due,) = s.scalars(select(Reminder.due_at).where(Reminder.kind == "debrief"))
    assert due == datetime(2026, 3, 29, 17, 0, tzinfo=UTC)  # 18:00 BST
    step(clock, scheduler, due + 5 * MINUTE, 5 * MINUTE)
    assert [d.at for d in inbox.sent] == [due]


def _token(engine: Engine, key: UserKey) -> str:
    with engine.db.transaction() as s:
        conv = s.scalars(select(Conversation).where(Conversation.user_id == find(s, key).id)).one()
        return f"{conv.flow}.{conv.state}.{conv.step}"


def test_pausing_a_rejection_books_one_check_in_and_coming_back_cancels_it(
    engine: Engine, clock: Clock
) -> None:
    clock.set("2026-11-23 15:00")
    key = meet(engine, "pat", "America/New_York")
    engine.handle(Inbound(user=key, text="rejected"))
    engine.handle(Inbound(user=key, form={"company": "Initech", "role": "Engineer"},
                          token=_token(engine, key)))  # fmt: skip
    engine.handle(Inbound(user=key, text="pause"))
    engine.handle(Inbound(user=key, text="pause"))  # twice: still one check-in
    with engine.db.transaction() as s:
        rows = s.scalars(select(Reminder).where(Reminder.kind == "paused_check_in")).all()
        assert [(r.status, r.due_at, r.payload["flow"]) for r in rows] == [
            ("cancelled", datetime(2026, 11, 25, 15, 0, tzinfo=UTC), "rejection"),
            ("pending", datetime(2026, 11, 25, 15, 0, tzinfo=UTC), "rejection"),
        ]  # 10:00 in New York, two days on
    engine.handle(Inbound(user=key, text="hello again"))
    with engine.db.transaction() as s:
        assert set(s.scalars(select(Reminder.status))) == {"cancelled"}
    engine.handle(Inbound(user=key, text="menu"))
    engine.handle(Inbound(user=key, text="pause"))  # paused on the menu: no check-in
    with engine.db.transaction() as s:
        assert set(s.scalars(select(Reminder.status))) == {"cancelled"}
