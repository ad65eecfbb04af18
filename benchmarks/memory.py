"""Memory: RSS per idle person with 100,000 people stored, and the cost of an active turn.

Nothing personal is kept in memory between turns, so storing more people should cost the
process (almost) nothing. Measured by running the same work in two fresh processes, one on an
empty database and one on a database with 100,000 people, and comparing their peak RSS.
"""

from __future__ import annotations

import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

from bot.storage.db import open_database

ROOT = Path(__file__).resolve().parent.parent


def populate(url_path: Path, people: int) -> None:
    open_database(f"sqlite:///{url_path}").dispose()
    conn = sqlite3.connect(url_path)
    conn.executemany(
        "INSERT INTO users (id, platform, workspace, external_id, quiet_start, quiet_end,"
        " reminders_on, weekly_summary, created_at) VALUES (?, 'bench', 'w', ?, '21:00',"
        " '08:00', 1, 0, '2026-11-23 10:00:00')",
        ((i + 1, f"u{i}") for i in range(people)),
    )
    conn.executemany(
        "INSERT INTO conversations (user_id, flow, state, slots, history, step, updated_at,"
        " version) VALUES (?, 'home', 'menu', '{}', '[\"menu\"]', 3, '2026-11-23 10:00:00', 1)",
        ((i + 1,) for i in range(people)),
    )
    conn.commit()
    conn.close()


def _child(db_path: str, people: int, sample: int) -> None:
    """Run in a fresh process: build the engine, then one turn for ``sample`` random people."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.turns import make_engine
    from bot.conversation.messages import Inbound, UserKey

    engine = make_engine(f"sqlite:///{db_path}")
    rng = random.Random(7)
    for _ in range(sample):
        who = f"u{rng.randrange(max(people, 1))}"
        engine.handle(Inbound(user=UserKey("bench", "w", who), text="help"))
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rss_kb": rss_kb}))


def measure_rss(people: int, sample: int = 2000) -> int:
    folder = Path(tempfile.mkdtemp())
    db = folder / "m.db"
    populate(db, people)
    code = f"from benchmarks.memory import _child; _child({str(db)!r}, {people}, {sample})"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return int(json.loads(out.stdout.strip().splitlines()[-1])["rss_kb"])


def per_idle_person(people: int = 100_000) -> dict[str, float]:
    empty = measure_rss(0)
    full = measure_rss(people)
    return {
        "rss_empty_kb": empty,
        "rss_100k_kb": full,
        "bytes_per_idle_person": max(0, full - empty) * 1024 / people,
    }


def per_active_turn(turns: int = 300) -> dict[str, float]:
    """Peak Python allocation while one turn is in flight (tracemalloc), averaged."""
    from benchmarks.turns import make_engine
    from bot.conversation.messages import Inbound, UserKey

    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'a.db'}"
    open_database(url).dispose()
    engine = make_engine(url)
    peaks = []
    for i in range(turns):
        user = UserKey("bench", "w", f"a{i}")
        tracemalloc.start()
        engine.handle(Inbound(user=user, text="hi"))
        engine.handle(Inbound(user=user, text="rejected"))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peaks.append(peak)
    peaks.sort()
    return {"peak_bytes_per_active_turn_p50": peaks[len(peaks) // 2]}
