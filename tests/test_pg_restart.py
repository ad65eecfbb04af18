"""The database gone under load: turns answer with the error message while it is away, the
same engine carries on afterwards, and every turn answered normally is stored, none by halves.

A client process sends ``tick`` turns for many people in a loop; each committed turn writes one
row and counts it in the conversation, and its reply says the count ("Ticked N"). The outage is
made on the test's own throwaway database, never by stopping the shared server: connections to
it are refused (``ALTER DATABASE ... ALLOW_CONNECTIONS false``) and every backend serving it is
terminated, once (``refuse``: like an administrator's restart) or again and again for as long
as it is down (``kill``: like a crash, connections cut mid-transaction). The test then lets
connections in again and waits for normal answers. Every wait is for an event with a generous
deadline, so a hung turn fails the test instead of stalling it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool

from bot.config import load_settings
from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey
from bot.storage.db import Database
from bot.storage.models import Conversation, ThemeTag, User

from .conftest import ROOT, copy_system_files
from .test_postgres import create_database, drop_database

PG_URL = os.environ.get("REBOUND_TEST_POSTGRES_URL")
PEOPLE = 20
DEADLINE = 60.0


pytestmark = pytest.mark.skipif(not PG_URL, reason="REBOUND_TEST_POSTGRES_URL is not set")


class Outage:
    """Make one database unreachable and bring it back, through an admin connection elsewhere."""

    def __init__(self, name: str) -> None:
        assert PG_URL
        self.name = name
        self.admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def _sql(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(sql)

    def kill_backends(self) -> None:
        self._sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()"
        )

    def begin(self) -> None:
        self._sql(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self.kill_backends()

    def end(self) -> None:
        self._sql(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    def dispose(self) -> None:
        self.admin.dispose()


CLIENT = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.behaviour import demo
from bot.config import load_settings
from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey
from bot.storage.db import Database
engine = Engine(Database({url!r}, pool_size=3), load_settings(None, flows_dir={flows!r}), demo())
error = engine.messages["error"]
stop = Path({stop!r})
with open({out!r}, "a", encoding="utf-8") as out:
    while not stop.exists():
        for p in range({people}):
            replies = engine.handle(Inbound(user=UserKey("slack", "T1", f"p{{p}}"), text="again"))
            text = " | ".join(r.text for r in replies)
            if len(replies) == 1 and text.startswith("Ticked "):
                line = f"p{{p}}\\tok\\t{{text.removeprefix('Ticked ').rstrip('.')}}"
            elif len(replies) == 1 and text == error:
                line = f"p{{p}}\\terr\\t"
            else:
                line = f"p{{p}}\\tother\\t{{text!r}}"
            out.write(line + "\\n")
            out.flush()
print("stopped", flush=True)
"""


class Client:
    def __init__(self, url: str, flows: Path, tmp: Path) -> None:
        self.out, self.stop, self.log = tmp / "turns.txt", tmp / "stop", tmp / "client.log"
        code = CLIENT.format(root=str(ROOT), url=url, flows=str(flows), stop=str(self.stop),
                             out=str(self.out), people=PEOPLE)  # fmt: skip
        with self.log.open("w") as log:  # a file, not a pipe: the outage logs a lot
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=log, text=True
            )

    def lines(self) -> list[list[str]]:
        if not self.out.exists():
            return []
        return [ln.split("\t") for ln in self.out.read_text().splitlines(keepends=True)
                if ln.endswith("\n") and ln.strip()]  # fmt: skip

    def count(self, kind: str, since: int = 0) -> int:
        return sum(1 for fields in self.lines()[since:] if fields[1] == kind)

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        end = time.monotonic() + DEADLINE
        while not condition():
            if self.proc.poll() is not None:
                raise AssertionError(f"the client crashed: {self.log.read_text()[-3000:]}")
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}: a turn hung")
            time.sleep(0.05)

    def finish(self) -> None:
        self.stop.touch()
        try:
            out, _ = self.proc.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError("the client did not stop: a turn hung") from None
        assert self.proc.returncode == 0 and "stopped" in out, self.log.read_text()[-3000:]


@pytest.fixture
def fresh_db() -> Iterator[tuple[str, str]]:
    assert PG_URL
    url, admin, name = create_database(PG_URL)
    yield url, name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    drop_database(admin, name)


@pytest.mark.parametrize("mode", ["refuse", "kill"])
def test_outage_under_load_loses_no_answered_turn(
    fresh_db: tuple[str, str], tmp_path: Path, mode: str
) -> None:
    fresh_url, name = fresh_db
    outage = Outage(name)
    from tests.behaviour import demo

    flows = tmp_path / "flows"
    shutil.copytree(Path(__file__).parent / "fixtures" / "flows", flows)
    copy_system_files(flows)
    engine = Engine(Database(fresh_url), load_settings(None, flows_dir=str(flows)), demo())
    people = [UserKey("slack", "T1", f"p{p}") for p in range(PEOPLE)]
    for person in people:  # each person starts on the tick flow, one row already counted
        engine.resume(person)
        assert engine.handle(Inbound(user=person, text="tick"))[0].text == "Ticked 1."

    client = Client(fresh_url, flows, tmp_path)
    try:
        client.wait_for("turns before the restart", lambda: client.count("ok") >= 3 * PEOPLE)
        outage.begin()
        down = len(client.lines())

        def errors_seen() -> bool:
            if mode == "kill":
                outage.kill_backends()
            return client.count("err", down) >= PEOPLE

        client.wait_for("errors while down", errors_seen)
        outage.end()
        up = len(client.lines())
        client.wait_for("turns after the restart", lambda: client.count("ok", up) >= 3 * PEOPLE)
        client.finish()
    finally:
        if client.proc.poll() is None:
            client.proc.kill()
            client.proc.wait(30)
        outage.end()
        outage.dispose()

    turns = client.lines()
    assert [f for f in turns if f[1] == "other"] == [], "a turn answered with something else"
    answered: dict[str, list[int]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    for name, kind, value in turns:
        if kind == "ok":
            answered[name].append(int(value))
        else:
            errors[name] += 1
    # The same engine object in the test process also carries on after the restart.
    replies = engine.handle(Inbound(user=people[0], text="again"))
    assert replies[0].text.startswith("Ticked "), replies[0].text
    answered["p0"].append(int(replies[0].text.removeprefix("Ticked ").rstrip(".")))

    with engine.db.transaction() as s:
        rows = dict(
            s.execute(
                select(User.external_id, func.count(ThemeTag.id))
                .join(ThemeTag, ThemeTag.user_id == User.id)
                .group_by(User.external_id)
            ).all()
        )
        ticks = {
            name: int(conv.slots.get("ticks") or 0)
            for name, conv in s.execute(select(User.external_id, Conversation).join(Conversation))
        }
    engine.db.dispose()
    for person in people:
        name, said = person.user_id, answered[person.user_id]
        assert said == sorted(set(said)), f"{name}: a count was answered twice: {said}"
        # No half turn: every stored turn wrote its row and counted it.
        assert rows[name] == ticks[name], f"{name}: {rows[name]} rows but {ticks[name]} ticks"
        # Every turn answered normally is stored (the first one was the set-up's "tick").
        assert said[-1] <= ticks[name], f"{name}: answered {said[-1]}, stored {ticks[name]}"
        # Turns answered with the error message may or may not have committed (the
        # connection died around the commit), but nothing is stored that nobody sent.
        assert ticks[name] <= 1 + len(said) + errors[name], f"{name}: more stored than sent"
    assert sum(errors.values()) >= PEOPLE
