"""PostgreSQL restarted under load: turns answer with the error message while it is down, the
same engine carries on afterwards, and every turn answered normally is stored, none by halves.

A client process sends ``tick`` turns for many people in a loop; each committed turn writes one
row and counts it in the conversation, and its reply says the count ("Ticked N"). The test stops
the server (``fast``: an administrator's restart; ``immediate``: a crash, recovered at start),
waits for the client to see errors, starts it again and waits for normal answers. Every wait is
for an event with a generous deadline, so a hung turn fails the test instead of stalling it.

This is the only test that restarts PostgreSQL. It needs a local cluster that ``pg_ctlcluster``
controls and leaves it running whatever happens (``finally``).
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
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.config import load_settings
from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey
from bot.storage.db import Database
from bot.storage.models import Conversation, ThemeTag, User

from .conftest import FLOWS, ROOT
from .test_postgres import create_database, drop_database

PG_URL = os.environ.get("REBOUND_TEST_POSTGRES_URL")
PEOPLE = 20
DEADLINE = 60.0


def _local_cluster() -> tuple[str, str] | None:
    """(version, name) of the local cluster serving PG_URL, if pg_ctlcluster controls it."""
    if not PG_URL or shutil.which("pg_ctlcluster") is None or shutil.which("pg_lsclusters") is None:
        return None
    url = make_url(PG_URL)
    if (url.host or "localhost") not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        listing = subprocess.run(
            ["pg_lsclusters", "--no-header"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == str(url.port or 5432) and fields[3] == "online":
            return fields[0], fields[1]
    return None


CLUSTER = _local_cluster()
pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="REBOUND_TEST_POSTGRES_URL is not set"),
    pytest.mark.skipif(
        bool(PG_URL) and CLUSTER is None,
        reason="no online local cluster on that port that pg_ctlcluster controls",
    ),
]


def ctl(action: str, *extra: str) -> None:
    assert CLUSTER is not None
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *CLUSTER, action, *extra],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def ensure_running() -> None:
    """Start the cluster if it is down and wait until it takes connections."""
    assert PG_URL
    probe = create_engine(PG_URL, poolclass=NullPool)
    try:
        end = time.monotonic() + DEADLINE
        while True:
            try:
                with probe.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                return
            except Exception:
                if time.monotonic() > end:
                    raise
                subprocess.run(
                    ["pg_ctlcluster", "--skip-systemctl-redirect", *CLUSTER, "start"],  # type: ignore[misc]
                    capture_output=True, timeout=120,
                )  # fmt: skip
                time.sleep(0.2)
    finally:
        probe.dispose()


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
def fresh_url() -> Iterator[str]:
    assert PG_URL
    url, admin, name = create_database(PG_URL)
    admin.dispose()  # its pooled connection would not survive the restart
    yield url
    ensure_running()
    drop_database(admin, name)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_restart_under_load_loses_no_answered_turn(
    fresh_url: str, tmp_path: Path, mode: str
) -> None:
    from tests.behaviour import demo

    flows = tmp_path / "flows"
    shutil.copytree(Path(__file__).parent / "fixtures" / "flows", flows)
    shutil.copy(FLOWS / "_messages.yaml", flows / "_messages.yaml")
    engine = Engine(Database(fresh_url), load_settings(None, flows_dir=str(flows)), demo())
    people = [UserKey("slack", "T1", f"p{p}") for p in range(PEOPLE)]
    for person in people:  # each person starts on the tick flow, one row already counted
        engine.resume(person)
        assert engine.handle(Inbound(user=person, text="tick"))[0].text == "Ticked 1."

    client = Client(fresh_url, flows, tmp_path)
    try:
        client.wait_for("turns before the restart", lambda: client.count("ok") >= 3 * PEOPLE)
        ctl("stop", "-m", mode)
        down = len(client.lines())
        client.wait_for("errors while down", lambda: client.count("err", down) >= PEOPLE)
        ensure_running()
        up = len(client.lines())
        client.wait_for("turns after the restart", lambda: client.count("ok", up) >= 3 * PEOPLE)
        client.finish()
    finally:
        if client.proc.poll() is None:
            client.proc.kill()
            client.proc.wait(30)
        ensure_running()

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
