"""Crisis screening on the labelled set (tests/data/safety): recall, false alarms and cost.

Run: ``python -m benchmarks.safety [--split tune|measure] [--verbose] [--timing]``.
Every number comes from :meth:`bot.conversation.interpret.Interpreter.screen`, the call the
turn makes on every message and form field, so what is measured is what people get.
``tests/test_safety_screening.py`` asserts the floors on the measure split with these functions.

``--timing`` prints the screen's cost per message beside the encoder pass the turn makes anyway
(the whole message is encoded for understanding; the screen reuses that vector for a one-sentence
message): p50 and p95 over the labelled messages, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.understanding import FLOWS
from bot.conversation.flow_loader import load_flows
from bot.conversation.interpret import (
    Interpreter,
    Reading,
    load_safety_data,
    load_understanding_data,
)
from bot.understanding.encoder import Encoder

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "safety"


def load(kind: str, split: str) -> dict[str, Any]:
    """``kind`` crisis or negatives; ``split`` tune (every tune file) or measure."""
    items: list[dict[str, Any]] = []
    must: list[str] = []
    for path in sorted(DATA.glob(f"{kind}_{split}*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        items += raw.get("items") or []
        must += [str(t) for t in raw.get("must_catch") or []]
    return {"items": items, "must_catch": must}


def build(encoder: Encoder | None) -> Interpreter:
    flows, problems = load_flows(FLOWS)
    assert not problems, problems
    return Interpreter(
        flows, load_understanding_data(FLOWS), encoder, safety=load_safety_data(FLOWS)
    )


@dataclass
class Outcomes:
    """How many messages got the full reply (crisis), the check, or nothing."""

    counts: Counter[str] = field(default_factory=Counter)
    by_category: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    misses: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def rate(self, *levels: str) -> float:
        return sum(self.counts[x] for x in levels) / self.n if self.n else 0.0


def screen_all(interp: Interpreter, texts: list[tuple[str, str]], want: str) -> Outcomes:
    """``texts``: (category, text). ``want``: crisis (misses are below the full reply) or
    none (misses are anything above nothing)."""
    out = Outcomes()
    for category, text in texts:
        level = interp.screen(text).level
        out.counts[level] += 1
        out.by_category[category][level] += 1
        if (want == "crisis" and level != "crisis") or (want == "none" and level != "none"):
            out.misses.append(f"{category} <- {level} :: {text[:160]}")
    return out


def measure(interp: Interpreter, split: str) -> dict[str, Outcomes]:
    crisis, negatives = load("crisis", split), load("negatives", split)
    return {
        "crisis": screen_all(
            interp, [(i["category"], i["text"]) for i in crisis["items"]], "crisis"
        ),
        "must_catch": screen_all(interp, [("must", t) for t in crisis["must_catch"]], "crisis"),
        "negatives": screen_all(
            interp, [(i["category"], i["text"]) for i in negatives["items"]], "none"
        ),
    }


def timing(interp: Interpreter, texts: list[str]) -> tuple[float, float]:
    """The screen's own cost per message (ms, p50 and p95), the message's encoding excluded:
    the turn encodes a typed message for understanding anyway, and the screen reuses it."""
    costs = []
    for text in texts:
        reading = Reading(text, interp.encoder)
        _ = reading.vector  # the pass the turn makes anyway
        start = time.perf_counter()
        interp.screener.screen(text, lambda r=reading: r.vector)
        costs.append((time.perf_counter() - start) * 1000)
    costs.sort()
    return statistics.median(costs), costs[int(len(costs) * 0.95)]


def report(encoder: Encoder | None, split: str, verbose: bool, with_timing: bool) -> None:
    interp = build(encoder)
    results = measure(interp, split)
    c, m, n = results["crisis"], results["must_catch"], results["negatives"]
    print(f"## crisis screening, split={split}, encoder={'yes' if encoder else 'no'}")
    print(f"must-catch   full reply {m.rate('crisis'):.1%} of {m.n}")
    print(f"crisis       full reply {c.rate('crisis'):.1%}, full or check "
          f"{c.rate('crisis', 'check'):.1%} of {c.n}")  # fmt: skip
    for category, counts in sorted(c.by_category.items()):
        total = sum(counts.values())
        print(f"  {category:20} full {counts['crisis'] / total:.0%}  "
              f"check {counts['check'] / total:.0%}  of {total}")  # fmt: skip
    print(f"negatives    full reply {n.rate('crisis'):.1%}, check {n.rate('check'):.1%} of {n.n}")
    for category, counts in sorted(n.by_category.items()):
        total = sum(counts.values())
        print(f"  {category:20} full {counts['crisis'] / total:.0%}  "
              f"check {counts['check'] / total:.0%}  of {total}")  # fmt: skip
    if verbose:
        print("\n".join("    " + x for x in m.misses + c.misses + n.misses))
    if with_timing:
        texts = [i["text"] for i in load("crisis", split)["items"]]
        texts += [i["text"] for i in load("negatives", split)["items"]]
        p50, p95 = timing(interp, texts)
        print(f"screen cost beside the encoder pass: p50 {p50:.2f} ms, p95 {p95:.2f} ms "
              f"over {len(texts)} messages")  # fmt: skip


EXAMPLES = FLOWS / "_safety_examples.yaml"


def write_examples() -> tuple[int, int]:
    """Add every tune item to the classifier's examples (flows/_safety_examples.yaml), keeping
    what is there; a measure text is never added. Returns (concern, ordinary) counts."""
    raw = yaml.safe_load(EXAMPLES.read_text(encoding="utf-8"))
    head = "".join(line for line in EXAMPLES.open(encoding="utf-8") if line.startswith("#"))
    measure = {
        _key(i["text"]) for k in ("crisis", "negatives") for i in load(k, "measure")["items"]
    }
    measure |= {_key(t) for t in load("crisis", "measure")["must_catch"]}
    crisis, negatives = load("crisis", "tune"), load("negatives", "tune")
    concern = [*raw["concern"], *(i["text"] for i in crisis["items"]), *crisis["must_catch"]]
    ordinary = [*raw["ordinary"], *(i["text"] for i in negatives["items"])]
    out: dict[str, list[str]] = {"concern": [], "ordinary": []}
    seen: set[str] = set()
    for name, texts in (("concern", concern), ("ordinary", ordinary)):
        for text in texts:
            text = " ".join(str(text).split())
            if _key(text) in seen or _key(text) in measure:
                continue
            seen.add(_key(text))
            out[name].append(text)
    body = yaml.safe_dump(out, allow_unicode=True, width=100, sort_keys=False)
    EXAMPLES.write_text(head + body, encoding="utf-8")
    return len(out["concern"]), len(out["ordinary"])


def _key(text: str) -> str:
    return " ".join(str(text).lower().split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", default="measure", choices=["tune", "measure"])
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--no-encoder", action="store_true")
    parser.add_argument(
        "--write-examples", action="store_true", help="add the tune items to the examples file"
    )
    args = parser.parse_args()
    if args.write_examples:
        concern, ordinary = write_examples()
        print(f"examples: {concern} concern, {ordinary} ordinary")
        return
    from bot.conversation.interpret import shared_encoder

    encoder = None if args.no_encoder else shared_encoder()
    report(encoder, args.split, args.verbose, args.timing)


if __name__ == "__main__":
    main()
