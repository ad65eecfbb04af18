"""What a due reminder becomes for the person, and which sender carries it to them.

A reminder is shown by moving the person into the ``reminders`` flow's nudge state with
``Engine.start_flow``: its text and choices (start now, snooze, skip, stop) are ordinary flow
data in ``flows/reminders.yaml``, so a pressed button is an ordinary turn on every platform and
still works days later. Before that, :func:`not_needed` asks whether the reminder still makes
sense (the debrief was done, the reply recorded, the action ticked off): reminders are stored
ahead of time and the world moves on in between.

Senders are built per platform from the settings by :data:`SENDER_FACTORIES`, so neither the
scheduler nor this module knows anything about Slack or Discord beyond a name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversation.messages import Reply, UserKey
from bot.reminders.schedule import add_reminder, next_weekly_summary
from bot.reminders.sender import Sender
from bot.storage.models import (
    Conversation,
    FeedbackRequest,
    Interview,
    PlanAction,
    Reminder,
    User,
    owned,
)

if TYPE_CHECKING:
    from bot.conversation.engine import Engine

log = logging.getLogger(__name__)

REMINDER_FLOW = "reminders"
# The rejection journey: pausing in one of these earns a gentle check-in a few days later.
JOURNEY_FLOWS = ("rejection", "feedback", "reflect", "plan")


def render(engine: Engine, user: UserKey, reminder_id: int) -> list[Reply]:
    """Move the person onto the reminder's nudge and return what they should be sent.

    Nothing (``[]``) when the person is gone: ``forget me`` may land between claim and render.
    """
    return engine.start_flow(user, REMINDER_FLOW, {"reminder_id": reminder_id}, existing_only=True)


def not_needed(
    session: Session, reminder: Reminder, user: User, conv: Conversation | None
) -> str | None:
    """Why this reminder no longer makes sense (stored as its ``last_error``), or None."""
    kind, ref = reminder.kind, reminder.ref_id
    if kind in ("debrief", "decision"):
        interview = owned(session, Interview, ref, user.id)
        if interview is None:
            return "the interview was deleted"
        if interview.outcome != "pending":
            return "the outcome is already known"
        if kind == "debrief" and interview.debrief:
            return "already debriefed"
    elif kind == "feedback_follow_up":
        request = owned(session, FeedbackRequest, ref, user.id)
        if request is None:
            return "the feedback request was deleted"
        if request.reply != "waiting":
            return "the reply is already recorded"
    elif kind == "plan_action":
        item = owned(session, PlanAction, ref, user.id)
        if item is None:
            return "the plan action was deleted"
        if item.status != "open":
            return "the action is already done"
    elif kind == "paused_check_in":
        # Still paused, or sitting on a nudge we showed since: otherwise they came back.
        if conv is None or (conv.paused_at is None and conv.flow != REMINDER_FLOW):
            return "they carried on by themselves"
    elif kind == "weekly_summary" and not user.weekly_summary:
        return "the weekly summary is off"
    return None


def after_leaving_queue(
    session: Session, reminder: Reminder, user: User, now: datetime, default_zone: str
) -> None:
    """A weekly summary that is claimed or missed books next week's, so the chain never breaks.

    Booked from the person's zone each time (next Monday 09:00 local), never by adding
    7 x 24 hours, so it stays at 09:00 across daylight-saving changes.
    """
    if reminder.kind != "weekly_summary" or not user.weekly_summary:
        return
    waiting = session.scalar(
        select(Reminder.id).where(
            Reminder.user_id == user.id,
            Reminder.kind == "weekly_summary",
            Reminder.status == "pending",
            Reminder.id != reminder.id,
        )
    )
    if waiting is None:
        due = next_weekly_summary(user, default_zone, max(now, reminder.due_at))
        add_reminder(session, user, "weekly_summary", due, now=now, default_zone=default_zone)


# ---------------------------------------------------------------------- senders per platform

SenderFactory = Callable[["Engine"], Sender | None]


def _slack(engine: Engine) -> Sender | None:
    slack = engine.settings.slack
    if slack.bot_token is None and slack.client_id is None:
        return None
    from bot.platforms.slack.send import SlackSender

    return SlackSender.from_settings(engine.settings, engine.messages)


def _discord(engine: Engine) -> Sender | None:
    if engine.settings.discord.token is None:
        return None
    from bot.platforms.discord.send import DiscordSender

    return DiscordSender(engine.settings, engine.messages, db=engine.db, clock=engine.clock)


# Platform -> how to build its sender from the settings (None when it has no token). The
# terminal is not here: only `rebound chat` has a terminal to print on (``ConsoleSender``).
SENDER_FACTORIES: dict[str, SenderFactory] = {"slack": _slack, "discord": _discord}


def register_sender(platform: str, factory: SenderFactory) -> None:
    """Add or replace the sender for a platform (a new adapter registers itself here)."""
    SENDER_FACTORIES[platform] = factory


def configured_senders(engine: Engine) -> dict[str, Sender]:
    """A sender for every platform that has its token configured; problems are logged."""
    senders: dict[str, Sender] = {}
    for platform, factory in SENDER_FACTORIES.items():
        try:
            sender = factory(engine)
        except ImportError as exc:
            log.error("no %s sender available (%s): its reminders stay queued", platform, exc)
            continue
        except ValueError as exc:
            log.error("%s sender not configured (%s)", platform, exc)
            continue
        if sender is not None:
            senders[platform] = sender
    return senders
