"""What a due reminder becomes for the person, and which sender carries it to them.

A reminder is shown by moving the person into the ``reminders`` flow's nudge state with
``Engine.start_flow``: its text and choices (start now, snooze, skip, stop) are ordinary flow
data in ``flows/reminders.yaml``, so a pressed button is an ordinary turn on every platform and
still works days later. Before that, :func:`not_needed` asks whether the reminder still makes
sense (the debrief was done, the reply recorded, the action ticked off): reminders are stored
ahead of time and the world moves on in between.

Senders are built per platform by the composition root (``bot.app``) and handed to the
scheduler, so nothing here knows anything about Slack or Discord beyond a name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversation.messages import Reply, UserKey
from bot.reminders.kinds import ReminderKind, why_not_needed
from bot.reminders.schedule import add_reminder, next_weekly_summary
from bot.storage.models import Conversation, Reminder, User

if TYPE_CHECKING:
    from bot.conversation.engine import Engine

log = logging.getLogger(__name__)

REMINDER_FLOW = "reminders"


def render(engine: Engine, user: UserKey, reminder_id: int) -> list[Reply]:
    """Move the person onto the reminder's nudge and return what they should be sent.

    Nothing (``[]``) when the person is gone: ``forget me`` may land between claim and render.
    """
    return engine.start_flow(user, REMINDER_FLOW, {"reminder_id": reminder_id}, existing_only=True)


def not_needed(
    kinds: Mapping[str, ReminderKind],
    session: Session,
    reminder: Reminder,
    user: User,
    conv: Conversation | None,
) -> str | None:
    """Why this reminder no longer makes sense (stored as its ``last_error``), or None.

    Each kind answers for itself (declared by the domain in ``registry.reminder_kinds``)."""
    return why_not_needed(kinds, session, reminder, user, conv)


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
