"""Reminder burst: every reminder due in the same minute, through a rate-limited Slack.

10,000 people (1,000 with ``quick``) on a SQLite file, each with one ``debrief`` reminder due
now and their DM channel known, are delivered by the real ``ReminderScheduler`` started as
``rebound run`` starts it (lease, APScheduler, the default poll) with the real ``SlackSender``
(slack_sdk's ``AsyncRateLimitErrorRetryHandler`` honouring ``Retry-After``). The sender talks
to the mock Slack Web API (``tests/fakes/slack_api.py``) in its own process, with its optional
global rate limit switched on: a token bucket of ``RATE`` calls per second (burst ``RATE``)
that answers 429 with ``Retry-After``. The limit is enforced by the fake server, not by the
sender.

Measured: messages delivered; the delivery rate as a share of what the limit allows over the
same interval (``RATE`` x seconds from first to last post, plus the burst); reminders lost
(due, never posted); duplicates (the fake records every ``chat.postMessage``: posts per DM
beyond the first); 429s the sender saw; errors that reached people (rows ending ``failed``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing as mp
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import behaviour

RATE = 50  # requests per second, all methods together (Discord's global limit; Slack-like)
TEAM = "T0001"


def _fake_process(ready: Any, stop: Any, rate: float) -> None:
    """The mock Slack Web API with a global rate limit, in its own process."""
    from tests.fakes.slack_api import FakeSlack

    async def main() -> None:
        fake = FakeSlack()
        fake.rate_limit(rate)
        posted_at: list[float] = []
        answer = fake._answer

        def timed(method: str, args: dict[str, Any]) -> dict[str, Any]:
            if method == "chat.postMessage":
                posted_at.append(time.monotonic())
            return answer(method, args)

        fake._answer = timed  # type: ignore[method-assign]
        await fake.start()
        ready.put(fake.api_url)
        while not stop.is_set():
            await asyncio.sleep(0.2)
        posts = Counter(str(c.args.get("channel")) for c in fake.named("chat.postMessage"))
        ready.put(
            {
                "posts_per_channel": dict(posts),
                "calls": Counter(c.method for c in fake.calls),
                "throttled": len(fake.throttled),
                "first_post": posted_at[0] if posted_at else 0.0,
                "last_post": posted_at[-1] if posted_at else 0.0,
                "problems": fake.problems[:5],
            }
        )
        await fake.stop()

    asyncio.run(main())


def _people(url: str, count: int, due: datetime) -> None:
    """``count`` Slack people, each with an interview this morning and its debrief due now."""
    from sqlalchemy import insert

    from bot.storage.db import Database
    from bot.storage.models import Interview, Reminder, User

    db = Database(url)
    now = datetime.now(UTC)
    users = [
        {"id": n, "platform": "slack", "workspace": TEAM, "external_id": f"UB{n}",
         "display_name": f"Person {n}", "timezone": "UTC", "quiet_start": "00:00",
         "quiet_end": "00:00", "dm_channel": f"DB{n}", "created_at": now}
        for n in range(1, count + 1)
    ]  # fmt: skip
    interviews = [
        {"id": n, "user_id": n, "company": "Acme", "role": "Analyst",
         "happens_at": due - timedelta(hours=3), "created_at": now}
        for n in range(1, count + 1)
    ]  # fmt: skip
    reminders = [
        {"user_id": n, "kind": "debrief", "due_at": due, "ref_id": n, "status": "pending",
         "attempts": 0, "payload": {}, "created_at": now}
        for n in range(1, count + 1)
    ]  # fmt: skip
    with db.transaction() as session:
        session.execute(insert(User), users)
        session.execute(insert(Interview), interviews)
        session.execute(insert(Reminder), reminders)
    db.dispose()


def _statuses(db: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from bot.storage.models import Reminder

    with db.transaction() as session:
        rows = session.execute(select(Reminder.status, func.count()).group_by(Reminder.status))
        return {str(status): int(n) for status, n in rows}


def bench(quick: bool = False) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    from benchmarks.turns import make_engine
    from bot.app import Built, senders
    from bot.conversation.engine import Engine
    from bot.reminders.scheduler import ReminderScheduler
    from bot.storage.db import Database, open_database
    from tests.fakes.slack_driver import slack_settings

    count = 1_000 if quick else 10_000
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'burst.db'}"
    open_database(url).dispose()
    due = datetime.now(UTC).replace(second=0, microsecond=0)
    began = time.perf_counter()
    _people(url, count, due)
    insert_s = time.perf_counter() - began

    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    fake_proc = ctx.Process(target=_fake_process, args=(ready, stop, RATE))
    fake_proc.start()
    api_url = ready.get(timeout=60)

    class _Fake:
        pass

    fake = _Fake()
    fake.api_url = api_url  # type: ignore[attr-defined]
    base = make_engine(url, data_dir=str(folder / "out")).settings
    settings = slack_settings(base, fake)  # type: ignore[arg-type]
    db = Database(url)
    engine = Engine(db, settings, behaviour())  # the real clock, as in production
    found = senders(Built(settings, db, engine))  # built as `rebound scheduler` builds them
    assert type(found["slack"]).__name__ == "SlackSender"
    scheduler = ReminderScheduler(engine, found)
    # A temporary failure per row, or APScheduler skipping a poll while a long pass runs,
    # would flood the output; the figures below count them instead.
    quiet = [logging.getLogger(n) for n in ("bot.reminders.scheduler", "apscheduler")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    # Long enough for a temporary failure to come round again (1, 3 minutes later).
    deadline = time.monotonic() + count / RATE * 2 + 300
    statuses: dict[str, int] = {}
    try:
        started = time.monotonic()
        scheduler.start()
        while time.monotonic() < deadline:
            statuses = _statuses(engine.db)
            if not any(statuses.get(s) for s in ("pending", "claimed", "sending")):
                break
            time.sleep(0.5)
        finished = time.monotonic()
    finally:
        scheduler.stop()
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)
        stop.set()
        seen = ready.get(timeout=60)
        fake_proc.join(10)
        engine.db.dispose()
    posts: dict[str, int] = seen["posts_per_channel"]
    delivered = len(posts)
    duplicates = sum(n - 1 for n in posts.values())
    lost = count - delivered
    span = max(seen["last_post"] - seen["first_post"], 1e-9)
    allowed = RATE * span + RATE  # what the bucket lets through in that time, burst included
    ratio = sum(posts.values()) / allowed
    results = {
        "reminders": count,
        "insert_seconds": insert_s,
        "delivered": delivered,
        "posts": sum(posts.values()),
        "duplicates": duplicates,
        "lost": lost,
        "throttled_429": seen["throttled"],
        "failed_rows": statuses.get("failed", 0),
        "statuses": statuses,
        "calls": dict(seen["calls"]),
        "first_to_last_post_s": span,
        "start_to_done_s": finished - started,
        "delivered_per_s": sum(posts.values()) / span,
        "allowed_per_s": RATE,
        "share_of_allowed": ratio,
        "block_kit_problems": seen["problems"],
    }
    label = f"{count:,} reminders due at once, Slack limit {RATE}/s"
    rows = [
        (f"{label}: delivery rate", "≥ 0.95 of allowed",
         f"{results['delivered_per_s']:.1f}/s ({ratio:.3f})", f"{RATE}/s allowed", ratio),
        (f"{label}: lost / duplicates", "0 / 0", f"{lost} / {duplicates}",
         f"{delivered} delivered in {span:.0f} s", None),
        (f"{label}: 429s seen / errors to people", "any / 0",
         f"{seen['throttled']} / {results['failed_rows']}", "", None),
    ]  # fmt: skip
    return rows, json.loads(json.dumps(results))
