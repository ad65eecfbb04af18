"""Persisted turns through the engine: a realistic mix of the rejection journey.

Each simulated person replays ``tests/transcripts/journey_rejection.txt`` (log an interview,
debrief, hear back, the four rejection steps, progress): about 70 turns each, every one a full
load-transition-actions-render-commit. The baseline in the same run is the naive shape: a new
``transitions`` machine built for every turn, on the same data.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from transitions import Machine

from bot.app import behaviour
from bot.config import load_settings
from bot.conversation.engine import Engine
from bot.conversation.machine import Attached, FlowMachine
from bot.conversation.messages import Inbound, UserKey
from bot.storage.db import Database, open_database

ROOT = Path(__file__).resolve().parent.parent
JOURNEY = ROOT / "tests" / "transcripts" / "journey_rejection.txt"


class NaiveFlowMachine(FlowMachine):
    """The shape we avoid: build a fresh machine for every single turn."""

    def fire(self, ctx: Any, state: str, trigger: str, **kwargs: Any) -> str | None:
        fresh = FlowMachine(self.flow, self.registry)
        model = Attached(ctx)
        machine: Machine = fresh.machine
        machine.add_model(model, initial=state)
        moved = model.trigger(trigger, **kwargs)  # type: ignore[attr-defined]
        return model.state if moved else None


def script() -> list[tuple[str, str]]:
    """The journey as (kind, value) steps, without expectations."""
    import sys

    sys.path.insert(0, str(ROOT))
    from tests.transcript import parse

    steps = [(s.kind, s.value) for s in parse(JOURNEY) if s.kind in ("text", "press", "form")]
    # The chart is drawn after the commit and measured on its own (see run.py).
    return [s for s in steps if s != ("text", "progress")]


class Player:
    """Plays the journey for one person, choosing buttons by label like a person would."""

    def __init__(self, engine: Engine, user: UserKey, trips: Any = None) -> None:
        self.engine = engine
        self.user = user
        self.last: list[Any] = []
        self.n = 0
        self.trips = trips  # a RoundTrips counter, or None
        self.round_trips: dict[str, list[int]] = {}

    def step(self, kind: str, value: str) -> float:
        before = self.trips.count if self.trips is not None else 0
        took = self._step(kind, value)
        if self.trips is not None:
            self.round_trips.setdefault(kind, []).append(self.trips.count - before)
        return took

    def _step(self, kind: str, value: str) -> float:
        from tests.transcript import parse_form

        self.n += 1
        token = next((r.token for r in reversed(self.last) if r.token), None)
        event = f"{self.user.user_id}-{self.n}"
        if kind == "press":
            choice = next(c.id for r in reversed(self.last) for c in r.choices if c.label == value)
            inbound = Inbound(user=self.user, choice=choice, token=token, event_id=event)
        elif kind == "form":
            inbound = Inbound(user=self.user, form=parse_form(value), token=token, event_id=event)
        else:
            inbound = Inbound(user=self.user, text=value, event_id=event)
        start = time.perf_counter()
        self.last = self.engine.handle(inbound)
        return time.perf_counter() - start


def make_engine(url: str, naive: bool = False, data_dir: str | None = None) -> Engine:
    settings = load_settings(None, data_dir=data_dir or tempfile.mkdtemp())
    clock = lambda: datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # noqa: E731
    engine = Engine(Database(url), settings, behaviour(), clock=clock)
    if naive:
        engine.machines = {n: NaiveFlowMachine(f, engine.registry) for n, f in engine.flows.items()}
    return engine


def run_people(
    url: str, people: range, naive: bool, prefix: str, cpu: dict[str, float] | None = None
) -> list[float]:
    """Play the journeys; ``cpu`` (PostgreSQL) gets this process's CPU seconds, its server
    backend's, and the wall time, for the turns only (not start-up)."""
    engine = make_engine(url, naive)
    steps = script()
    timings: list[float] = []
    players = [Player(engine, UserKey("bench", "w", f"{prefix}{i}")) for i in people]
    backend = _backend_pid(engine) if cpu is not None else None
    began, client, server = time.perf_counter(), time.process_time(), _cpu_of(backend)
    # Interleave people, as real traffic does, rather than one whole journey at a time.
    for kind, value in steps:
        for player in players:
            timings.append(player.step(kind, value))
    if cpu is not None:
        cpu["wall_s"] = time.perf_counter() - began
        cpu["client_cpu_s"] = time.process_time() - client
        cpu["server_cpu_s"] = _cpu_of(backend) - server
    engine.db.dispose()
    return timings


