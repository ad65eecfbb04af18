"""Dates: time per call of bot.understanding.dates on the labelled date set, and accuracy.

Run alone with ``python -m benchmarks.dates``. The first call pays for importing dateparser
(only text the normaliser cannot read reaches it, like "the 3rd of dec 2026"), so the cold
call is one of those, measured in a fresh process.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from bot.understanding.dates import parse_when

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "understanding" / "dates.yaml"

_COLD = (
    "import time; from datetime import datetime; from zoneinfo import ZoneInfo;"
    "from bot.understanding.dates import parse_when; now = datetime(2026, 12, 1, 10, 0,"
    " tzinfo=ZoneInfo('Europe/London')); t = time.perf_counter();"
    "parse_when('the 3rd of dec 2026', now, want_time=True); print(time.perf_counter() - t)"
)


def _read(item: dict[str, Any]) -> Any:
    now = datetime.strptime(item["now"], "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(item["zone"]))
    return parse_when(item["text"], now, day_first=item["day_first"], want_time=True)


def _right(item: dict[str, Any], found: Any) -> bool:
    expect = item["expect"]
    if expect is None or found is None:
        return expect is None and found is None
    if "T" in expect:
        return found.has_time and found.at.strftime("%Y-%m-%dT%H:%M") == expect
    return not found.has_time and found.at.date().isoformat() == expect


def dates(rounds: int = 50) -> dict[str, float]:
    items = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    cold = float(subprocess.run([sys.executable, "-c", _COLD], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout)  # fmt: skip
    for item in items:
        _read(item)  # warm
    times = []
    for _ in range(rounds):
        for item in items:
            began = time.perf_counter()
            _read(item)
            times.append((time.perf_counter() - began) * 1000)
    times.sort()
    result = {
        "date_parse_p50_ms": statistics.median(times),
        "date_parse_p99_ms": times[int(len(times) * 0.99)],
        "date_parse_cold_first_call_s": cold,
    }
    for split in ("tune", "measure"):
        part = [i for i in items if i["split"] == split]
        result[f"date_accuracy_{split}"] = sum(_right(i, _read(i)) for i in part) / len(part)
    return result


if __name__ == "__main__":
    print(json.dumps(dates(), indent=2))
