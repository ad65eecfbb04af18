"""The durable inbox: Slack requests acknowledged by the HTTP process, answered by workers.

The acknowledging side is the real ``http_app`` with an inbox (as ``rebound slack --http
--no-worker`` serves it); the workers are real ``rebound slack worker`` processes against the
fake Slack Web API. A worker is killed with SIGKILL after it claimed an acknowledged event,
before, inside or just after its turn (committed, nothing sent yet); the next worker answers
that event exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.conversation.engine import Engine
from bot.conversation.inbox import Inbox
from bot.conversation.interpret import shared_encoder
from bot.storage.db import Database
from bot.storage.models import InboxItem, ProcessedEvent

from .behaviour import production
from .conftest import FLOWS, ROOT, Clock
from .fakes.slack_driver import BOT_TOKEN, SECRET, SlackHarness

WORKER = """
import sys, time
sys.path.insert(0, {root!r})
from bot.conversation.engine import Engine
from bot.conversation.turn import Turn

def stall(*args, **kwargs):
    print("stalled", flush=True)   # the event is claimed; the turn will never finish
    time.sleep(3600)

if sys.argv[1] == "before-turn":
    Engine.handle = stall           # claimed, acknowledged, no turn taken yet
elif sys.argv[1] == "inside-turn":
    Turn.run = stall                # the person's row is locked, the transaction open
elif sys.argv[1] == "after-commit":
    import bot.platforms.slack.app as slack_app
    slack_app.post_replies = stall  # the turn is committed, its replies not yet sent
from bot.cli import main
main(["slack", "worker", "--claim-seconds", "1"])
"""


def _engine(db: Database, settings, clock: Clock) -> Engine:  # type: ignore[no-untyped-def]
    return Engine(db, settings, production(), clock=clock, encoder=shared_encoder())


def _worker(db: Database, api_url: str, tmp_path: Path, mode: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "REBOUND_DATABASE__URL": db.url.render_as_string(hide_password=False),
        "REBOUND_SLACK__BOT_TOKEN": BOT_TOKEN,
        "REBOUND_SLACK__SIGNING_SECRET": SECRET,
        "REBOUND_SLACK__API_URL": api_url,
        "REBOUND_FLOWS_DIR": str(FLOWS),
        "REBOUND_DATA_DIR": str(tmp_path / "worker-out"),
    }
    return subprocess.Popen(
        [sys.executable, "-c", WORKER.format(root=str(ROOT)), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def _posted_to(harness: SlackHarness, channel: str) -> list[str]:
    return [c.args.get("text", "") for c in harness.fake.named("chat.postMessage")
            if c.args.get("channel") == channel]  # fmt: skip


def _count(db: Database, model: type) -> int:
    with db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _wait(condition, seconds: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.parametrize("moment", ["before-turn", "inside-turn", "after-commit"])
def test_an_event_acknowledged_before_its_worker_was_killed_is_answered_exactly_once(
    any_db: Database, settings, clock: Clock, tmp_path: Path, moment: str  # type: ignore[no-untyped-def]
) -> None:
    db = any_db
    harness = SlackHarness(_engine(db, settings, clock), inbox=True, worker=False)
    try:
        event = {"type": "message", "channel_type": "im", "channel": "DU7", "user": "U7",
                 "text": "hi", "ts": "1700000000.000100"}  # fmt: skip
        body = harness.event_body(event, "EvKilled")
        status, _ = harness.post(body, "application/json")
        assert status == 200  # acknowledged: from here on Slack will not send it again
        assert _count(db, InboxItem) == 1

        doomed = _worker(db, harness.fake.api_url, tmp_path, moment)
        try:
            assert doomed.stdout is not None
            line = doomed.stdout.readline()
            assert line.strip() == "stalled", doomed.stderr.read() if doomed.stderr else ""
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(10)
        finally:
            if doomed.poll() is None:
                doomed.kill()
        assert _posted_to(harness, "DU7") == []  # nothing said yet
        assert _count(db, InboxItem) == 1  # still waiting: not lost with its worker

        # A retry Slack sends meanwhile (it may, if our 200 was slow) is not queued twice.
        status, _ = harness.post(body, "application/json", headers={"X-Slack-Retry-Num": "1"})
        assert status == 200
        assert _count(db, InboxItem) == 1

        survivor = _worker(db, harness.fake.api_url, tmp_path, "normal")
        try:
            assert _wait(lambda: _count(db, InboxItem) == 0), "the event was never answered"
            answered = _posted_to(harness, "DU7")
            time.sleep(1.5)  # longer than a claim: nothing arrives a second time
            assert _posted_to(harness, "DU7") == answered
        finally:
            survivor.send_signal(signal.SIGTERM)
            assert survivor.wait(30) == 0
        with db.transaction() as s:
            events = s.execute(select(ProcessedEvent.key, ProcessedEvent.replies)).all()
        assert events == [("slack:T0001:EvKilled", None)]  # one turn; kept replies cleared

        # The same first message, never interrupted, says exactly the same: once, not twice.
        control = {**event, "channel": "DU8", "user": "U8"}
        harness.post(harness.event_body(control, "EvControl"), "application/json")
        clean = _worker(db, harness.fake.api_url, tmp_path, "normal")
        try:
            assert _wait(lambda: _count(db, InboxItem) == 0)
            assert _wait(lambda: len(_posted_to(harness, "DU8")) >= len(answered))
        finally:
            clean.send_signal(signal.SIGTERM)
            clean.wait(30)
        assert answered and answered == _posted_to(harness, "DU8")
    finally:
        harness.close()


def test_retries_and_other_people_while_waiting(
    db: Database, settings, clock: Clock  # type: ignore[no-untyped-def]
) -> None:
    """Acknowledged at once and stored once per event id; a person's events keep their order;
    ``forget me`` deletes what that person still has waiting, nobody else's."""
    harness = SlackHarness(_engine(db, settings, clock), inbox=True, worker=False)
    try:
        for n, (user, text) in enumerate([("U1", "hi"), ("U2", "hi"), ("U1", "help")]):
            event = {"type": "message", "channel_type": "im", "channel": f"D{user}",
                     "user": user, "text": text, "ts": f"17000000{n}.000100"}  # fmt: skip
            for _retry in range(2):
                status, _ = harness.post(harness.event_body(event, f"Ev{n}"), "application/json")
                assert status == 200
        inbox = Inbox(db)
        assert inbox.waiting() == 3
        claimed = inbox.claim("w1", limit=10)
        people = [json.loads(i.payload)["event"]["user"] for i in claimed]
        assert people == ["U1", "U2", "U1"]  # arrival order
        assert inbox.claim("w2", limit=10) == []  # claimed rows are nobody else's meanwhile
        inbox.release("w1")
        assert [i.id for i in inbox.claim("w2", limit=10)] == [i.id for i in claimed]
    finally:
        harness.close()


