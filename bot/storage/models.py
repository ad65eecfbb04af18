"""The database schema: the only memory Rebound has.

Everything a person told the bot lives in rows keyed by ``users.id``; a process can die between
any two turns and a fresh one carries on from here. Every per-person table has a foreign key to
``users`` with ``ON DELETE CASCADE`` so ``forget me`` is one delete that leaves nothing behind.
Times are stored as naive UTC and handed back as aware UTC (:class:`UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

_Row = TypeVar("_Row")


def event_key(inbound: Any) -> str:
    """The ``processed_events`` key of an inbound event: platform, workspace and event id."""
    user = inbound.user
    return f"{user.platform}:{user.workspace}:{inbound.event_id}"[:200]


def utcnow() -> datetime:
    return datetime.now(UTC)


def owned(session: Session, model: type[_Row], raw_id: object, user_id: int) -> _Row | None:
    """The row with this id if it belongs to this person, else None.

    Every id that arrives from outside (a slot, a button, a reminder) goes through here, so a
    forged or stale id pointing at someone else's row finds nothing.
    """
    try:
        wanted = int(str(raw_id))
    except (TypeError, ValueError):
        return None
    if not 0 < wanted < 2**31:  # beyond the id column: PostgreSQL would refuse the query
        return None
    row = session.get(model, wanted)
    return row if row is not None and row.user_id == user_id else None  # type: ignore[attr-defined]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


def _user_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class User(Base):
    """A person on one platform and workspace. Identity is the triple, never the user id alone."""

    __tablename__ = "users"
    # AUTOINCREMENT: SQLite would otherwise hand a forgotten person's id to the next newcomer,
    # and anything left keyed by that id (a log line, a file) would then point at them.
    # PostgreSQL's sequence never reuses a value anyway.
    __table_args__ = (
        UniqueConstraint("platform", "workspace", "external_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(80))
    # The name to sign emails with and greet by: asked once, or the Slack profile's name.
    sign_name: Mapped[str | None] = mapped_column(String(80))
    timezone: Mapped[str | None] = mapped_column(String(64))
    quiet_start: Mapped[str] = mapped_column(String(5), default="21:00")
    quiet_end: Mapped[str] = mapped_column(String(5), default="08:00")
    reminders_on: Mapped[bool] = mapped_column(Boolean, default=True)
    weekly_summary: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when a message suggested crisis: every nudge stays silent until they write again.
    crisis_at: Mapped[datetime | None]
    # When they last answered the gentle "are you safe?" check with yes: for a week after, any
    # further signal gets the full crisis reply (one "I'm fine" does not close the door).
    safe_said_at: Mapped[datetime | None]
    # Set when delivery failed for good (blocked the bot, left the workspace).
    undeliverable_at: Mapped[datetime | None]
    dm_channel: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    # The workspace or server whose settings apply to this person: the Discord server they first
    # reached Rebound from (a Discord identity is global, ``workspace`` is "@me"); None on Slack,
    # where ``workspace`` already says it.
    community: Mapped[str | None] = mapped_column(String(64))


class Conversation(Base):
    """Where a person is: one row per person, the flow and state they are in, and its slots."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    flow: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(64))
    slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    history: Mapped[list[Any]] = mapped_column(default=list)
    step: Mapped[int] = mapped_column(Integer, default=0)
    paused_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ProcessedEvent(Base):
    """Platform event ids already handled, so a retried delivery is answered only once.

    ``user_id`` says whose turn it was, so ``forget me`` can delete them; it is null for rows
    written before it existed and for the ``forget me`` turn's own event (kept, unlinked, so a
    retry of it is not answered again). Rows are pruned after ``EVENTS_KEEP``.
    """

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # The turn's replies (JSON) while they may still have to be sent: kept for an event taken
    # from the inbox, cleared when the inbox row is done. Null otherwise.
    replies: Mapped[str | None] = mapped_column(Text)


class Interview(Base):
    __tablename__ = "interviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = _user_fk()
    company: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(40), default="first_round")
    interviewer: Mapped[str | None] = mapped_column(String(200))
    happens_at: Mapped[datetime | None]
    decision_by: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(20), default="pending")
    how_it_went: Mapped[str | None] = mapped_column(String(20))
    debrief: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]


