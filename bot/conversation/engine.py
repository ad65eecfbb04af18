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

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from bot.coaching.summary import Summary, summarise
from bot.config import Settings
from bot.conversation.flow_check import errors, load_checked
from bot.conversation.flow_spec import Problem
from bot.conversation.interpret import EncoderSource, Interpreter, load_understanding_data
from bot.conversation.machine import FlowMachine
from bot.conversation.messages import Inbound, Reply, UserKey
from bot.conversation.registry import Registry, load_behaviour
from bot.storage.db import Database
from bot.storage.models import Conversation, ProcessedEvent, User

log = logging.getLogger(__name__)


class FlowsInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class Engine:
    """Platform-neutral conversation engine shared by every adapter and the scheduler."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Callable[[], datetime] | None = None,
        registry: Registry | None = None,
        encoder: EncoderSource = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.registry = registry or load_behaviour()
        self.flows, self.messages, problems = load_checked(settings.flows_dir, self.registry)
        if errors(problems):
            raise FlowsInvalid(errors(problems))
        self.machines = {
            name: FlowMachine(flow, self.registry) for name, flow in self.flows.items()
        }
        self.commands = {cmd: name for name, flow in self.flows.items() for cmd in flow.commands}
        data = load_understanding_data(settings.flows_dir)
        self.interpreter = Interpreter(self.flows, data, encoder)

    # ------------------------------------------------------------------ public

    def handle(self, inbound: Inbound) -> list[Reply]:
        """Answer one thing the person did. Never raises for anything the person sends."""
        return self._in_turn(inbound, lambda turn: turn.run())

    def resume(self, user: UserKey) -> list[Reply]:
        """Show a person where they are (their first hello if they are new), changing nothing."""
        return self._in_turn(Inbound(user=user), lambda turn: turn.resume())

    def summary(self, user: UserKey) -> Summary:
        """The person's situation at a glance (for App Home and similar surfaces)."""
        with self.db.transaction() as session:
            titles = {name: flow.title for name, flow in self.flows.items()}
            return summarise(session, user, titles, self.clock(), self.settings.timezone)

    def start_flow(
        self,
        user: UserKey,
        flow: str,
        slots: dict[str, Any] | None = None,
        intro: str | None = None,
        *,
        existing_only: bool = False,
    ) -> list[Reply]:
        """Move a person into ``flow`` (used by reminders and slash commands) and render it.

        ``existing_only``: a person who is not (or no longer) stored gets no turn and ``[]``,
        so a reminder claimed just before ``forget me`` cannot bring the person back.
        """
        inbound = Inbound(user=user)
        return self._in_turn(
            inbound, lambda turn: turn.start(flow, slots or {}, intro), create=not existing_only
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
