"""The one scheduler per database: APScheduler times it, the reminders table decides everything.

Why APScheduler keeps no job store of its own here: the reminders table is already the durable
record that every process writes, lists and deletes (``forget me``). A SQLAlchemy job store
would be a second copy of the same facts, written by the scheduler alone, holding pickled
callables that it silently deletes when they no longer unpickle, and it must never be shared by
two schedulers (they run each job twice). So APScheduler runs on a ``MemoryJobStore`` with three
jobs rebuilt at every start: ``poll`` (every ``reminders.poll_seconds``: deliver what is due,
notice rows other processes added), ``wake`` (one date job at the next known due time, so a
reminder known in advance goes out on the minute, not up to a poll later) and ``lease``
(renewal). A restart loses nothing because there is nothing in memory to lose.

A due reminder goes through four short transactions, each conditional on the row still being
what we left it, so a second process or a restart never sends it twice:

1. **claim**: ``pending -> claimed`` (``UPDATE ... WHERE status = 'pending'``, after
   ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises
   writers). Here a reminder may instead be cancelled (no longer needed), folded (too late, see
   below) or deferred (quiet hours; the person is mid-conversation).
2. **render**: ``Engine.start_flow`` moves the person into the ``reminders`` flow's nudge.
3. **sending**: ``claimed -> sending``, re-checking the crisis flag and the opt-out.
4. **sent**: after ``Sender.deliver`` returns, ``sending -> sent``.

A process that dies leaves ``claimed`` or ``sending`` rows behind; the next scheduler, once it
holds the lease, puts ``claimed`` rows back to ``pending`` (nothing reached a sender: sending them
again cannot duplicate) and marks ``sending`` rows ``interrupted`` without resending. Delivery is
therefore **at most once**: a duplicate nudge is worse for someone at a low moment than a missed
one, and the person's conversation already sits on the nudge, so their next message shows it.

A burst (many reminders due at once) keeps ``SEND_WORKERS`` deliveries in flight: claims and
renders stay in the pass's thread, in due order, so one person's second reminder still sees the
first one's nudge and waits; only the last look (``sending``), the send and ``sent`` run in a
small pool. A send that waits (a 429's ``Retry-After``, a slow platform) then holds up one slot
instead of the whole pass, and the platform's rate limit, not our loop, sets the pace. At most
``SEND_WORKERS`` rows are ``claimed`` or ``sending`` at a time, so a crash can interrupt at most
that many.

Misfires: a reminder found more than ``misfire_window_hours`` late (the scheduler was down) is
marked ``missed`` and mentioned in the person's next delivered check-in, never sent on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor as SendPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.conversation.engine import Engine
from bot.conversation.messages import Reply, UserKey
from bot.conversation.sender import DeliveryFailed, Recipient, Sender
from bot.reminders import delivery
from bot.reminders.lease import Lease
from bot.reminders.schedule import allowed_from
from bot.storage.models import Conversation, Reminder, User

log = logging.getLogger(__name__)

ACTIVE_WINDOW = timedelta(minutes=5)  # a conversation touched this recently is not trampled
MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(minutes=1)  # temporary failures retry after 1, 3, 9, 27 minutes
BATCH = 200
# Deliveries in flight at once in a burst (see the module docstring); 1 sends one at a time.
SEND_WORKERS = 8
INTERRUPTED = "the scheduler stopped while sending; not resent (delivery is at most once)"


@dataclass(frozen=True)
class Claimed:
    id: int
    user: UserKey
    dm_channel: str | None


class ReminderScheduler:
    """Claims, renders and delivers due reminders through one :class:`Sender` per platform.

    ``senders`` decides which people this process serves (a platform without a sender is left
    to a process that has one). ``only`` narrows a platform to one person: the terminal chat
    delivers only to whoever sits at the keyboard. ``run_pending`` is one pass and uses the
    engine's clock, which is how tests drive time; ``start`` adds the lease and APScheduler.
    """

    def __init__(
        self,
        engine: Engine,
        senders: Mapping[str, Sender],
        *,
        only: Mapping[str, str] | None = None,
        lease: Lease | None = None,
        on_pass: Callable[[int], None] | None = None,
        send_workers: int = SEND_WORKERS,
    ) -> None:
        self.engine = engine
        self.db = engine.db
        self.config = engine.settings.reminders
        self.zone = engine.settings.timezone
        self.senders = dict(senders)
        self.only = dict(only or {})
        self.lease = lease or Lease(engine.db)
        self.holder = self.lease.holder
        self.on_pass = on_pass
        self.send_workers = max(1, send_workers)
        self.stopped = threading.Event()
        self._stopping = threading.Event()  # stop() was called: end the pass in flight early
        self.lease_lost = False
        self._pass_lock = threading.Lock()
        self._aps: BackgroundScheduler | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Take the lease (or raise :class:`LeaseHeld`), recover, run one pass, start timing."""
        self.lease.acquire()
        self.recover()
        self._tick()
        poll = self.config.poll_seconds
        self._aps = BackgroundScheduler(
            timezone=UTC,  # never the machine's zone; people's zones are applied per row
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(2), "lease": ThreadPoolExecutor(1)},
            # None: a late job still runs (the default 1 s grace silently drops it); our own
            # misfire policy works on the table, where the real due times are.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._aps.add_job(self._tick, "interval", seconds=poll, id="poll")
        renew_every = max(self.lease.ttl.total_seconds() / 3, 0.1)
        self._aps.add_job(
            self._renew, "interval", seconds=renew_every, id="lease", executor="lease"
        )
        self._aps.start()
        self._arm_wake()

    def stop(self) -> None:
        """Finish the delivery in flight, stop timing, give up the lease, close the senders."""
        self._stopping.set()
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=True)
        self._aps = None
        try:
            self.lease.release()
        except SQLAlchemyError:
            log.warning("could not release the scheduler lease; it expires by itself")
        for sender in self.senders.values():
            close = getattr(sender, "close", None)
            if callable(close):
                close()
        self.stopped.set()

    def _renew(self) -> None:
        try:
            if self.lease.renew():
                return
            log.error("the scheduler lease was taken over by another process; stopping")
        except SQLAlchemyError:
            log.exception("could not renew the scheduler lease; stopping")
        self.lease_lost = True
        self.stopped.set()
        if self._aps is not None:
            self._aps.shutdown(wait=False)

    def _tick(self) -> None:
        try:
            self.run_pending()
        except Exception:  # never let one bad pass kill the timer thread
            log.exception("reminder pass failed")
        self._arm_wake()

    def _arm_wake(self) -> None:
        """One date job at the next known due time, if it comes before the next poll."""
        if self._aps is None or not self._aps.running or self.stopped.is_set():
            return
        try:
            due = self.next_due()
        except SQLAlchemyError:
            return
        if due is None:
            return
        wait = max((due - self.engine.clock()).total_seconds(), 0.0)
        if wait < self.config.poll_seconds:
            run_at = datetime.now(UTC) + timedelta(seconds=wait)
            self._aps.add_job(self._tick, "date", run_date=run_at, id="wake", replace_existing=True)

    # ------------------------------------------------------------------ one pass

    def recover(self) -> tuple[int, int]:
        """Tidy up after a scheduler that died: (claims taken back, sends marked interrupted).

        Only called while holding the lease, so no other scheduler can be mid-delivery.
        """
        with self.db.transaction() as session:
            back = session.execute(
                update(Reminder)
                .where(Reminder.status == "claimed")
                .values(status="pending", claimed_by=None, claimed_at=None)
            ).rowcount  # type: ignore[attr-defined]
            lost = session.execute(
                update(Reminder)
                .where(Reminder.status == "sending")
                .values(status="interrupted", last_error=INTERRUPTED)
            ).rowcount  # type: ignore[attr-defined]
        if back or lost:
            log.warning("recovered %d claimed and %d interrupted reminder(s)", back, lost)
        return int(back or 0), int(lost or 0)

    def run_pending(self) -> int:
        """Deliver everything due now; returns how many were sent. One pass at a time."""
        with self._pass_lock:
            due = self._due_ids(self.engine.clock())
            if self.send_workers > 1 and len(due) > 1:
                sent = self._burst(due)
            else:
                sent = 0
                for reminder_id in due:
                    if self.stopped.is_set():
                        break
                    try:
                        claimed = self._claim(reminder_id)
                        if claimed is not None:
                            sent += self._deliver(claimed)
                    except SQLAlchemyError:
                        log.exception("reminder %s: database error; will retry", reminder_id)
            if self.on_pass is not None:
                self.on_pass(sent)
            return sent

    def _burst(self, due: list[int]) -> int:
        """Claim and render in due order here; send through a pool, a few in flight at once.

        Batch after batch while anything is due, so the pool never drains to wait for its
        slowest send at a batch boundary; each reminder is tried at most once per pass.
        """
        slots = threading.BoundedSemaphore(self.send_workers)
        futures: list[Future[int]] = []
        tried: set[int] = set()
        with SendPool(self.send_workers, thread_name_prefix="reminder-send") as pool:
            while due and not self._halted():
                for reminder_id in due:
                    slots.acquire()  # never more claimed-and-waiting rows than senders
                    if self._halted():
                        slots.release()
                        break
                    tried.add(reminder_id)
                    claimed, replies = None, None
                    try:
                        claimed = self._claim(reminder_id)
                        replies = self._render(claimed) if claimed is not None else None
                    except SQLAlchemyError:
                        log.exception("reminder %s: database error; will retry", reminder_id)
                    if claimed is None or replies is None:
                        slots.release()
                        continue
                    future = pool.submit(self._send_safely, claimed, replies)
                    future.add_done_callback(lambda _: slots.release())
                    futures.append(future)
                due = [i for i in self._due_ids(self.engine.clock()) if i not in tried]
        return sum(f.result() for f in futures)

    def _halted(self) -> bool:
        return self.stopped.is_set() or self._stopping.is_set()

    def _send_safely(self, claimed: Claimed, replies: list[Reply]) -> int:
        try:
            return self._send(claimed, replies)
        except SQLAlchemyError:
            log.exception("reminder %s: database error; will retry", claimed.id)
            return 0

    def next_due(self) -> datetime | None:
        with self.db.transaction() as session:
            return session.scalar(
                select(func.min(Reminder.due_at))
                .join(User, User.id == Reminder.user_id)
                .where(Reminder.status == "pending", *self._eligible())
            )

    def _eligible(self) -> list[Any]:
        """Who this process may deliver to right now (the same test is repeated in the claim)."""
        conditions: list[Any] = [
            User.platform.in_(sorted(self.senders)),
            User.reminders_on.is_(True),
            User.crisis_at.is_(None),  # a crisis silences everything until they write again
            User.undeliverable_at.is_(None),
        ]
        for platform, external_id in self.only.items():
            conditions.append(or_(User.platform != platform, User.external_id == external_id))
        return conditions

    def _due_ids(self, now: datetime) -> list[int]:
        with self.db.transaction() as session:
            return list(
                session.scalars(
                    select(Reminder.id)
                    .join(User, User.id == Reminder.user_id)
                    .where(Reminder.status == "pending", Reminder.due_at <= now, *self._eligible())
                    .order_by(Reminder.due_at, Reminder.id)
                    .limit(BATCH)
                )
            )

    def _claim(self, reminder_id: int) -> Claimed | None:
        """Take one due reminder, or decide it should be cancelled, folded or deferred."""
        now = self.engine.clock()
        with self.db.transaction() as session:
            row = session.execute(
                select(Reminder, User)
                .join(User, User.id == Reminder.user_id)
                .where(Reminder.id == reminder_id, Reminder.status == "pending", *self._eligible())
                .with_for_update(skip_locked=True)  # PostgreSQL: a row in someone's turn waits
            ).one_or_none()
            if row is None:
                return None
            reminder, user = row
            if reminder.due_at > now:  # snoozed or deferred since we looked
                return None
            conv = session.scalars(
                select(Conversation).where(Conversation.user_id == user.id)
            ).first()
            kinds = self.engine.registry.reminder_kinds
            why_not = delivery.not_needed(kinds, session, reminder, user, conv)
            if why_not:
                reminder.status, reminder.last_error = "cancelled", why_not
                return None
            if now - reminder.due_at > timedelta(hours=self.config.misfire_window_hours):
                reminder.status = "missed"  # folded into the next check-in instead
                delivery.after_leaving_queue(session, reminder, user, now, self.zone)
                return None
            allowed = allowed_from(user, self.zone, now)
            if allowed > now:  # quiet hours (or they changed them since it was stored)
                reminder.due_at = allowed
                return None
            if conv is not None and conv.paused_at is None and self._active(conv, now):
                reminder.due_at = max(conv.updated_at + ACTIVE_WINDOW, now + timedelta(minutes=1))
                return None
            taken = session.execute(
                update(Reminder)
                .where(Reminder.id == reminder_id, Reminder.status == "pending")
                .values(
                    status="claimed",
                    claimed_by=self.holder,
                    claimed_at=now,
                    attempts=Reminder.attempts + 1,
                ),
                execution_options={"synchronize_session": False},
            ).rowcount  # type: ignore[attr-defined]
            if taken != 1:
                return None
            delivery.after_leaving_queue(session, reminder, user, now, self.zone)
            key = UserKey(user.platform, user.workspace, user.external_id)
            return Claimed(reminder_id, key, user.dm_channel)

    @staticmethod
    def _active(conv: Conversation, now: datetime) -> bool:
        """Touched in the last few minutes (by either clock, if processes' clocks differ)."""
        return abs(now - conv.updated_at) < ACTIVE_WINDOW

    def _deliver(self, claimed: Claimed) -> int:
        replies = self._render(claimed)
        return 0 if replies is None else self._send(claimed, replies)

    def _render(self, claimed: Claimed) -> list[Reply] | None:
        """The nudge for a claimed reminder, or None (then it is already marked for a retry)."""
        replies = delivery.render(self.engine, claimed.user, claimed.id)
        if self._is_error(replies):
            self._failed(claimed.id, "the nudge could not be rendered", permanent=False)
            return None
        return replies

    def _send(self, claimed: Claimed, replies: list[Reply]) -> int:
        """The last look, the sender, and the outcome recorded: 1 if it was sent."""
        if not self._mark_sending(claimed.id):
            return 0
        try:
            self.senders[claimed.user.platform].deliver(
                Recipient(claimed.user, claimed.dm_channel), replies
            )
        except DeliveryFailed as exc:
            self._failed(claimed.id, str(exc) or "delivery failed", exc.permanent)
            return 0
        except Exception as exc:  # a sender bug must not stop everyone else's reminders
            log.exception("sender for %s failed", claimed.user.platform)
            self._failed(claimed.id, f"{type(exc).__name__}: {exc}", permanent=False)
            return 0
        return self._sent(claimed.id)

    def _is_error(self, replies: list[Reply]) -> bool:
        return not replies or (
            len(replies) == 1 and replies[0].text == self.engine.messages["error"]
        )

    def _mine(self, session: Any, reminder_id: int, statuses: tuple[str, ...]) -> Reminder | None:
        reminder = session.get(Reminder, reminder_id, with_for_update=True)
        if reminder is None or reminder.status not in statuses:
            return None
        return reminder if reminder.claimed_by == self.holder else None

    def _mark_sending(self, reminder_id: int) -> bool:
        """The last look before the sender: still ours, and the person still wants nudges."""
        now = self.engine.clock()
        with self.db.transaction() as session:
            reminder = self._mine(session, reminder_id, ("claimed",))
            if reminder is None:
                return False  # snoozed from elsewhere, forgotten, or taken back
            user = session.get(User, reminder.user_id, with_for_update=True)
            assert user is not None
            if user.crisis_at is not None or not user.reminders_on:
                reminder.status, reminder.claimed_by = "pending", None
                if user.crisis_at is not None:  # the nudge un-paused them: pause again
                    conv = session.scalars(
                        select(Conversation).where(Conversation.user_id == user.id)
                    ).first()
                    if conv is not None:
                        conv.paused_at = conv.paused_at or now
                return False
            reminder.status = "sending"
            return True

    def _sent(self, reminder_id: int) -> int:
        with self.db.transaction() as session:
            reminder = self._mine(session, reminder_id, ("sending",))
            if reminder is None:
                return 1  # the person already snoozed or skipped it: it was still sent
            reminder.status, reminder.sent_at = "sent", self.engine.clock()
            return 1

    def _failed(self, reminder_id: int, reason: str, permanent: bool) -> None:
        now = self.engine.clock()
        log.warning("reminder %s not delivered (%s)%s", reminder_id, reason,
                    " for good" if permanent else "")  # fmt: skip
        with self.db.transaction() as session:
            reminder = self._mine(session, reminder_id, ("claimed", "sending"))
            if reminder is None:
                return
            reminder.last_error = reason[:500]
            if permanent:
                reminder.status = "failed"
                user = session.get(User, reminder.user_id)
                if user is not None and user.undeliverable_at is None:
                    user.undeliverable_at = now  # stops this person's reminders
            elif reminder.attempts >= MAX_ATTEMPTS:
                reminder.status = "failed"
            else:
                reminder.status, reminder.claimed_by = "pending", None
                reminder.due_at = now + RETRY_BASE * 3 ** max(reminder.attempts - 1, 0)