class FeelingEntry(Base):
    __tablename__ = "feelings"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = _user_fk()
    interview_id: Mapped[int | None] = mapped_column(
        ForeignKey("interviews.id", ondelete="SET NULL")
    )
    feeling: Mapped[str] = mapped_column(String(40))
    intensity: Mapped[int | None]
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedbackRequest(Base):
    __tablename__ = "feedback_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = _user_fk()
    interview_id: Mapped[int | None] = mapped_column(
        ForeignKey("interviews.id", ondelete="SET NULL")
    )
    points: Mapped[str | None] = mapped_column(Text)
    draft: Mapped[str] = mapped_column(Text)
    round: Mapped[int] = mapped_column(Integer, default=1)
    sent_at: Mapped[datetime | None]
    reply: Mapped[str] = mapped_column(String(20), default="waiting")
    positives: Mapped[str | None] = mapped_column(Text)
    negatives: Mapped[str | None] = mapped_column(Text)
    # What the employer actually wrote back, pasted by the person (tagged for themes).
    reply_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reflection(Base):
    __tablename__ = "reflections"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = _user_fk()
    interview_id: Mapped[int | None] = mapped_column(
        ForeignKey("interviews.id", ondelete="SET NULL")
    )
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    in_control: Mapped[str | None] = mapped_column(Text)
    outside_control: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ThemeTag(Base):
    """One theme spotted in one rejection, with the words that gave it away (explainable)."""

    __tablename__ = "themes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = _user_fk()
    interview_id: Mapped[int | None] = mapped_column(
        ForeignKey("interviews.id", ondelete="SET NULL")
    )
    theme: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))
    evidence: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlanAction(Base):
    __tablename__ = "plan_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = _user_fk()
    interview_id: Mapped[int | None] = mapped_column(
        ForeignKey("interviews.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open")
    done_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reminder(Base):
    """What to remind whom and when: the source of truth the scheduler times and claims."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = _user_fk()
    kind: Mapped[str] = mapped_column(String(30))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    ref_id: Mapped[int | None]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SchedulerLease(Base):
    """Held by the one scheduler process per database; a second one refuses to start."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime]


class CommunitySettings(Base):
    """What a workspace's admins (or a server's moderators) set in the app: resources, links,
    the staff channel, defaults for newcomers. ``config.toml`` is the default for anything not
    here; ``values`` holds only what was set (see :mod:`bot.coaching.community`)."""

    __tablename__ = "community_settings"
    __table_args__ = (UniqueConstraint("platform", "workspace"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(64))
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommunityAudit(Base):
    """Who changed which community settings, from what to what, and when: one row per save.

    Staff accountability rather than coaching: it names the admin by platform user id and holds
    no job seeker's data, so it outlives the admin's own ``forget me`` (documented for staff)."""

    __tablename__ = "community_audit"
    __table_args__ = (Index("ix_community_audit_ws", "platform", "workspace", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Handoff(Base):
    """A summary the person approved and the bot posted to their careers service's staff
    channel. Kept so the person can withdraw it (the message is deleted through the platform's
    API) and so ``forget me`` can delete the message too."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = _user_fk()
    workspace: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="posted")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]


class InboxItem(Base):
    """A platform event acknowledged and waiting for its turn: the durable inbox.

    The process that answers the platform (Slack over HTTP) only verifies a request, writes it
    here and acknowledges it; worker processes claim rows (a lease: ``claimed_until``), take the
    turn, post the answer and delete the row. A worker that dies leaves its rows claimed until
    the lease runs out, and then another worker takes them again; the engine's processed-event
    check makes the second try answer once. ``key`` (platform, workspace, event id) keeps a
    platform's retry of a waiting event out. The person's identity is kept beside the payload
    (which holds their words) so ``forget me`` deletes what is still waiting.
    """

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_until: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (Index("ix_inbox_person", "platform", "workspace", "external_id"),)


# Slack OAuth (an app installed in many workspaces): slack_sdk's own table layout, written out
# here so that our migrations create them (the SDK's create_tables is never used) and this module
# needs no platform SDK. tests/test_slack_tables.py checks it against the SDK's builders. The
# stores in bot.platforms.slack.oauth read and write these rows.
def _s(name: str, length: int, nullable: bool = True) -> Column[Any]:
    return Column(name, String(length), nullable=nullable)


def _slack_bot_columns() -> list[Column[Any]]:
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        _s("client_id", 32, False), _s("app_id", 32, False), _s("enterprise_id", 32),
        _s("enterprise_name", 200),
    ]  # fmt: skip


def _slack_token_columns() -> list[Column[Any]]:
    return [
        _s("team_id", 32), _s("team_name", 200), _s("bot_token", 200), _s("bot_id", 32),
        _s("bot_user_id", 32), _s("bot_scopes", 1000), _s("bot_refresh_token", 200),
        Column("bot_token_expires_at", DateTime),
    ]  # fmt: skip


def _installed() -> list[Column[Any]]:
    return [
        Column("is_enterprise_install", Boolean, nullable=False, default=False),
        Column("installed_at", DateTime, nullable=False, default=func.now()),
    ]


SLACK_INSTALLATIONS = Table(
    "slack_installations", Base.metadata,
    *_slack_bot_columns(), _s("enterprise_url", 200), *_slack_token_columns(),
    _s("user_id", 32, False), _s("user_token", 200), _s("user_scopes", 1000),
    _s("user_refresh_token", 200), Column("user_token_expires_at", DateTime),
    _s("incoming_webhook_url", 200), _s("incoming_webhook_channel", 200),
    _s("incoming_webhook_channel_id", 200), _s("incoming_webhook_configuration_url", 200),
    _installed()[0], _s("token_type", 32), _installed()[1],
    Index("slack_installations_idx", "client_id", "enterprise_id", "team_id", "user_id",
          "installed_at"),
)  # fmt: skip
SLACK_BOTS = Table(
    "slack_bots", Base.metadata, *_slack_bot_columns(), *_slack_token_columns(), *_installed(),
    Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)  # fmt: skip
SLACK_OAUTH_STATES = Table(
    "slack_oauth_states", Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _s("state", 200, False), Column("expire_at", DateTime, nullable=False),
)  # fmt: skip


PERSONAL_TABLES: tuple[type[Base], ...] = (
    Interview,
    FeelingEntry,
    FeedbackRequest,
    Reflection,
    ThemeTag,
    PlanAction,
    Reminder,
    Handoff,
    Conversation,
)
