"""Run every benchmark and print the results table (also saved to benchmarks/results.json).

    .venv/bin/python -m benchmarks.run            # everything (a few minutes)
    .venv/bin/python -m benchmarks.run --quick    # smaller sizes, for a smoke test

PostgreSQL figures need REBOUND_BENCH_POSTGRES_URL (default: the local test server).
Each figure is reported with its target and, where one exists, a baseline measured in the same
run, so the ratio stays meaningful on a busy or different machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _machine() -> str:
    cores = os.cpu_count()
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
            mem = f", {kb / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return f"{platform.machine()}, {cores} cores{mem}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from benchmarks import memory, startup, turns

    people = 20 if args.quick else 200
    rows: list[dict[str, Any]] = []
    results: dict[str, Any] = {"machine": _machine(), "when": time.strftime("%Y-%m-%d %H:%M")}

    sqlite = turns.bench_sqlite(people)
    results["turns_sqlite"] = sqlite
    base = sqlite["sqlite naive (baseline)"]
    for label, r in sqlite.items():
        if "naive" in label:
            continue
        rows += [
            ("turn p50, SQLite", "≤ 2 ms", f"{r['p50_ms']:.2f} ms", f"{base['p50_ms']:.2f} ms",
             base["p50_ms"] / r["p50_ms"]),
            ("turn p99, SQLite", "≤ 10 ms", f"{r['p99_ms']:.2f} ms", f"{base['p99_ms']:.2f} ms",
             base["p99_ms"] / r["p99_ms"]),
            ("turns/s, 1 process, SQLite", "≥ 500", f"{r['per_s']:.0f}", f"{base['per_s']:.0f}",
             r["per_s"] / base["per_s"]),
        ]  # fmt: skip
    pg_url = os.environ.get(
        "REBOUND_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    try:
        pg = turns.bench_postgres(pg_url, people)
    except Exception as exc:  # no server: say so in the table rather than fail
        pg = {}
        results["postgres_error"] = str(exc).splitlines()[0]
    results["turns_postgres"] = pg
    one = pg.get("postgres x1 process")
    for label, r in pg.items():
        if "p50_ms" not in r:
            continue
        two = label.endswith("x2 process")
        rows += [
            (f"turn p50, {label}", "≤ 2 ms", f"{r['p50_ms']:.2f} ms", "", None),
            (f"turn p99, {label}", "≤ 10 ms", f"{r['p99_ms']:.2f} ms", "", None),
            (f"turns/s, {label}", "≥ 1.6x of 1 process" if two else "≥ 500",
             f"{r['per_s']:.0f}", f"{one['per_s']:.0f} (x1)" if one else "",
             r["per_s"] / one["per_s"] if one else None),
        ]  # fmt: skip
    if one and "client_cpu_ms" in one:
        cpu = one["client_cpu_ms"] + one["server_cpu_ms"]
        cores = os.cpu_count() or 1
        rows.append(
            ("PostgreSQL turn, 1 process: CPU client + server, of wall", "",
             f"{one['client_cpu_ms']:.2f} + {one['server_cpu_ms']:.2f} ms",
             f"{one['wall_ms']:.2f} ms per turn",
             None)
        )  # fmt: skip
        rows.append(
            (f"PostgreSQL turns/s ceiling, {cores} cores all ours (CPU per turn)", "",
             f"{cores * 1000 / cpu:.0f}", f"{one['per_s']:.0f} (x1 measured)",
             cores * 1000 / cpu / one["per_s"])
        )  # fmt: skip
    trips, before = pg.get("round trips"), pg.get("round trips before (baseline)")
    if trips and before:
        for kind, name in (("press", "button"), ("text", "typed"), ("form", "form")):
            rows.append(
                (f"round trips per {name} turn, PostgreSQL (mean)",
                 "≤ 3" if kind == "press" else "", f"{trips[kind]:.2f}",
                 f"{before[kind]:.2f} (before: unfolded, ping per checkout)",
                 before[kind] / trips[kind] if trips[kind] else None)
            )  # fmt: skip

    idle = memory.per_idle_person(10_000 if args.quick else 100_000)
    active = memory.per_active_turn(50 if args.quick else 300)
    results["memory"] = {**idle, **active}
    rows += [
        ("RSS per idle person (100k stored)", "≤ 10 KB",
         f"{idle['bytes_per_idle_person']:.0f} B", f"{idle['rss_empty_kb'] / 1024:.0f} MB empty",
         None),
        ("peak allocation per active turn", "",
         f"{active['peak_bytes_per_active_turn_p50'] / 1024:.0f} KB", "", None),
    ]  # fmt: skip

    start = startup.startup(3 if args.quick else 7)
    results["startup"] = start
    rows.append(
        ("`rebound chat` first prompt", "≤ 1 s", f"{start['chat_first_prompt_s']:.2f} s",
         f"{start['bare_python_s']:.3f} s bare python",
         start["chat_first_prompt_s"] / start["bare_python_s"])
    )  # fmt: skip

    for extra in ("reminder_burst", "slack_load", "encoder", "typed_turns", "chart"):
        try:
            module = __import__(f"benchmarks.{extra}", fromlist=["bench"])
        except ImportError:
            continue
        extra_rows, extra_results = module.bench(quick=args.quick)
        rows += extra_rows
        results[extra] = extra_results

    results["rows"] = rows
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"machine: {results['machine']}  ({results['when']})\n")
    print("| figure | target | measured | baseline (same run) | ratio |")
    print("|---|---|---|---|---|")
    for figure, target, measured, baseline, ratio in rows:
        r = f"{ratio:.2f}x" if ratio else ""
        print(f"| {figure} | {target} | {measured} | {baseline} | {r} |")


if __name__ == "__main__":
    main()
