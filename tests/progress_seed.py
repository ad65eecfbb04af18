"""A person's history for the progress chart: 1, 3 or 10 rejections, seeded through the models.

Shared by the chart tests and ``benchmarks/chart.py`` (which renders and times the PNGs), so
both look at the same people. The rows are what the coaching code writes (an interview closed as
rejected, the feeling logged against it, theme tags with their evidence, plan actions from the
catalogue), with varied companies (one very long name), stages, feelings and dates (two
rejections a day apart, so date labels can crowd), plus an interview still waiting at 3 and 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey
from bot.storage.db import Database
from bot.storage.models import FeelingEntry, Interview, PlanAction, ThemeTag, User

# (company, role, stage, feeling, intensity, days before "now", themes)
Rejection = tuple[str, str, str, str, int | None, int, tuple[str, ...]]
REJECTIONS: tuple[Rejection, ...] = (
    ("Initech", "Data Analyst", "first_round", "frustrated", 3, 70, ("nerves", "tough_questions")),
    ("Northwind Traders", "Junior Analyst", "screen", "disappointed", 4, 62, ("preparation",)),
    ("Globex", "Analyst", "final", "doubting", 5, 61, ("nerves", "fit")),
    ("Hooli", "Data Analyst", "assessment", "anxious", 4, 50, ("skills_gap", "tough_questions")),
    ("Stark Industries International Holdings", "Business Analyst", "second_round", "angry",
     2, 41, ("experience",)),
    ("Umbrella", "Analyst", "final", "disappointed", 3, 33, ("nerves", "communication")),
    ("Pied Piper", "Product Analyst", "first_round", "numb", None, 26, ("preparation", "fit")),
    ("Wayne Enterprises", "Data Analyst", "final", "frustrated", 2, 19, ("nerves",)),
    ("Vandelay Industries", "Graduate Analyst", "second_round", "relieved", 1, 12,
     ("communication", "tough_questions")),
    ("Acme", "Data Analyst", "final", "disappointed", 3, 5, ("nerves", "experience")),
)  # fmt: skip

# (catalogue kind, title, due in days from "now" (negative: overdue), done)
PLAN: tuple[tuple[str, str, int | None, bool], ...] = (
    ("mock_interview", "Do a mock interview", -10, True),
    ("nerves_techniques", "Practise a technique for nerves", -3, False),
    ("common_questions", "Practise common questions out loud", 7, False),
    ("research_routine", "Build a company research routine", 14, True),
    ("course", "Close a real skills gap", -1, False),
    ("self_care", "Do something that restores you", None, False),
)  # fmt: skip


@dataclass(frozen=True)
class Seeded:
    user: UserKey
    rejections: tuple[Rejection, ...]
    plan: tuple[tuple[str, str, int | None, bool], ...]
    themes: set[str]


def picked(rejections: int) -> tuple[Rejection, ...]:
    """1 or 3: the latest rows (the weeks just gone); more: from the first row on."""
    return REJECTIONS[-rejections:] if rejections <= 3 else REJECTIONS[:rejections]


def seed_history(db: Database, external_id: str, rejections: int, now: datetime) -> Seeded:
    """A terminal user with ``picked(rejections)`` (oldest first) and a plan sized to match:
    1 action for 1 rejection, 3 for 3, all of PLAN for 10."""
    rows = picked(rejections)
    plan = PLAN[: min(rejections, len(PLAN))]
    with db.transaction() as s:
        user = User(platform="terminal", workspace="local", external_id=external_id)
        s.add(user)
        s.flush()
        for company, role, stage, feeling, intensity, ago, themes in rows:
            when = now - timedelta(days=ago)
            interview = Interview(
                user_id=user.id, company=company, role=role, stage=stage, outcome="rejected",
                happens_at=when - timedelta(days=7), created_at=when - timedelta(days=8),
                closed_at=when,
            )  # fmt: skip
            s.add(interview)
            s.flush()
            s.add(
                FeelingEntry(
                    user_id=user.id,
                    interview_id=interview.id,
                    feeling=feeling,
                    intensity=intensity,
                    note="private words, never on the chart",
                    created_at=when,
                )
            )
            for theme in themes:
                s.add(
                    ThemeTag(
                        user_id=user.id,
                        interview_id=interview.id,
                        theme=theme,
                        source="reflection",
                        evidence="private words",
                        created_at=when,
                    )
                )
        if rejections >= 3:
            s.add(
                Interview(
                    user_id=user.id,
                    company="Soylent",
                    role="Analyst",
                    stage="second_round",
                    happens_at=now + timedelta(days=2),
                    created_at=now - timedelta(days=1),
                )
            )
        today = now.date()
        for kind, title, due, done in plan:
            s.add(
                PlanAction(
                    user_id=user.id,
                    kind=kind,
                    title=title,
                    due_on=today + timedelta(days=due) if due is not None else None,
                    status="done" if done else "open",
                    done_at=now if done else None,
                    created_at=now - timedelta(days=20),
                )
            )
    return Seeded(
        UserKey("terminal", "local", external_id), rows, plan, {t for r in rows for t in r[6]}
    )


def onboard(engine: Engine, user: UserKey) -> None:
    """The first hello and the time zone question, so the next message reaches its flow."""
    replies = engine.handle(Inbound(user=user, text="hi", event_id=f"{user.user_id}-hi"))
    token = next(r.token for r in replies if r.token)
    engine.handle(Inbound(user=user, choice="yes", token=token, event_id=f"{user.user_id}-zone"))


def overdue_in_plan(rejections: int) -> int:
    """How many of the seeded plan actions are open and past their date."""
    plan = PLAN[: min(rejections, len(PLAN))]
    return sum(1 for _, _, due, done in plan if not done and due is not None and due < 0)