def test_forget_me_deletes_what_the_person_still_has_waiting(
    db: Database, settings, clock: Clock  # type: ignore[no-untyped-def]
) -> None:
    from bot.conversation.messages import Inbound, UserKey

    engine = _engine(db, settings, clock)
    inbox = Inbox(db)
    me, other = UserKey("slack", "T1", "U1"), UserKey("slack", "T1", "U2")
    engine.handle(Inbound(user=me, text="hi"))
    assert inbox.put("slack:T1:Ev1", me, "{}") and inbox.put("slack:T1:Ev2", other, "{}")
    replies = engine.handle(Inbound(user=me, text="forget me"))
    yes = next(c.id for r in replies for c in r.choices if "delete" in c.label.lower())
    engine.handle(Inbound(user=me, choice=yes, token=replies[-1].token))
    with db.transaction() as s:
        left = s.scalars(select(InboxItem.external_id)).all()
    assert left == ["U2"]


def test_a_request_bolt_could_not_answer_stays_queued(
    db: Database, settings, clock: Clock  # type: ignore[no-untyped-def]
) -> None:
    """Bolt answering 500 or 401 (Slack or the token store away, say) is not an answer: the
    row stays for another try; a 200 deletes it."""
    import asyncio

    from slack_bolt.response import BoltResponse

    from bot.conversation.messages import UserKey
    from bot.platforms.slack.worker import SlackWorker

    class Bolt:
        status = 500

        async def async_dispatch(self, _request: object) -> BoltResponse:
            return BoltResponse(status=self.status, body="")

    inbox, bolt = Inbox(db), Bolt()
    body = json.dumps({"type": "event_callback", "team_id": "T0001", "event_id": "EvX",
                       "event": {"type": "message", "user": "U1", "text": "hi"}})  # fmt: skip
    assert inbox.put("slack:T0001:EvX", UserKey("slack", "T0001", "U1"), body)
    worker = SlackWorker(bolt, Inbox(db, ttl=timedelta(0)), _engine(db, settings, clock))  # type: ignore[arg-type]
    for status in (500, 401):
        bolt.status = status
        assert asyncio.run(worker.run_once())
        assert inbox.waiting() == 1
    bolt.status = 200
    assert asyncio.run(worker.run_once())
    assert inbox.waiting() == 0
