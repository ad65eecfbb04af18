"""A person's situation at a glance, for surfaces other than the chat (Slack's App Home).

Read-only and platform-neutral: adapters render it, nothing here knows how.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversation.messages import UserKey
from bot.storage.models import Conversation, Interview, PlanAction, Reminder, User


@dataclass(frozen=True)
class Summary:
    known: bool
    step: str | None = None
    paused: bool = False
    interviews: list[str] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    reminders: list[str] = field(default_factory=list)


def summarise(
    session: Session,
    key: UserKey,
    flow_titles: dict[str, str],
    now: datetime | None = None,
    default_zone: str = "UTC",
) -> Summary:
    """What the person is in the middle of, their open interviews, plan and next reminders."""
    user = session.scalars(
        select(User).where(
            User.platform == key.platform,
            User.workspace == key.workspace,
            User.external_id == key.user_id,
        )
    ).one_or_none()
    if user is None:
        return Summary(known=False)
    conv = session.scalars(select(Conversation).where(Conversation.user_id == user.id)).first()
    step = None
    if conv is not None and conv.flow not in ("home", "welcome"):
        step = flow_titles.get(conv.flow, conv.flow)
    interviews = [
        f"{i.role} at {i.company}" + (f" ({i.stage.replace('_', ' ')})" if i.stage else "")
        for i in session.scalars(
            select(Interview)
            .where(Interview.user_id == user.id, Interview.outcome == "pending")
            .order_by(Interview.happens_at)
        )
    ]
    plan = [
        a.title + (f", due {a.due_on:%a %d %b}" if a.due_on else "")
        for a in session.scalars(
            select(PlanAction)
            .where(PlanAction.user_id == user.id, PlanAction.status == "open")
            .order_by(PlanAction.due_on)
        )
    ]
    now = now or datetime.now(UTC)
    zone = ZoneInfo(user.timezone or default_zone)
    reminders = [
        f"{r.kind.replace('_', ' ')}: {r.due_at.astimezone(zone):%a %d %b %H:%M}"
        for r in session.scalars(
            select(Reminder)
            .where(
                Reminder.user_id == user.id, Reminder.status == "pending", Reminder.due_at >= now
            )
            .order_by(Reminder.due_at)
            .limit(5)
        )
    ]
    return Summary(
        known=True,
        step=step,
        paused=bool(conv and conv.paused_at),
        interviews=interviews,
        plan=plan,
        reminders=reminders,
    )
