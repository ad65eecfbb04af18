"""Behaviour behind ``flows/reminders.yaml`` and ``flows/settings.yaml``, and the pause hooks.

A delivered reminder lands the person on the ``reminders`` flow's nudge with only
``reminder_id`` in its slots; :func:`load_reminder` fills in the rest (which interview, which
action) from the row, inside the same turn, so the nudge always shows the current facts.
The choices on the nudge (snooze, skip, done, stop) are actions here, and each one only ever
touches the person's own rows (:func:`~bot.reminders.schedule.own_reminder`). What depends
on the kind of reminder is declared in :mod:`bot.coaching.reminder_kinds`.

Words for reminders that appear inside generated lists live in ``flows/_reminders.yaml``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from sqlalchemy import func, select

from bot.coaching.reminder_kinds import KINDS
from bot.conversation.context import TurnContext
from bot.conversation.flow_loader import load_yaml
from bot.conversation.flow_spec import Strict, one_of, template
from bot.conversation.registry import (
    ConditionFn,
    Registry,
    action,
    condition,
    data_file,
    on,
    option_provider,
)
from bot.reminders.schedule import KINDS as KIND_NAMES
from bot.reminders.schedule import (
    add_reminder,
    cancel_reminders,
    local_time,
    next_weekly_summary,
    own_reminder,
    reschedule,
    snooze_until,
    upcoming,
)
from bot.storage.models import Interview, PlanAction, Reminder

WORDS_FILE = "_reminders.yaml"
BY_NAME = {kind.name: kind for kind in KINDS}
# The rejection journey: pausing in one of these earns a gentle check-in a few days later.
JOURNEY_FLOWS = ("rejection", "feedback", "reflect", "plan")
CHECK_IN_TIME = "10:00"
_DETAILS = ["interview_id", "company", "role", "feedback_id", "action_id", "action_title"]
_WEEK = ["week_interviews", "week_done", "week_open"]


_TITLE_VALUES = ("company", "role", "action_title")


class ReminderWords(Strict):
    """``flows/_reminders.yaml``: a title per reminder kind, and how a list line reads."""

    titles: dict[
        Annotated[str, one_of((*KIND_NAMES, "default"), "reminder kind")],
        Annotated[str, template(*_TITLE_VALUES)],
    ] = {}
    line: Annotated[str, template("title", "when")] = "{title}: {when}"


data_file(WORDS_FILE, ReminderWords)


@lru_cache(maxsize=4)
def _read_words(path: Path, mtime: float) -> dict[str, Any]:
    return ReminderWords.model_validate(load_yaml(path) or {}).model_dump()


def words(ctx: TurnContext) -> dict[str, Any]:
    path = Path(ctx.settings.flows_dir) / WORDS_FILE
    try:
        return _read_words(path, path.stat().st_mtime)
    except OSError:
        return {}


def when_text(ctx: TurnContext, moment: datetime) -> str:
    local = moment.astimezone(ctx.zone)
    return f"{local:%A} {local.day} {local:%B, %H:%M}"


def details(ctx: TurnContext, reminder: Reminder) -> dict[str, Any]:
    """What a reminder is about, as slots: its kind's declaration says (``reminder_kinds``)."""
    kind = BY_NAME.get(reminder.kind)
    return kind.details(ctx, reminder) if kind is not None and reminder.ref_id else {}


def title(ctx: TurnContext, reminder: Reminder) -> str:
    """One line naming a reminder, from the words file (for lists and the missed note)."""
    titles = words(ctx).get("titles", {})
    kind = BY_NAME.get(reminder.kind)
    key = kind.title_key if kind is not None else reminder.kind
    template = str(titles.get(key) or titles.get("default") or reminder.kind)
    values = {"company": "", "role": "", "action_title": "", **details(ctx, reminder)}
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


# ---------------------------------------------------------------------- the nudge


