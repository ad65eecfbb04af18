"""The engine: one inbound message in, a list of replies out, one database transaction per turn.

A turn loads the person (row-locked, so two processes never interleave one person's turns),
loads their conversation, lets :class:`~bot.conversation.turn.Turn` decide what happens, saves,
and commits. Replies are returned only after the commit, so nothing is ever said about a turn
that did not happen. Conflicts (a stale version, a racing first message) retry the whole turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from bot.config import Settings
from bot.conversation.flows import (
    ENTRY_FLOW,
    HOME_FLOW,
    FlowSpec,
    Problem,
    check_flows,
    load_flows,
    unwrap,
)
from bot.conversation.machine import FlowMachine
from bot.conversation.messages import Form, Inbound, Reply, UserKey
from bot.conversation.registry import Registry
from bot.conversation.sender import Outcome
from bot.storage.db import Database
from bot.storage.models import Conversation, ProcessedEvent, User

log = logging.getLogger(__name__)

REQUIRED_FLOWS = (HOME_FLOW, ENTRY_FLOW)
MESSAGES_FILE = "_messages.yaml"
REQUIRED_MESSAGES = (
    "crisis",
    "welcome_back",
    "crisis_return",
    "paused",
    "stopped",
    "help",
    "not_understood",
    "form_hint",
    "too_long",
    "empty",
    "stale",
    "unavailable",
    "cannot_go_back",
    "identity",
    "error",
    "moved",
    "form_errors",
    "open_form",
    "moved_to_dm",
    "dm_blocked",
)


class FlowsInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_messages(flows_dir: Path) -> tuple[dict[str, str], list[Problem]]:
    path = flows_dir / MESSAGES_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        return {}, [Problem(MESSAGES_FILE, None, f"cannot read system messages: {exc}")]
    messages = {str(k): unwrap(v) for k, v in raw.items()}
    problems = [
        Problem(MESSAGES_FILE, key, "required message is missing")
        for key in REQUIRED_MESSAGES
        if key not in messages
    ]
    return messages, problems


def load_checked(
    flows_dir: Path, registry: Registry
) -> tuple[dict[str, FlowSpec], dict[str, str], list[Problem]]:
    """Load flows and system messages and check them all: what ``rebound flows check`` runs."""
    flows, problems = load_flows(flows_dir)
    problems += check_flows(flows, registry, REQUIRED_FLOWS)
    messages, msg_problems = load_messages(flows_dir)
    return flows, messages, problems + msg_problems


class Engine:
    """Platform-neutral conversation engine shared by every adapter and the scheduler.

    What adapters may use is the public section below: take a turn (``handle``, ``resume``,
    ``start_flow``), the current form for a step token, the person's overview, the slash
    commands the flows declare, and recording whether a message reached the person. Nothing
    else (flows, machines, the database) is theirs to read.

    ``registry`` is the behaviour the flows name, built by the composition root (``bot.app``)
    or by a test; the engine never picks its own.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        registry: Registry,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.registry = registry
        self.flows, self.messages, problems = load_checked(settings.flows_dir, self.registry)
        if problems:
            raise FlowsInvalid(problems)
        self.machines = {
            name: FlowMachine(flow, self.registry) for name, flow in self.flows.items()
        }
        self.commands = {cmd: name for name, flow in self.flows.items() for cmd in flow.commands}

    # ------------------------------------------------------------------ public

    def handle(self, inbound: Inbound) -> list[Reply]:
        """Answer one thing the person did. Never raises for anything the person sends."""
        return self._in_turn(inbound, lambda turn: turn.run())

    def resume(self, user: UserKey) -> list[Reply]:
        """Show a person where they are (their first hello if they are new), changing nothing."""
        return self._in_turn(Inbound(user=user), lambda turn: turn.resume())

    def overview(self, user: UserKey) -> Any:
        """The person's situation at a glance (App Home), from the registry's ``overview``."""
        if self.registry.overview is None:
            return None
        with self.db.transaction() as session:
            titles = {name: flow.title for name, flow in self.flows.items()}
            return self.registry.overview(
                session, user, titles, self.clock(), self.settings.timezone
            )

    def current_form(self, user: UserKey, token: str) -> Form | None:
        """The form of the person's current step, if ``token`` is still that step (else None)."""
        replies = self.resume(user)
        return next((r.form for r in replies if r.form is not None and r.token == token), None)

    @property
    def title(self) -> str:
        """The bot's name for itself in platform menus: the home flow's title."""
        home = self.flows.get(HOME_FLOW)
        return home.title if home is not None and home.title else "Rebound"

    def commands_for_slash(self) -> dict[str, str]:
        """``/rebound`` subcommand -> its description, as the flows declare them.

        Each flow's first ``commands:`` word (spaces become dashes: platform command names are
        single words), described by the flow's title, plus ``help``.
        """
        out: dict[str, str] = {}
        for flow in self.flows.values():
            if flow.commands:
                out.setdefault(flow.commands[0].replace(" ", "-"), flow.title or flow.commands[0])
        out.setdefault("help", "help")
        return out

    def record_delivery(self, user: UserKey, outcome: Outcome) -> None:
        """Remember that messages to this person fail (reminders stop), or that they work again.

        Clearing is a no-op unless a failure was recorded, so a working DM costs no write.
        """
        where = (
            User.platform == user.platform,
            User.workspace == user.workspace,
            User.external_id == user.user_id,
        )
        with self.db.transaction() as session:
            if outcome is Outcome.DELIVERED:
                stmt = update(User).where(*where, User.undeliverable_at.is_not(None))
                session.execute(stmt.values(undeliverable_at=None))
            else:
                stmt = update(User).where(*where)
                session.execute(stmt.values(undeliverable_at=self.clock()))

    def start_flow(
        self,
        user: UserKey,
        flow: str,
        slots: dict[str, Any] | None = None,
        *,
        existing_only: bool = False,
    ) -> list[Reply]:
        """Move a person into ``flow`` (used by reminders and slash commands) and render it.

        ``existing_only``: a person who is not (or no longer) stored gets no turn and ``[]``,
        so a reminder claimed just before ``forget me`` cannot bring the person back.
        """
        inbound = Inbound(user=user)
        return self._in_turn(
            inbound, lambda turn: turn.start(flow, slots or {}, None), create=not existing_only
        )

    # ------------------------------------------------------------------ turn plumbing

    def _in_turn(
        self, inbound: Inbound, body: Callable[[Any], list[Reply]], create: bool = True
    ) -> list[Reply]:
        from bot.conversation.turn import Turn

        for attempt in range(5):
            try:
                with self.db.transaction() as session:
                    if inbound.event_id and self._seen(session, inbound):
                        return []
                    loaded = self._load(session, inbound, create)
                    if loaded is None:
                        return []
                    user, conversation = loaded
                    turn = Turn(self, session, user, conversation, inbound)
                    replies = body(turn)
                    turn.save()
                return self._after_commit(turn.ctx.after_commit, replies)
            except (StaleDataError, IntegrityError, OperationalError) as exc:
                if attempt == 4 or (isinstance(exc, OperationalError) and not _retryable(exc)):
                    log.exception("turn failed after %d attempts", attempt + 1)
                    return [Reply(text=self.messages["error"])]
                log.info("turn conflict (%s), retrying", type(exc).__name__)
            except Exception:
                log.exception("turn failed for a %s user", inbound.user.platform)
                return [Reply(text=self.messages["error"])]
        return [Reply(text=self.messages["error"])]  # pragma: no cover

    @staticmethod
    def _after_commit(jobs: list[Callable[[], None]], replies: list[Reply]) -> list[Reply]:
        """Run post-commit work; a failed job drops the picture, never the turn."""
        for job in jobs:
            try:
                job()
            except Exception:
                log.exception("post-commit work failed")
        return [
            r if r.image is None or Path(r.image.path).exists() else replace(r, image=None)
            for r in replies
        ]

    def _seen(self, session: Session, inbound: Inbound) -> bool:
        key = f"{inbound.user.platform}:{inbound.user.workspace}:{inbound.event_id}"[:200]
        if session.get(ProcessedEvent, key) is not None:
            return True
        session.add(ProcessedEvent(key=key, created_at=self.clock()))
        return False

    def _load(
        self, session: Session, inbound: Inbound, create: bool = True
    ) -> tuple[User, Conversation | None] | None:
        """The person (row-locked for the whole turn) and their conversation, in one query.

        A person not stored yet is created, unless ``create`` is false (then: None).

        The lock is taken before reading the conversation, so two processes handling the same
        person's messages queue up instead of both reading the old state (aiogram's bug #1317).
        """
        key = inbound.user
        params = {"platform": key.platform, "workspace": key.workspace, "user_id": key.user_id}
        row = session.execute(_LOAD_PERSON, params).one_or_none()
        now = self.clock()
        if row is not None:
            user, conversation = row
        elif not create:
            return None
        else:
            user = User(
                platform=key.platform,
                workspace=key.workspace,
                external_id=key.user_id,
                quiet_start=self.settings.reminders.quiet_start,
                quiet_end=self.settings.reminders.quiet_end,
                reminders_on=True,
                weekly_summary=False,
                created_at=now,
            )
            session.add(user)
            session.flush()
            conversation = None
        if inbound.display_name and user.display_name != inbound.display_name[:80]:
            user.display_name = inbound.display_name[:80]
        # Written at most every few minutes: an UPDATE on every turn buys nothing.
        if user.last_seen_at is None or now - user.last_seen_at > LAST_SEEN_EVERY:
            user.last_seen_at = now
        return user, conversation


_LOAD_PERSON = (
    select(User, Conversation)
    .outerjoin(Conversation, Conversation.user_id == User.id)
    .where(
        User.platform == bindparam("platform"),
        User.workspace == bindparam("workspace"),
        User.external_id == bindparam("user_id"),
    )
    .with_for_update(of=User)
)
LAST_SEEN_EVERY = timedelta(minutes=10)


def _retryable(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return any(word in text for word in ("deadlock", "could not serialize", "locked", "busy"))
