"""The one scheduler per database: APScheduler times it, the reminders table decides everything.

Why APScheduler keeps no job store of its own here: the reminders table is already the durable
record that every process writes, lists and deletes (``forget me``). A SQLAlchemy job store
would be a second copy of the same facts, written by the scheduler alone, holding pickled
callables that it silently deletes when they no longer unpickle, and it must never be shared by
two schedulers (they run each job twice). So APScheduler runs on a ``MemoryJobStore`` with two
jobs rebuilt at every start: ``poll`` (every ``reminders.poll_seconds``: deliver what is due,
notice rows other processes added), ``wake`` (one date job at the next known due time, so a
reminder known in advance goes out on the minute, not up to a poll later). The lease is renewed
by a thread of its own, never by a job that could queue behind a long delivery pass, and the
first (catch-up) pass already runs under it. A restart loses nothing because there is nothing in
memory to lose.

A database error during a renewal says nothing about who holds the lease, so it is retried with
backoff, loudly, while the lease is still ours; past its expiry deliveries pause, and the next
renewal that reaches the database takes the lease back if nobody else took it. Only a lease
really held by another holder stops the scheduler (``standby`` schedulers, the ones inside
``rebound chat`` and ``rebound run``, keep trying to take it back instead).

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
again cannot duplicate) and marks ``sending`` rows ``interrupted`` without resending. A taken-back
row whose nudge was already rendered goes out at once: the conversation's fresh timestamp is our
own render, not the person talking, so it does not count as "mid-conversation". Delivery is
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
import time
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
from bot.reminders.lease import Lease, Renewal
from bot.reminders.schedule import allowed_from
from bot.storage.models import Conversation, Reminder, User

log = logging.getLogger(__name__)


def _not_an_overlap(record: logging.LogRecord) -> bool:
    """A pass still running when the next poll is due is skipped on purpose (one pass at a
    time); APScheduler reports each skip as a warning, which in ``rebound chat`` lands between
    the person's lines."""
    return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_not_an_overlap)
logging.getLogger("apscheduler.executors.default").addFilter(_not_an_overlap)

