"""The progress chart at 1, 3 and 10 rejections: render each PNG and time the ``progress`` turn.

    .venv/bin/python -m benchmarks.chart                  # PNGs in a temporary folder
    .venv/bin/python -m benchmarks.chart --out /some/dir  # or here (files 0600)

Each person is seeded by ``tests/progress_seed.py`` (the same people the chart tests use); the
chart is drawn by the real ``progress`` flow through the engine on SQLite, so the time is what a
person waits for: the turn, its commit and the drawing after it. The first turn pays
matplotlib's import (~0.3 s) and is reported apart; the figures are the medians of the rest,
wall-clock and the process's CPU time (steadier when other work shares the cores).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SIZES = (1, 3, 10)


def bench_chart(out: Path | None = None, runs: int = 15) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from bot.app import behaviour
    from bot.config import load_settings
    from bot.conversation.engine import Engine
    from bot.conversation.messages import Inbound
    from bot.storage.db import open_database
    from tests.progress_seed import onboard, seed_history

    work = Path(tempfile.mkdtemp())
    db = open_database(f"sqlite:///{work / 'chart.db'}")
    settings = load_settings(None, data_dir=str(work / "data"), flows_dir=str(ROOT / "flows"))
    engine = Engine(db, settings, behaviour(), clock=lambda: NOW)
    results: dict[str, Any] = {}
    for size in SIZES:
        seeded = seed_history(db, f"chart{size}", size, NOW)
        onboard(engine, seeded.user)
        times, cpu, path = [], [], None
        for n in range(runs + 1):
            began, began_cpu = time.perf_counter(), time.process_time()
            replies = engine.handle(
                Inbound(user=seeded.user, text="progress", event_id=f"c{size}-{n}")
            )
            elapsed = (time.perf_counter() - began) * 1000
            if n == 0:
                results[f"first turn ms, {size} rejections"] = elapsed
            else:
                times.append(elapsed)
                cpu.append((time.process_time() - began_cpu) * 1000)
            path = next(r.image.path for r in replies if r.image)
        results[f"turn ms, {size} rejections"] = statistics.median(times)
        results[f"turn CPU ms, {size} rejections"] = statistics.median(cpu)
        if out is not None and path is not None:
            out.mkdir(parents=True, exist_ok=True)
            target = out / f"chart-{size}.png"
            target.unlink(missing_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as dst, open(path, "rb") as src:
                shutil.copyfileobj(src, dst)
            results[f"png, {size} rejections"] = f"{target} ({target.stat().st_size} bytes)"
    db.dispose()
    shutil.rmtree(work, ignore_errors=True)
    return results


def bench(quick: bool = False) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """Rows for ``benchmarks.run``: the progress turn, chart included, at each size."""
    results = bench_chart(None, 5 if quick else 15)
    rows = [
        (f"`progress` turn with its chart, {size} rejection{'s' * (size > 1)}", "",
         f"{results[f'turn ms, {size} rejections']:.0f} ms",
         f"{results[f'turn CPU ms, {size} rejections']:.0f} ms CPU", None)
        for size in SIZES
    ]  # fmt: skip
    return rows, results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    for key, value in bench_chart(args.out, args.runs).items():
        print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
