"""Start-up: time from launching ``rebound chat`` to its first prompt, against bare Python."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _first_line(cmd: list[str]) -> float:
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    elapsed = time.perf_counter() - began
    proc.kill()
    proc.wait()
    return elapsed


def startup(runs: int = 7) -> dict[str, float]:
    db = Path(tempfile.mkdtemp()) / "s.db"
    chat = [sys.executable, "-m", "bot.cli", "chat", "--db", f"sqlite:///{db}"]
    _first_line(chat)  # creates and migrates the database once, like a first run
    chat_times = [_first_line(chat) for _ in range(runs)]
    bare = [_first_line([sys.executable, "-c", "print('x', flush=True)"]) for _ in range(runs)]
    return {
        "chat_first_prompt_s": statistics.median(chat_times),
        "bare_python_s": statistics.median(bare),
    }
