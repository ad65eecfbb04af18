"""Faults: a process killed (SIGKILL) inside a turn or between turns leaves no half turn."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.storage.db import Database
from bot.storage.models import Conversation, ThemeTag, User

from .conftest import ROOT, copy_system_files
from .test_engine import FIXTURE_FLOWS  # noqa: F401  (same fixture flows)

TICKER = """
import shutil, sys
from collections.abc import Iterator
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.behaviour import demo
from bot.config import load_settings
from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey
from bot.storage.db import Database
engine = Engine(Database({url!r}), load_settings(None, flows_dir={flows!r}), demo())
user = UserKey("terminal", "local", "ticker")
if sys.argv[1] == "first":
    engine.resume(user)
    engine.handle(Inbound(user=user, text="tick"))
print("ready", flush=True)
while True:
    engine.handle(Inbound(user=user, text="again"))
"""


def _state(db: Database) -> tuple[int, int]:
    with db.transaction() as s:
        uid = s.scalars(select(User.id).where(User.external_id == "ticker")).one()
        rows = s.scalar(select(func.count()).select_from(ThemeTag).where(ThemeTag.user_id == uid))
        conv = s.scalars(select(Conversation).where(Conversation.user_id == uid)).one()
        return int(rows or 0), int(conv.slots.get("ticks") or 0)


@pytest.mark.parametrize("run", range(2))
def test_sigkill_mid_turn_leaves_no_half_turn(any_db: Database, tmp_path: Path, run: int) -> None:
    db = any_db
    import shutil

    flows = tmp_path / "flows"
    shutil.copytree(Path(__file__).parent / "fixtures" / "flows", flows)
    copy_system_files(flows)
    url = str(db.url.render_as_string(hide_password=False))
    code = TICKER.format(root=str(ROOT), url=url, flows=str(flows))
    rng = random.Random(run)
    last_rows = 0
    for kill in range(4):
        args = [sys.executable, "-c", code, "first" if kill == 0 else "again"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        rows, ticks = _state(db)
        # Every committed turn wrote exactly one row and counted it once; nothing half-done.
        assert rows == ticks, f"rows {rows} != ticks {ticks}: a half turn was stored"
        assert rows >= last_rows
        last_rows = rows
    assert last_rows > 4, "the ticker never got going; the test proved nothing"