@action(
    "load_reminder",
    provides=["reminder_kind", "missed_text", *_DETAILS, *_WEEK],
)
def load_reminder(ctx: TurnContext) -> None:
    """Fill the nudge's slots from the reminder row; fold missed reminders into this one."""
    reminder = own_reminder(ctx.session, ctx.user, ctx.slots.get("reminder_id"))
    if reminder is None:
        ctx.slots.pop("reminder_id", None)
        return
    ctx.slots["reminder_kind"] = reminder.kind
    ctx.slots.update(details(ctx, reminder))
    payload = reminder.payload or {}
    if reminder.kind == "paused_check_in":
        ctx.slots["_paused_flow"] = payload.get("flow")
        if payload.get("interview_id") and "interview_id" not in ctx.slots:
            ctx.slots["interview_id"] = payload["interview_id"]
    if reminder.kind == "weekly_summary":
        ctx.slots.update(_week(ctx))
    missed = list(
        ctx.session.scalars(
            select(Reminder)
            .where(Reminder.user_id == ctx.user.id, Reminder.status == "missed")
            .order_by(Reminder.due_at)
        )
    )
    if missed:
        ctx.slots["missed_text"] = "; ".join(title(ctx, m) for m in missed[:5])
        for row in missed:
            row.status = "folded"
            row.payload = {**(row.payload or {}), "folded_into": reminder.id}


def _week(ctx: TurnContext) -> dict[str, int]:
    since = ctx.now - timedelta(days=7)
    user = ctx.user.id

    def count(stmt: Any) -> int:
        return int(ctx.session.scalar(stmt) or 0)

    return {
        "week_interviews": count(
            select(func.count(Interview.id)).where(
                Interview.user_id == user, Interview.created_at >= since
            )
        ),
        "week_done": count(
            select(func.count(PlanAction.id)).where(
                PlanAction.user_id == user, PlanAction.done_at >= since
            )
        ),
        "week_open": count(
            select(func.count(PlanAction.id)).where(
                PlanAction.user_id == user, PlanAction.status == "open"
            )
        ),
    }


@condition("reminder_loaded")
def reminder_loaded(ctx: TurnContext) -> bool:
    return bool(ctx.slots.get("reminder_kind"))


@condition("reminder_has_missed")
def reminder_has_missed(ctx: TurnContext) -> bool:
    return bool(ctx.slots.get("missed_text"))


def _paused_in(flow: str) -> ConditionFn:
    return lambda ctx: ctx.slots.get("_paused_flow") == flow


def contribute(registry: Registry) -> None:
    """One ``paused_in_<flow>`` condition per journey flow (the check-in's way back)."""
    for flow in JOURNEY_FLOWS:
        registry.add_condition(f"paused_in_{flow}", _paused_in(flow))


@action("snooze_reminder", provides=["snooze_when"])
def snooze_reminder(ctx: TurnContext) -> None:
    """Bring the reminder back later: in an hour, tomorrow or next week (quiet hours apply)."""
    reminder = own_reminder(ctx.session, ctx.user, ctx.slots.get("reminder_id"))
    choice = str(ctx.slots.get("snooze") or "hour")
    due = snooze_until(ctx.user, ctx.settings.timezone, ctx.now, choice)
    if reminder is not None:
        reschedule(reminder, due)
    ctx.slots["snooze_when"] = when_text(ctx, due)


@action("skip_reminder")
def skip_reminder(ctx: TurnContext) -> None:
    """This one is not wanted: it never comes back (others are untouched)."""
    reminder = own_reminder(ctx.session, ctx.user, ctx.slots.get("reminder_id"))
    if reminder is not None:
        reminder.status = "skipped"


@action("stop_reminders")
def stop_reminders(ctx: TurnContext) -> None:
    """No proactive messages at all; pending ones wait (and fold) until turned back on."""
    ctx.user.reminders_on = False


@action("start_reminders", provides=["quiet_start", "quiet_end"])
def start_reminders(ctx: TurnContext) -> None:
    ctx.user.reminders_on = True
    describe_settings(ctx)


# ---------------------------------------------------------------------- the list


@option_provider("upcoming_reminders")
def upcoming_reminders(ctx: TurnContext) -> list[tuple[str, str]]:
    line = str(words(ctx).get("line") or "{title}: {when}")
    return [
        (str(r.id), line.format(title=title(ctx, r), when=when_text(ctx, r.due_at))[:75])
        for r in upcoming(ctx.session, ctx.user)
    ]