def _backend_pid(engine: Engine) -> int | None:
    """The server process behind this (single-threaded) benchmark's one pooled connection."""
    if engine.db.is_sqlite:
        return None
    from sqlalchemy import text

    with engine.db.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _cpu_of(pid: int | None) -> float:
    """User + system CPU seconds of a local process (the PostgreSQL backend), from /proc."""
    import os

    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def round_trips(url: str, people: int, prefix: str, folded: bool = True) -> dict[str, float]:
    """Mean round trips per turn by kind (press, text, form) for ``people`` journeys.

    ``folded`` false is the shape before issue 17, for the baseline in the same run: the lock,
    the conversation and the event insert as separate statements, BEGIN on its own, and a
    ping at every checkout (``pool_pre_ping``)."""
    from benchmarks.roundtrips import RoundTrips
    from bot.storage import db as db_module

    engine = make_engine(url)
    if not folded:
        engine._fold = False
        saved = db_module.PING_IDLE_SECONDS
        db_module.PING_IDLE_SECONDS = -1.0  # every checkout pings, as pool_pre_ping did
    try:
        trips = RoundTrips(engine.db)
        players = [Player(engine, UserKey("bench", "w", f"{prefix}{i}"), trips)
                   for i in range(people)]  # fmt: skip
        for kind, value in script():
            for player in players:
                player.step(kind, value)
    finally:
        if not folded:
            db_module.PING_IDLE_SECONDS = saved
        engine.db.dispose()
    out: dict[str, float] = {}
    for kind in ("press", "text", "form"):
        counts = [c for p in players for c in p.round_trips.get(kind, [])]
        out[kind] = statistics.mean(counts) if counts else 0.0
        out[f"{kind}_median"] = statistics.median(counts) if counts else 0.0
    return out


def _worker(url: str, start: int, count: int, prefix: str, out: Any, go: Any) -> None:
    engine = make_engine(url)  # warm: imports, flows and machines loaded before the clock starts
    engine.db.dispose()
    out.put("ready")
    go.wait()
    cpu: dict[str, float] = {}
    timings = run_people(url, range(start, start + count), False, prefix, cpu)
    out.put((timings, cpu))


def run_processes(
    url: str, processes: int, people: int, prefix: str, cpu: list[dict[str, float]] | None = None
) -> tuple[list[float], float]:
    """``processes`` spawned processes play ``people`` journeys between them; the wall time is
    from the moment all are started and warm (start-up is not throughput)."""
    ctx = mp.get_context("spawn")
    out, go = ctx.Queue(), ctx.Event()
    per = people // processes
    procs = [
        ctx.Process(target=_worker, args=(url, i * per, per, f"{prefix}{i}-", out, go))
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        assert out.get() == "ready"
    began = time.perf_counter()
    go.set()
    timings: list[float] = []
    for _ in procs:
        found, used = out.get()
        timings.extend(found)
        if cpu is not None:
            cpu.append(used)
    wall = time.perf_counter() - began
    for proc in procs:
        proc.join()
    return timings, wall


def summary(timings: list[float], wall: float) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "turns": len(ordered),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "per_s": len(ordered) / wall,
    }


def bench_sqlite(people: int) -> dict[str, dict[str, float]]:
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'bench.db'}"
    open_database(url).dispose()
    results = {}
    for label, naive in (("sqlite", False), ("sqlite naive (baseline)", True)):
        began = time.perf_counter()
        timings = run_people(url, range(people), naive, label[:6] + ("n" if naive else ""))
        results[label] = summary(timings, time.perf_counter() - began)
    return results


def bench_postgres(url: str, people: int) -> dict[str, dict[str, float]]:
    from tests.test_postgres import create_database, drop_database

    results: dict[str, dict[str, float]] = {}
    db_url, admin, name = create_database(url)
    try:
        for processes in (1, 2):
            used: list[dict[str, float]] = []
            timings, wall = run_processes(db_url, processes, people, f"pg{processes}-", used)
            found = summary(timings, wall)
            # Where a turn's time goes: this process's CPU, its backend's CPU, and the rest
            # (waiting: loopback, WAL flush at COMMIT, the scheduler giving the core to others).
            turns = found["turns"]
            found["client_cpu_ms"] = sum(u["client_cpu_s"] for u in used) / turns * 1000
            found["server_cpu_ms"] = sum(u["server_cpu_s"] for u in used) / turns * 1000
            found["wall_ms"] = sum(u["wall_s"] for u in used) / turns * 1000
            results[f"postgres x{processes} process"] = found
        sample = max(2, people // 10)
        results["round trips"] = round_trips(db_url, sample, "rt-")
        results["round trips before (baseline)"] = round_trips(db_url, sample, "rt0-", False)
    finally:
        drop_database(admin, name)
    return results
