"""The weekly digest: off by default; on, it is posted to the staff channel on Monday morning in
the workspace's time zone by the reminders scheduler, k-anonymous, and booked again; off again,
nothing is posted."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.conversation.messages import UserKey
from bot.storage.models import Reminder
from tests.conftest import Clock, EngineDriver
from tests.test_staff_insights import WS, seed

STAFF = "CSTAFF0001"


class FakePoster:
    platform = "slack"

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, str]] = []

    def post(self, workspace: str, channel: str, text: str) -> str:
        self.posts.append((workspace, channel, text))
        return f"{len(self.posts)}.0001"

    def delete(self, workspace: str, channel: str, message_id: str) -> None:
        raise AssertionError("nothing is deleted here")


def admin(engine: Engine, clock: Clock) -> EngineDriver:
    chat = EngineDriver(engine, UserKey("slack", WS, "UADM"), clock)
    chat.text("hi")
    chat.press("Yes, that's right")
    chat._send(text="admin", admin_of=WS)
    return chat


def pending(engine: Engine) -> list[datetime]:
    with engine.db.transaction() as s:
        return list(s.scalars(select(Reminder.due_at).where(
            Reminder.kind == "staff_digest", Reminder.status == "pending")))  # fmt: skip


def test_the_digest_is_off_until_an_admin_turns_it_on(engine: Engine, clock: Clock) -> None:
    poster = FakePoster()
    engine.posters["slack"] = poster
    chat = admin(engine, clock)
    refused = chat.form({"digest": "on"})
    assert "needs a staff channel" in refused[-1].errors["digest"]
    chat.form({"staff_channel": STAFF, "timezone": "America/New_York"})
    assert pending(engine) == []  # a staff channel alone: still off
    chat._send(text="admin", admin_of=WS)
    chat.form({"staff_channel": STAFF, "timezone": "America/New_York", "digest": "on"})
    # Clock: Monday 23 November 10:00 UTC, 05:00 in New York: 09:00 there is 14:00 UTC today.
    assert pending(engine) == [datetime(2026, 11, 23, 14, 0, tzinfo=UTC)]
    seed(engine.db, finals=5, firsts=4, when=datetime(2026, 11, 18, 12, 0, tzinfo=UTC))
    clock.now = datetime(2026, 11, 23, 13, 59, tzinfo=UTC)
    assert chat.deliver() == [] and poster.posts == []
    clock.now = datetime(2026, 11, 23, 14, 1, tzinfo=UTC)
    note = " ".join(r.text for r in chat.deliver())
    assert "digest is in your staff channel" in note
    [(workspace, channel, text)] = poster.posts
    assert (workspace, channel) == (WS, STAFF)
    assert "final round: 5" in text and "first round: fewer than 5" in text
    assert "ZQX" not in text
    assert pending(engine) == [datetime(2026, 11, 30, 14, 0, tzinfo=UTC)]  # next Monday's
    chat._send(text="admin", admin_of=WS)
    chat.form({"staff_channel": STAFF, "timezone": "America/New_York", "digest": "off"})
    assert pending(engine) == []
    clock.now = datetime(2026, 11, 30, 14, 1, tzinfo=UTC)
    chat.deliver()
    assert len(poster.posts) == 1
