"""Turns per second for typed sentences against button presses, and accuracy per layer.

    .venv/bin/python -m benchmarks.typed_turns [--quick]

The baseline is the same engine on the same SQLite file in the same run: button presses (no
model work at all) against typed sentences that go through the encoder and the classifiers.
Accuracy per layer: words only (no encoder: exact words, synonyms and command phrases) against
encoder + words, on the labelled set's measure split.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import understanding as u
from bot.config import load_settings
from bot.conversation.engine import Engine
from bot.conversation.interpret import shared_encoder
from bot.conversation.messages import Inbound, UserKey
from bot.storage.db import open_database

SENTENCES = [
    "honestly gutted about it",
    "so annoyed, I did everything right",
    "pretty anxious about what comes next",
    "I feel kind of numb tbh",
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_turns(people: int) -> dict[str, dict[str, float]]:
    from bot.coaching import behaviour

    folder = Path(tempfile.mkdtemp())
    db = open_database(f"sqlite:///{folder / 'bench.db'}")
    settings = load_settings(None, data_dir=str(folder / "out"))
    clock = lambda: datetime(2026, 12, 1, 10, tzinfo=UTC)  # noqa: E731
    engine = Engine(db, settings, behaviour(), clock=clock, encoder=shared_encoder())
    out: dict[str, dict[str, float]] = {}
    for kind in ("button", "typed"):
        times: list[float] = []
        start = time.perf_counter()
        for p in range(people):
            user = UserKey("terminal", "bench", f"{kind}{p}")
            engine.handle(Inbound(user=user, text="hi"))
            engine.handle(Inbound(user=user, text="1"))
            engine.handle(Inbound(user=user, text="rejected"))
            replies = engine.handle(Inbound(user=user, form={"company": "A", "role": "B"},
                                            token=_token(engine, user)))  # fmt: skip
            token = replies[-1].token
            t0 = time.perf_counter()
            if kind == "button":
                engine.handle(Inbound(user=user, choice="numb", token=token))
            else:
                engine.handle(Inbound(user=user, text=SENTENCES[p % len(SENTENCES)] + f" {p}"))
            times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        out[kind] = {
            "p50_ms": _percentile(times, 0.5) * 1000,
            "p99_ms": _percentile(times, 0.99) * 1000,
            "per_s": len(times) / sum(times),
            "elapsed_s": elapsed,
        }
    db.dispose()
    return out


def _token(engine: Engine, user: UserKey) -> str | None:
    return engine.resume(user)[-1].token


def accuracy() -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name, encoder in (("words only", None), ("encoder + words", shared_encoder())):
        interp, flows = u.build(encoder)
        i = u.intents(interp, flows, "measure")
        c = u.choices(interp, flows, "measure")
        cr = u.crisis(interp, "measure")
        out[name] = {
            "intent top-1": i.rate(),
            "intent acted and wrong": i.rate(i.acted_wrong),
            "choice right option": c.rate(),
            "must-catch crisis": cr["must_catch"].rate(),
            "wider crisis caught": cr["wider"].rate(),
            "hard negatives given the crisis reply": cr["hard_negative"].outcomes["crisis"]
            / max(1, cr["hard_negative"].n),
            "hard negatives given the gentle check": cr["hard_negative"].outcomes["check"]
            / max(1, cr["hard_negative"].n),
        }
    return out


def bench(quick: bool = False) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    turns = bench_turns(20 if quick else 150)
    acc = accuracy()
    b, t = turns["button"], turns["typed"]
    rows: list[tuple[Any, ...]] = [
        ("typed-answer turn p50 (encoder on)", "", f"{t['p50_ms']:.1f} ms",
         f"{b['p50_ms']:.1f} ms (button press)", b["p50_ms"] / t["p50_ms"]),
        ("typed-answer turn p99 (encoder on)", "", f"{t['p99_ms']:.1f} ms",
         f"{b['p99_ms']:.1f} ms (button press)", b["p99_ms"] / t["p99_ms"]),
        ("typed-answer turns/s", "", f"{t['per_s']:.0f}", f"{b['per_s']:.0f} (button press)",
         t["per_s"] / b["per_s"]),
    ]  # fmt: skip
    words, full = acc["words only"], acc["encoder + words"]
    targets = {
        "intent top-1": "≥ 90%", "intent acted and wrong": "≤ 2%",
        "choice right option": "≥ 85%", "must-catch crisis": "100%",
        "wider crisis caught": "≥ 95%", "hard negatives given the crisis reply": "≤ 3%",
        "hard negatives given the gentle check": "",
    }  # fmt: skip
    for key, target in targets.items():
        rows.append((f"{key} (measure split)", target, f"{full[key]:.1%}",
                     f"{words[key]:.1%} (words only)", None))  # fmt: skip
    return rows, {"turns": turns, "accuracy": acc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows, _ = bench(args.quick)
    for row in rows:
        ratio = "" if row[4] is None else f"{row[4]:.2f}x"
        print(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]} | {ratio} |")


if __name__ == "__main__":
    main()