ACTIVE_WINDOW = timedelta(minutes=5)  # a conversation touched this recently is not trampled
MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(minutes=1)  # temporary failures retry after 1, 3, 9, 27 minutes
BATCH = 200
# Deliveries in flight at once in a burst (see the module docstring); 1 sends one at a time.
SEND_WORKERS = 8
INTERRUPTED = "the scheduler stopped while sending; not resent (delivery is at most once)"
RECOVERED = "taken back from a scheduler that stopped before sending"
# A taken-back row's own render touched the conversation within this long of its claim.
RENDER_SLACK = timedelta(seconds=60)
RETRY_FIRST, RETRY_MAX = 0.2, 2.0  # seconds: backoff between renewals that hit a database error
OUTAGE_LOG_EVERY = 10.0  # seconds between repeated "still failing" lines during an outage


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
        standby: bool = False,
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
        self.standby = standby  # on losing the lease, wait to take it back rather than stop
        self._valid_until = 0.0  # time.monotonic() up to which the lease is surely ours
        self._first_pass = threading.Event()
        self._leftovers = False  # a pass hit database errors: it may have left rows claimed
        self._keeper: threading.Thread | None = None
        self._pass_lock = threading.Lock()
        self._aps: BackgroundScheduler | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, wait: float = 0.0) -> None:
        """Take the lease (or raise :class:`LeaseHeld`), recover, run one pass, start timing.

        ``wait``: seconds to watch a lease held by someone else for its expiry (a scheduler
        restarted after a crash finds its predecessor's row). The first pass runs in
        APScheduler's thread, with the lease already being renewed; this returns when it is
        done, and a signal (Ctrl-C, SIGTERM) can interrupt the wait.
        """
        started = time.monotonic()
        self.lease.acquire(wait)
        self._valid_until = started + self.lease.ttl.total_seconds()
        self.recover()
        self._keeper = threading.Thread(target=self._keep_lease, name="reminder-lease", daemon=True)
        self._keeper.start()
        poll = self.config.poll_seconds
        self._aps = BackgroundScheduler(
            timezone=UTC,  # never the machine's zone; people's zones are applied per row
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(2)},
            # None: a late job still runs (the default 1 s grace silently drops it); our own
            # misfire policy works on the table, where the real due times are.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._aps.add_job(
            self._tick, "interval", seconds=poll, id="poll", next_run_time=datetime.now(UTC)
        )
        self._aps.start()
        while not self._first_pass.wait(0.2) and not self.stopped.is_set():
            pass

    def stop(self) -> None:
        """Finish the delivery in flight, stop timing, give up the lease, close the senders."""
        self._stopping.set()
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=True)
        self._aps = None
        if self._keeper is not None and self._keeper is not threading.current_thread():
            self._keeper.join(10)
        if self._pass_lock.acquire(timeout=60):  # a pass still finishing (after a lost lease)
            self._pass_lock.release()
        try:
            self.lease.release()
        except SQLAlchemyError:
            log.warning("could not release the scheduler lease; it expires by itself")
        for sender in self.senders.values():
            close = getattr(sender, "close", None)
            if callable(close):
                close()
        self.stopped.set()

    def _holding(self) -> bool:
        """The last renewal that reached the database vouches for the lease until now."""
        return time.monotonic() < self._valid_until

    def _keep_lease(self) -> None:
        """Renew every third of the lease's life, independently of delivery, until stopped.

        A database error is an outage, not a verdict: retry with backoff (logging loudly) and
        carry on when the database is back; stop only when another holder really holds it.
        """
        every = max(self.lease.ttl.total_seconds() / 3, 0.05)
        delay, failures, since, last_log, expired = every, 0, 0.0, 0.0, False
        back = False  # the database just answered again after failures
        while not self._stopping.wait(delay):
            asked = time.monotonic()
            try:
                outcome = self.lease.renew()
            except Exception as exc:  # any database error: retry, never give up
                if failures == 0:
                    since = asked
                failures += 1
                delay = min(RETRY_FIRST * 2 ** (failures - 1), RETRY_MAX, every)
                lapsed = not self._holding() and not expired
                if failures == 1 or lapsed or asked - last_log >= OUTAGE_LOG_EVERY:
                    last_log, expired = asked, expired or lapsed
                    self._log_outage(failures, asked - since, exc)
                continue
            delay = every
            if failures:
                log.warning(
                    "database reachable again after %.1f s (%d failed lease renewals); "
                    "scheduler lease %s",
                    asked - since, failures,
                    "now held by another scheduler" if outcome is Renewal.TAKEN else
                    "taken back (nobody else took it)" if expired else "kept",
                )  # fmt: skip
                failures, expired, back = 0, False, True
            if outcome is Renewal.TAKEN:
                if self._lost():
                    return
                continue
            if outcome is Renewal.REGAINED and self._valid_until == 0.0:
                log.warning("the scheduler lease is free again: taken back, delivering")
                back = True
            self._valid_until = asked + self.lease.ttl.total_seconds()
            if outcome is Renewal.REGAINED:
                self._recover_quietly()
            if back:  # deliver what fell due meanwhile now, not a poll later
                back = False
                self._wake_now()

    def _log_outage(self, failures: int, seconds: float, exc: BaseException) -> None:
        """One loud line: the kind of error (never its text: it may quote parameters)."""
        kind = type(getattr(exc, "orig", None) or exc).__name__
        if self._holding():
            left = self._valid_until - time.monotonic()
            log.warning(
                "could not renew the scheduler lease: database error (%s), %d attempt(s) over "
                "%.1f s; retrying, the lease is still ours for %.1f s",
                kind, failures, seconds, left,
            )  # fmt: skip
        else:
            log.error(
                "database outage (%s) for %.1f s: the scheduler lease has expired, reminders "
                "are paused; retrying and taking the lease back when the database answers",
                kind, seconds,
            )  # fmt: skip

    def _lost(self) -> bool:
        """Another holder has the lease: stop (True), or, on standby, pause and keep trying."""
        was_holding = self._valid_until > 0
        self._valid_until = 0.0
        if self.standby:
            if was_holding:
                log.error(
                    "another scheduler holds the lease (%s); this process stops sending "
                    "reminders until it can take the lease back",
                    self.lease.other,
                )
            return False
        log.error("another scheduler holds the lease (%s); stopping", self.lease.other)
        self.lease_lost = True
        self.stopped.set()
        if self._aps is not None:
            self._aps.shutdown(wait=False)
        return True

    def _recover_quietly(self) -> None:
        try:
            self.recover()
        except SQLAlchemyError:
            log.warning("could not tidy up after the previous lease holder; will retry later")
            self._valid_until = 0.0  # deliver nothing until that is done

    def _tick(self) -> None:
        self.engine.housekeep()  # old processed events and files: rate-limited, never raises
        try:
            if self._holding():
                self.run_pending()
        except SQLAlchemyError as exc:
            log.warning("reminder pass failed: database error (%s); will retry",
                        type(exc.orig or exc).__name__)  # fmt: skip
        except Exception:  # never let one bad pass kill the timer thread
            log.exception("reminder pass failed")
        finally:
            self._first_pass.set()
        self._arm_wake()

    def _wake_now(self) -> None:
        aps = self._aps
        if aps is not None and aps.running and not self._halted():
            aps.add_job(self._tick, "date", run_date=datetime.now(UTC), id="wake",
                        replace_existing=True)  # fmt: skip

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

        Only called while holding the lease, so no other scheduler can be mid-delivery; our own
        rows in flight (a lease taken back after an outage) are left alone. ``claimed_at`` is
        kept, so the next claim can tell our predecessor's render from the person talking.
        """
        theirs = or_(Reminder.claimed_by.is_(None), Reminder.claimed_by != self.holder)
        with self.db.transaction() as session:
            back = session.execute(
                update(Reminder)
                .where(Reminder.status == "claimed", theirs)
                .values(status="pending", claimed_by=None, last_error=RECOVERED)
            ).rowcount  # type: ignore[attr-defined]
            lost = session.execute(
                update(Reminder)
                .where(Reminder.status == "sending", theirs)
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
                    if self._halted():
                        break
                    try:
                        claimed = self._claim(reminder_id)
                        if claimed is not None:
                            sent += self._deliver(claimed)
                    except SQLAlchemyError as exc:
                        self._db_error(reminder_id, exc)
            if self._leftovers:
                self._tidy_own()
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
                    except SQLAlchemyError as exc:
                        self._db_error(reminder_id, exc)
                    if claimed is None or replies is None:
                        slots.release()
                        continue
                    future = pool.submit(self._send_safely, claimed, replies)
                    future.add_done_callback(lambda _: slots.release())
                    futures.append(future)
                due = [i for i in self._due_ids(self.engine.clock()) if i not in tried]
        return sum(f.result() for f in futures)

    def _db_error(self, reminder_id: int, exc: SQLAlchemyError) -> None:
        """Logged by kind only (its text may quote a person's words); the row is tidied later."""
        self._leftovers = True
        log.warning("reminder %s: database error (%s); will retry",
                    reminder_id, type(exc.orig or exc).__name__)  # fmt: skip

    def _tidy_own(self) -> None:
        """After a pass that hit database errors: our own rows it left ``claimed`` or ``sending``.

        Called at the end of a pass, under the pass lock, when nothing of ours is in flight, so
        these rows are leftovers: claimed ones go back to pending (nothing reached a sender),
        sending ones become interrupted (never resent), the same rule as after a crash.
        """
        try:
            with self.db.transaction() as session:
                mine = Reminder.claimed_by == self.holder
                back = session.execute(
                    update(Reminder)
                    .where(Reminder.status == "claimed", mine)
                    .values(status="pending", claimed_by=None, last_error=RECOVERED)
                ).rowcount  # type: ignore[attr-defined]
                lost = session.execute(
                    update(Reminder)
                    .where(Reminder.status == "sending", mine)
                    .values(status="interrupted", last_error=INTERRUPTED)
                ).rowcount  # type: ignore[attr-defined]
        except SQLAlchemyError:
            return  # still failing: try again after the next pass
        self._leftovers = False
        if back or lost:
            log.warning("after database errors: %d claimed reminder(s) back to pending, "
                        "%d marked interrupted", back, lost)  # fmt: skip

    def _halted(self) -> bool:
        """Stop claiming: stopping, or the lease is not surely ours (a renewal is failing)."""
        if self._aps is not None and not self._holding():
            return True
        return self.stopped.is_set() or self._stopping.is_set()

    def _send_safely(self, claimed: Claimed, replies: list[Reply]) -> int:
        try:
            return self._send(claimed, replies)
        except SQLAlchemyError as exc:
            self._db_error(claimed.id, exc)
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
            if (
                conv is not None
                and conv.paused_at is None
                and self._active(conv, now)
                and not self._our_render(reminder, conv)
            ):
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
    def _our_render(reminder: Reminder, conv: Conversation) -> bool:
        """The conversation was last touched by rendering this very (taken-back) reminder."""
        return (
            reminder.last_error == RECOVERED
            and reminder.claimed_at is not None
            and conv.flow == delivery.REMINDER_FLOW
            and (conv.slots or {}).get("reminder_id") == reminder.id
            and conv.updated_at <= reminder.claimed_at + RENDER_SLACK
        )

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
