"""The engine: one inbound message in, a list of replies out, one database transaction per turn.

A turn loads the person (row-locked, so two processes never interleave one person's turns),
loads their conversation, lets :class:`~bot.conversation.turn.Turn` decide what happens, saves,
and commits. Replies are returned only after the commit, so nothing is ever said about a turn
that did not happen. Conflicts (a stale version, a racing first message) retry the whole turn.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from bot.config import Settings
from bot.conversation import inputs
from bot.conversation.flow_check import (
    command_message_key,
    errors,
    load_checked,
    slash_commands,
)
from bot.conversation.flow_spec import HOME_FLOW, Problem
from bot.conversation.inputs import clean_text
from bot.conversation.interpret import (
    SCREEN_WAIT,
    EncoderSource,
    Interpreter,
    load_safety_data,
    load_understanding_data,
)
from bot.conversation.machine import FlowMachine
from bot.conversation.messages import (
    Form,
    Inbound,
    Reply,
    UserKey,
    replies_from_json,
    replies_to_json,
)
from bot.conversation.registry import Registry
from bot.conversation.sender import Outcome
from bot.storage.db import Database
from bot.storage.models import Conversation, ProcessedEvent, User, UTCDateTime, event_key

log = logging.getLogger(__name__)


class FlowsInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


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
        encoder: EncoderSource = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.registry = registry
        self.flows, self.messages, problems = load_checked(settings.flows_dir, self.registry)
        if errors(problems):
            raise FlowsInvalid(errors(problems))
        self.machines = {
            name: FlowMachine(flow, self.registry) for name, flow in self.flows.items()
        }
        self.commands = {cmd: name for name, flow in self.flows.items() for cmd in flow.commands}
        data = load_understanding_data(settings.flows_dir)
        safety = load_safety_data(settings.flows_dir)
        self.interpreter = Interpreter(self.flows, data, encoder, safety=safety)
        self._lock_person = _lock_person(postgres=not db.is_sqlite)
        self._fold = not db.is_sqlite
        self._folded = {True: _folded_lock(with_event=True), False: _folded_lock(with_event=False)}
        self._housekeeping = threading.Lock()
        self._next_housekeeping = 0.0
        # Platform -> ChannelPoster, set by the composition root or an adapter (staff channels).
        self.posters: dict[str, Any] = {}
        self.staff_commands = frozenset(
            cmd for name in registry.staff_flows if name in self.flows
            for cmd in self.flows[name].commands
        )  # fmt: skip

    # ------------------------------------------------------------------ public

    def handle(self, inbound: Inbound) -> list[Reply]:
        """Answer one thing the person did. Never raises for anything the person sends."""
        if inbound.text or inbound.form:
            # Typed text (a form's fields too) is screened for crisis with the encoder, which
            # loads in the background at start-up: wait for it here, before the person's row
            # is locked, not inside the turn.
            self.interpreter.wait(SCREEN_WAIT)
        return self._in_turn(inbound, lambda turn: turn.run())

    def concerning(self, text: str) -> bool:
        """Would this text, sent now, get the crisis reply or the safety check? For an adapter
        that holds typed text before a turn (the terminal's field-by-field form): such text
        must be sent as a message at once, never held as an answer."""
        return self.interpreter.screen(text).concerning

    def prepare(self, texts: list[str]) -> int:
        """Several typed messages are waiting (an inbox worker's batch): encode those the turns
        may need in one batch, before any turn locks a row. Returns how many were encoded."""
        if not self.interpreter.wait():
            return 0
        return self.interpreter.warm([clean_text(t) for t in texts])

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

    def is_staff_command(self, text: str | None) -> bool:
        """Whether typed text (or a ``/rebound`` subcommand) starts a flow for admins, so the
        adapter should ask its platform whether the person administers the workspace."""
        return bool(text) and inputs.normalise_command(text or "") in self.staff_commands

    @property
    def title(self) -> str:
        """The bot's name for itself in platform menus: the home flow's title."""
        home = self.flows.get(HOME_FLOW)
        return home.title if home is not None and home.title else "Rebound"

    def commands_for_slash(self) -> dict[str, str]:
        """``/rebound`` subcommand -> its description, as the flows declare them.

        Each flow's first ``commands:`` word (spaces become dashes: platform command names are
        single words), plus ``help``, described in ``_messages.yaml`` (``command_log``): the
        command pickers show it to everyone in a server, so it is written for them, not the
        flow's internal title (which is only the fallback).
        """
        titles = {
            f.commands[0].replace(" ", "-"): f.title or f.commands[0]
            for f in reversed(self.flows.values())
            if f.commands
        }
        return {
            sub: self.messages.get(command_message_key(sub)) or titles.get(sub, sub)
            for sub in slash_commands(self.flows)
        }

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
        """Run one turn in one transaction, retrying only what is safe to retry.

        - A conflict (stale version, a racing first message, SQLite busy, a deadlock) retries
          the whole turn after a short jittered sleep, so racing processes spread out instead of
          colliding again at once; up to ``ATTEMPTS`` tries.
        - A lost connection (backend terminated, server restarted) retries once on a fresh
          connection when it broke before COMMIT was sent: the server rolls the whole
          transaction back, so running the turn again stores and answers it once. At COMMIT
          the server may or may not have committed, and running the turn blindly again could
          store it twice and answer it twice. On PostgreSQL we ask how our transaction ended
          (``txid_status``): committed, the turn is answered as usual; aborted, it is retried
          once like above; unknown (SQLite, or the server unreachable), the person gets the
          "try again" reply and nothing is run a second time.
        - A lock or statement timeout (PostgreSQL) is not retried: someone else's transaction
          is stuck on this person, and the person hears "try again" now, not in 30 s.
        """
        from bot.conversation.turn import Turn

        reconnected = False
        for attempt in range(ATTEMPTS):
            committing, xid = False, None
            try:
                with self.db.sessions() as session:
                    session.begin()
                    # PostgreSQL, first try: one statement locks the person, reads their
                    # conversation and records the event (see ``_load``); a retry takes the
                    # two-statement path, which cannot read a stale conversation.
                    folded = self._fold and attempt == 0 and not reconnected
                    loaded = self._load(session, inbound, create, folded)
                    if loaded is None:  # seen already, or not stored and not to be created
                        return self._kept_replies(session, inbound)
                    user, conversation, recorded = loaded
                    if inbound.event_id and not recorded:  # with whose turn it was, for forget
                        session.add(
                            ProcessedEvent(
                                key=event_key(inbound), created_at=self.clock(), user_id=user.id
                            )
                        )
                    turn = Turn(self, session, user, conversation, inbound)
                    replies = body(turn)
                    turn.save()
                    if folded and not turn.ctx.forgotten and turn.conv in session:
                        # The version check is what catches a conversation read before a
                        # lock wait: make sure this turn's UPDATE carries it.
                        flag_modified(turn.conv, "updated_at")
                    if inbound.keep_replies and inbound.event_id:
                        session.execute(
                            update(ProcessedEvent)
                            .where(ProcessedEvent.key == event_key(inbound))
                            .values(replies=replies_to_json(replies))
                        )
                    session.flush()  # every statement of the turn runs before COMMIT
                    xid = session.info.get("xid") or self.db.transaction_id(session)
                    committing = True
                    session.commit()
                return self._committed(turn, replies)
            except DBAPIError as exc:
                if _timed_out(exc):
                    log.warning("turn gave up waiting (%s)", _sqlstate(exc))
                    return [Reply(text=self.messages["error"])]
                if exc.connection_invalidated:
                    outcome = self.db.committed(xid) if committing else False
                    if outcome:
                        log.info("connection lost at COMMIT, which went through")
                        return self._committed(turn, replies)
                    if outcome is None or reconnected:
                        log.warning("connection lost %s", "at COMMIT" if committing else "twice")
                        return [Reply(text=self.messages["error"])]
                    reconnected = True
                    log.info("connection lost before COMMIT took effect, retrying once")
                    continue
                if (
                    attempt == ATTEMPTS - 1
                    or not isinstance(exc, IntegrityError | OperationalError)
                    or (isinstance(exc, OperationalError) and not _retryable(exc))
                ):
                    log.error("turn failed after %d attempts (%s)", attempt + 1, _describe(exc))
                    return [Reply(text=self.messages["error"])]
                log.info("turn conflict (%s), retrying", type(exc).__name__)
            except StaleDataError:
                if attempt == ATTEMPTS - 1:
                    log.error("turn failed after %d attempts (stale version)", attempt + 1)
                    return [Reply(text=self.messages["error"])]
                log.info("turn conflict (stale version), retrying")
            except Exception:
                log.exception("turn failed for a %s user", inbound.user.platform)
                return [Reply(text=self.messages["error"])]
            time.sleep(random.uniform(0, BACKOFF_SECONDS * 2**attempt))
        log.error("turn failed after %d attempts", ATTEMPTS)
        return [Reply(text=self.messages["error"])]

    def _committed(self, turn: Any, replies: list[Reply]) -> list[Reply]:
        self.housekeep()
        return self._after_commit(turn.ctx.after_commit, replies)

    def housekeep(self) -> None:
        """Prune processed events past the platforms' retry window (``EVENTS_KEEP``) and expired
        personal files, at most every ``HOUSEKEEPING_EVERY_SECONDS`` per process.

        Called after every committed turn (outside its transaction, so no person's turn ever
        waits on it) and by the reminder scheduler on each poll, so a deployment whose turns
        stop still tidies up. One thread per process at a time; never raises.
        """
        now = time.monotonic()
        if now < self._next_housekeeping or not self._housekeeping.acquire(blocking=False):
            return
        try:
            self._next_housekeeping = now + HOUSEKEEPING_EVERY_SECONDS
            cutoff = self.clock() - EVENTS_KEEP
            with self.db.transaction() as session:
                session.execute(delete(ProcessedEvent).where(ProcessedEvent.created_at < cutoff))
            for job in self.registry.housekeeping:
                job(self.settings)
        except Exception as exc:
            log.warning("housekeeping failed (%s), will try again later", type(exc).__name__)
        finally:
            self._housekeeping.release()

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

    def _kept_replies(self, session: Session, inbound: Inbound) -> list[Reply]:
        """A second delivery of an event whose turn was taken: nothing, unless the replies were
        kept for it (``keep_replies``: an inbox worker that may have died before sending)."""
        if not (inbound.keep_replies and inbound.event_id):
            return []
        kept = session.execute(
            select(ProcessedEvent.replies).where(ProcessedEvent.key == event_key(inbound))
        ).scalar()
        return replies_from_json(kept) if kept else []

    def _load(
        self, session: Session, inbound: Inbound, create: bool = True, folded: bool = False
    ) -> tuple[User, Conversation | None, bool] | None:
        """The person (row-locked for the whole turn), then their conversation.

        None when this platform event was handled already, or when a person not stored yet is
        not to be created (``create`` false); otherwise a new person is created.

        The lock statement also says whether the event was seen (and, on PostgreSQL, the
        transaction's id, for :meth:`Database.committed`), so a turn costs no extra round trip.
        A duplicate handled concurrently elsewhere may not be seen here yet (the check reads
        the snapshot from before the lock wait); its insert then conflicts and the retry sees it.

        The lock is taken before reading the conversation, so two processes handling the same
        person's messages queue up instead of both reading the old state (aiogram's bug #1317).
        Two statements, not one join: on PostgreSQL a statement that waited for a row lock
        re-reads only the locked row; the joined conversation would still come from the
        snapshot taken before the wait (the previous turn's state), and the version check would
        then fail the turn. The second statement reads as of after the wait.

        ``folded`` (PostgreSQL, a turn's first try): one statement instead, which also records
        the event (:func:`_folded_lock`); a stale conversation fails the version check and the
        retry comes back here unfolded. The third element returned says whether the event was
        recorded already.
        """
        key = inbound.user
        now = self.clock()
        params = {
            "platform": key.platform,
            "workspace": key.workspace,
            "user_id": key.user_id,
            "event_key": event_key(inbound) if inbound.event_id else "",
        }
        recorded = False
        if folded:
            params["now"] = now
            statement = self._folded[bool(inbound.event_id)]
            with self.db.pipelined(session):  # BEGIN goes in the same round trip
                row = session.execute(statement, params).one_or_none()
        else:
            row = session.execute(self._lock_person, params).one_or_none()
        if row is not None:
            user, seen = row[0], row[1]
            if not folded and len(row) > 2:
                session.info["xid"] = row[2]
            if seen:
                return None
            if folded:
                session.info["xid"] = row[2]
                conversation = row[3]
                recorded = bool(inbound.event_id)
            else:
                conversation = session.execute(_LOAD_CONVERSATION, {"uid": user.id}).scalar()
        elif inbound.event_id and session.get(ProcessedEvent, params["event_key"]) is not None:
            return None  # e.g. a platform's retry of the ``forget me`` turn: not re-created
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
        if inbound.community and user.community is None:  # the first server they came from
            user.community = inbound.community[:64]
        if inbound.display_name and user.display_name != inbound.display_name[:80]:
            user.display_name = inbound.display_name[:80]
        # Written at most every few minutes: an UPDATE on every turn buys nothing.
        if user.last_seen_at is None or now - user.last_seen_at > LAST_SEEN_EVERY:
            user.last_seen_at = now
        return user, conversation, recorded


def _lock_person(postgres: bool) -> Any:
    """SELECT the person FOR UPDATE, whether the event was seen, and the transaction id (PG)."""
    seen = exists().where(ProcessedEvent.key == bindparam("event_key"))
    columns: list[Any] = [User, seen]
    if postgres:
        columns.append(func.txid_current())
    return (
        select(*columns)
        .where(
            User.platform == bindparam("platform"),
            User.workspace == bindparam("workspace"),
            User.external_id == bindparam("user_id"),
        )
        .with_for_update(of=User)
        .execution_options(populate_existing=True)
    )


def _folded_lock(with_event: bool) -> Any:
    """PostgreSQL: lock the person, read their conversation and record the event, in one
    statement (the lock is taken ``FOR UPDATE OF users``; the conversation is outer-joined).

    The event is inserted by a data-modifying CTE, ``ON CONFLICT DO NOTHING``: nothing
    returned means the event was handled already (``seen``), and a retry racing its original
    waits for it at the unique key instead of failing later at COMMIT.

    The joined conversation comes from the statement's snapshot, taken before any wait for the
    row lock, so after a wait it may be the previous turn's. The turn then always writes the
    conversation with its version check (``flag_modified`` in ``_in_turn``), a stale read fails
    that check, and the retry takes the two-statement path (``_lock_person`` then
    ``_LOAD_CONVERSATION``), which reads after the lock. The same person rarely has two turns
    in flight, so nearly every turn saves the round trip.
    """
    from sqlalchemy import literal
    from sqlalchemy.dialects.postgresql import insert

    person = (
        User.platform == bindparam("platform"),
        User.workspace == bindparam("workspace"),
        User.external_id == bindparam("user_id"),
    )
    if with_event:
        recorded = (
            insert(ProcessedEvent)
            .from_select(
                ["key", "created_at", "user_id"],
                select(bindparam("event_key"), bindparam("now", type_=UTCDateTime), User.id)
                .where(*person),
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(literal(1).label("inserted"))
            .cte("recorded")
        )
        seen: Any = ~exists(select(recorded.c.inserted))
    else:
        seen = literal(False)
    return (
        select(User, seen, func.txid_current(), Conversation)
        .outerjoin(Conversation, Conversation.user_id == User.id)
        .where(*person)
        .with_for_update(of=User)
        .execution_options(populate_existing=True)
    )


_LOAD_CONVERSATION = select(Conversation).where(Conversation.user_id == bindparam("uid"))
LAST_SEEN_EVERY = timedelta(minutes=10)
ATTEMPTS = 5
BACKOFF_SECONDS = 0.02  # the first retry waits up to 20 ms, doubling each time
# Slack and Discord retry an event within minutes; a day of event ids is plenty.
EVENTS_KEEP = timedelta(hours=24)
HOUSEKEEPING_EVERY_SECONDS = 600.0
# PostgreSQL: lock_not_available (lock_timeout), query_canceled (statement_timeout).
_TIMEOUT_STATES = ("55P03", "57014")


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def _timed_out(exc: DBAPIError) -> bool:
    return _sqlstate(exc) in _TIMEOUT_STATES


def _describe(exc: DBAPIError) -> str:
    """The error's kind and code, never its text (which can quote the person's words)."""
    return f"{type(exc.orig).__name__} {_sqlstate(exc) or ''}".strip()


def _retryable(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return any(word in text for word in ("deadlock", "could not serialize", "locked", "busy"))
