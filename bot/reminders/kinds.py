"""What a kind of reminder is, declared once by the domain and read by the scheduler.

A kind (``debrief``, ``plan_action``...) is one :class:`ReminderKind` entry registered by
``bot.coaching``: whether a stored reminder still makes sense when it falls due, what it is about
(slots for the nudge and its title), and which title in ``flows/_reminders.yaml`` names it. The
reminders package only times and delivers; it never needs an edit for a new kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.conversation.context import TurnContext
    from bot.storage.models import Conversation, Reminder, User

# (session, reminder, person, their conversation) -> why it is no longer needed, or None.
# (the fourth is the Conversation or None)
StillNeeded = Callable[["Session", "Reminder", "User", Any], "str | None"]
Details = Callable[["TurnContext", "Reminder"], dict[str, Any]]


def _always_needed(*_: object) -> str | None:
    return None


def _no_details(*_: object) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class ReminderKind:
    name: str
    # Why a due reminder of this kind is no longer worth sending (None: send it).
    not_needed: StillNeeded = _always_needed
    # What it is about, as slots (the interview, the plan action...).
    details: Details = _no_details
    # The key of its title under ``titles:`` in flows/_reminders.yaml (default: the name).
    title: str = ""

    @property
    def title_key(self) -> str:
        return self.title or self.name


def why_not_needed(
    kinds: Mapping[str, ReminderKind],
    session: Session,
    reminder: Reminder,
    user: User,
    conv: Conversation | None,
) -> str | None:
    """The kind's own check; a kind nobody declares any more is not sent."""
    kind = kinds.get(reminder.kind)
    if kind is None:
        return f"unknown reminder kind {reminder.kind!r}"
    return kind.not_needed(session, reminder, user, conv)