@condition("has_upcoming_reminders")
def has_upcoming_reminders(ctx: TurnContext) -> bool:
    return bool(upcoming(ctx.session, ctx.user, limit=1))


@condition("reminders_are_off")
def reminders_are_off(ctx: TurnContext) -> bool:
    return not ctx.user.reminders_on


@action("describe_reminder", provides=["reminder_title", "due_text"])
def describe_reminder(ctx: TurnContext) -> None:
    reminder = own_reminder(ctx.session, ctx.user, ctx.slots.get("reminder_id"))
    if reminder is not None:
        ctx.slots["reminder_title"] = title(ctx, reminder)
        ctx.slots["due_text"] = when_text(ctx, reminder.due_at)


# ---------------------------------------------------------------------- settings


@action("describe_settings", provides=["quiet_start", "quiet_end"])
def describe_settings(ctx: TurnContext) -> None:
    ctx.slots["quiet_start"] = ctx.user.quiet_start
    ctx.slots["quiet_end"] = ctx.user.quiet_end


_TIME = re.compile(r"^(\d{1,2})(?:[:.h]?(\d{2}))?\s*(am|pm)?$")


def parse_hhmm(text: str) -> str | None:
    """'21:00', '9pm', '9.30 pm', '0800' -> 'HH:MM'; None when it is not a time of day."""
    match = _TIME.match(str(text).strip().lower())
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if match.group(3):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match.group(3) == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


@action("save_quiet_hours", provides=["quiet_start", "quiet_end"])
def save_quiet_hours(ctx: TurnContext) -> None:
    """Store new quiet hours; pending reminders are checked against them at delivery."""
    start, end = (
        parse_hhmm(ctx.slots.get("quiet_from", "")),
        parse_hhmm(ctx.slots.get("quiet_to", "")),
    )
    ctx.slots["_quiet_rejected"] = start is None or end is None
    if start is not None and end is not None:
        ctx.user.quiet_start, ctx.user.quiet_end = start, end
    describe_settings(ctx)


@condition("quiet_rejected")
def quiet_rejected(ctx: TurnContext) -> bool:
    return bool(ctx.slots.get("_quiet_rejected"))


@condition("weekly_is_on")
def weekly_is_on(ctx: TurnContext) -> bool:
    return bool(ctx.user.weekly_summary)


@action("weekly_summary_on")
def weekly_summary_on(ctx: TurnContext) -> None:
    """Opt in: the first summary is booked for next Monday morning (then one a week)."""
    ctx.user.weekly_summary = True
    cancel_reminders(ctx.session, ctx.user, kind="weekly_summary")
    due = next_weekly_summary(ctx.user, ctx.settings.timezone, ctx.now)
    add_reminder(ctx.session, ctx.user, "weekly_summary", due, now=ctx.now,
                 default_zone=ctx.settings.timezone)  # fmt: skip


@action("weekly_summary_off")
def weekly_summary_off(ctx: TurnContext) -> None:
    ctx.user.weekly_summary = False
    cancel_reminders(ctx.session, ctx.user, kind="weekly_summary")


# ---------------------------------------------------------------------- engine events


@on("paused")
def check_in_after_pause(ctx: TurnContext) -> None:
    """A rejection conversation put on hold gets one gentle check-in a few days later."""
    flow = ctx.conversation.flow
    if flow not in JOURNEY_FLOWS:
        return
    cancel_reminders(ctx.session, ctx.user, kind="paused_check_in")
    day = ctx.today + timedelta(days=ctx.settings.reminders.paused_check_in_days)
    due = local_time(ctx.user, ctx.settings.timezone, day, CHECK_IN_TIME)
    interview = ctx.slot_int("interview_id")
    add_reminder(
        ctx.session, ctx.user, "paused_check_in", due, ref_id=interview,
        payload={"flow": flow, "interview_id": interview}, now=ctx.now,
        default_zone=ctx.settings.timezone,
    )  # fmt: skip


@on("resumed")
def no_check_in_needed(ctx: TurnContext) -> None:
    """They came back by themselves: the pending check-in would only be noise."""
    cancel_reminders(ctx.session, ctx.user, kind="paused_check_in")
