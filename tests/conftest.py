"""Shared fixtures: a migrated SQLite database per test, a controllable clock, an engine driver."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil import parser as dateparser

from bot.config import Settings, load_settings
from bot.conversation.engine import Engine
from bot.conversation.interpret import shared_encoder
from bot.conversation.messages import Inbound, Reply, UserKey
from bot.storage.db import Database, open_database
from tests.behaviour import production

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "flows"


def copy_system_files(folder: Path) -> None:
    """Copy the files every flows folder needs (``_messages.yaml``, the data files) into one."""
    for path in FLOWS.glob("_*.yaml"):
        shutil.copy(path, folder / path.name)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that tries to reach a host other than this machine."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (
            host.startswith("127.") or host in ("localhost", "::1") or host.startswith("/")
        ):
            raise RuntimeError(f"test tried to reach {host!r}: only loopback is allowed")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once per test session; each test gets a copy (migrating costs ~0.2 s)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = open_database(f"sqlite:///{path}")
    db.dispose()
    return path


@pytest.fixture
def db(template_db: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "rebound.db"
    shutil.copy(template_db, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


class Clock:
    """A clock tests move by hand. ``set`` takes local wall time in the settings' zone."""

    def __init__(self, start: datetime, zone: str = "UTC") -> None:
        self.now = start
        self.zone = ZoneInfo(zone)

    def __call__(self) -> datetime:
        return self.now

    def set(self, text: str) -> None:
        parsed = dateparser.parse(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=self.zone)
        self.now = parsed.astimezone(UTC)

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest, db: Database) -> Iterator[Database]:
    """The same test on the zero-setup default and on the multi-process database (a throwaway
    PostgreSQL database; skipped when ``REBOUND_TEST_POSTGRES_URL`` is not set)."""
    if request.param == "sqlite":
        yield db
        return
    from .test_postgres import PG_URL, create_database, drop_database

    if not PG_URL:
        pytest.skip("REBOUND_TEST_POSTGRES_URL is not set")
    url, admin, name = create_database(PG_URL)
    database = Database(url)
    yield database
    database.dispose()
    drop_database(admin, name)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(None, data_dir=str(tmp_path / "out"), flows_dir=str(FLOWS))


@pytest.fixture
def engine(db: Database, settings: Settings, clock: Clock) -> Engine:
    """The engine as people meet it: with the real sentence encoder (shared per process)."""
    return Engine(db, settings, production(), clock=clock, encoder=shared_encoder())


class EngineDriver:
    """Talks to the engine directly, as the transcript runner's reference driver."""

    def __init__(self, engine: Engine, user: UserKey, clock: Clock | None = None) -> None:
        self.engine = engine
        self.user = user
        self.clock = clock
        self.last: list[Reply] = []
        self._events = 0

    def _send(self, **kwargs: object) -> list[Reply]:
        self._events += 1
        replies = self.engine.handle(
            Inbound(user=self.user, event_id=f"{self.user.user_id}-{self._events}", **kwargs)  # type: ignore[arg-type]
        )
        if replies:
            self.last = replies
        return replies

    def text(self, text: str) -> list[Reply]:
        return self._send(text=text)

    def press(self, label: str) -> list[Reply]:
        for reply in reversed(self.last):
            for choice in reply.choices:
                if choice.label.lower() == label.lower() or choice.id == label:
                    return self._send(choice=choice.id, token=reply.token)
        raise AssertionError(f"no button {label!r} on the last message")

    def form(self, values: dict[str, str]) -> list[Reply]:
        token = next((r.token for r in reversed(self.last) if r.form), None)
        return self._send(form=values, token=token)

    def set_now(self, text: str) -> None:
        assert self.clock is not None
        self.clock.set(text)

    def deliver(self) -> list[Reply]:
        """``@deliver``: one scheduler pass now; what it sent this person counts as the reply."""
        from bot.reminders.scheduler import ReminderScheduler

        sent: list[Reply] = []
        me = self.user

        class Inbox:
            platform = me.platform

            def deliver(self, to: Any, replies: list[Reply]) -> None:
                if to.user == me:
                    sent.extend(replies)

        ReminderScheduler(self.engine, {me.platform: Inbox()}).run_pending()
        if sent:
            self.last = sent
        return sent

    def texts(self) -> str:
        return " ".join(r.text for r in self.last)


@pytest.fixture
def slack(engine: Engine) -> Iterator[Any]:
    """The real Slack app over loopback HTTP against the fake Slack (a ``SlackHarness``)."""
    from .fakes.slack_driver import SlackHarness

    harness = SlackHarness(engine)
    yield harness
    harness.close()


@pytest.fixture
def alice() -> UserKey:
    return UserKey("terminal", "local", "alice")


@pytest.fixture
def chat(engine: Engine, alice: UserKey, clock: Clock) -> EngineDriver:
    return EngineDriver(engine, alice, clock)


@pytest.fixture
def slack_loop_fake() -> Iterator[tuple[object, object]]:
    """The fake Slack Web API on a background event loop: ``(loop, fake)``."""
    from .fakes.slack_api import FakeSlack
    from .fakes.slack_driver import LoopThread

    loop = LoopThread()
    fake = FakeSlack()
    loop.run(fake.start())
    yield loop, fake
    loop.run(fake.stop())
    loop.close()
