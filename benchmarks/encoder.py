"""The sentence encoder: time per message, cold start, and memory of a process holding it.

    .venv/bin/python -m benchmarks.encoder [--quick]

- Per message: ~500 varied messages (one-word replies, sentences, typos, emoji, a few
  paragraphs), each encoded alone as a turn would, with the LRU cache off; p50 and p99.
  Baseline in the same run: the same messages through the tokenizer alone.
- Cold start: a fresh process from launch to its first vector (parent's clock), and the
  ``load_encoder()`` call alone (child's clock); median of several runs with the weights' hash
  already remembered, plus the first run with an empty cache (the hash is computed).
  Baseline: bare Python printing one line.
- Memory: VmRSS (and peak VmHWM) of a process after loading the model and encoding the
  messages; baseline: the same process importing everything but not loading the model.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

SHORT = ["yes", "no", "skip", "kind of", "not really tbh", "a lot tbh", "maybe?", "👍", "nah",
         "sure", "ok", "stop", "not now", "I'm fine", "menu", "help", "export", "forget me",
         "yeah a bit", "definitely not", "hmm idk", "lol", "thx", "😭", "yes pls"]  # fmt: skip
COMPANIES = ["Stripe", "Monzo", "Google", "Amazon", "Société Générale", "a startup", "Deliveroo",
             "the council", "Spotify", "my dream company"]  # fmt: skip
ROLES = ["PM", "backend engineer", "data analyst", "designer", "nurse", "teacher", "sales lead"]
TEMPLATES = [
    "I got rejected from {c} today",
    "I have an interview on friday with {c} for a {r} role",
    "can you help me write a feedback email to {c}?",
    "{c} just emailed, they rejected me",
    "yes, my nerves got the better of me in the {r} interview",
    "i got rejcted agian frm {c} lol",
    "tmrw 10am interveiw w/ {c}!!!",
    "😭😭 {c} said no to the {r} job",
    "the {r} interview at {c} went ok I think, they asked a lot about stakeholders",
    "I'm not okay at all, this is the third no this month",
    "next Friday afternoon with {c}",
    "in two weeks, second round for {r}",
    "Got the {r} job at {c}!!! 🎉",
    "This rejection is killing me",
    "I can't stop thinking about what I said to the {c} panel",
]
SENTENCES = [
    "I spent weeks preparing for the {r} loop at {c}.",
    "The recruiter said they went with someone with more direct experience.",
    "Honestly I thought the case study went well and the team seemed to like me.",
    "I keep replaying the moment I froze on the system design question.",
    "My partner says I should take a break from applying for a bit.",
    "They said they'd keep my CV on file, whatever that means.",
    "I asked for feedback but nobody has replied in a week.",
    "It's the fourth final round I've lost this year and I'm running out of savings.",
]


CUT_TOKENS = 64


def messages(count: int = 500, seed: int = 13) -> list[str]:
    """Deterministic, varied messages shaped like DMs: mostly short, a few paragraphs."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.35:
            text = rng.choice(SHORT)
        elif roll < 0.88:
            text = rng.choice(TEMPLATES)
        else:
            text = " ".join(rng.sample(SENTENCES, rng.randint(2, len(SENTENCES))))
        out.append(text.format(c=rng.choice(COMPANIES), r=rng.choice(ROLES)))
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def per_message(count: int, max_tokens: int | None = None) -> dict[str, float]:
    """Each message encoded alone, cache off, after a warm-up; read whole (up to the model's
    128 tokens, as the bot reads it) unless ``max_tokens`` cuts it shorter."""
    from bot.understanding.encoder import MAX_TOKENS, MiniLMEncoder, package_model_dir

    encoder = MiniLMEncoder.from_dir(
        package_model_dir(), cache_size=0, max_tokens=max_tokens or MAX_TOKENS
    )
    texts = messages(count)
    for text in texts[:20]:
        encoder.encode([text])
    times, cpu = [], []
    for text in texts:
        began, began_cpu = time.perf_counter(), time.process_time()
        encoder.encode([text])
        times.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    tokens = [len(encoder._tokenizer.encode(t).ids) for t in texts]
    short = [s for s, n in zip(times, tokens, strict=True) if n <= 32]
    long = [s for s, n in zip(times, tokens, strict=True) if n > 32]
    tok_times = []
    for text in texts:
        began = time.perf_counter()
        encoder._tokenizer.encode(text)
        tok_times.append(time.perf_counter() - began)
    began = time.perf_counter()
    encoder.encode(texts)
    batch_s = time.perf_counter() - began
    return {
        "messages": len(texts),
        "p50_ms": statistics.median(times) * 1000,
        "p99_ms": _percentile(times, 0.99) * 1000,
        "max_ms": max(times) * 1000,
        # CPU time of the whole process (every BLAS thread): with one BLAS thread, what the
        # latency would be on an idle core; on a shared machine wall time is also waiting.
        "cpu_p50_ms": statistics.median(cpu) * 1000,
        "cpu_p99_ms": _percentile(cpu, 0.99) * 1000,
        "load_average": os.getloadavg()[0],
        "short_messages": len(short),
        "short_p99_ms": _percentile(short, 0.99) * 1000,
        "long_messages": len(long),
        "long_p50_ms": statistics.median(long) * 1000 if long else 0.0,
        "long_p99_ms": _percentile(long, 0.99) * 1000 if long else 0.0,
        "tokens_p50": statistics.median(tokens),
        "tokens_max": max(tokens),
        "tokenizer_p50_ms": statistics.median(tok_times) * 1000,
        "tokenizer_p99_ms": _percentile(tok_times, 0.99) * 1000,
        "batch_all_ms_per_message": batch_s * 1000 / len(texts),
    }


_CHILD = """
import json, sys, time
began = time.perf_counter()
from bot.understanding.encoder import load_encoder
imported = time.perf_counter()
encoder = load_encoder() if sys.argv[1] == "load" else None
loaded = time.perf_counter()
if encoder is not None:
    encoder.encode(["hello"])
print("first", flush=True)
if encoder is not None:
    from benchmarks.encoder import messages
    for text in messages(100):  # a process that has served turns, not just loaded
        encoder.encode([text])
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({"import_s": imported - began, "load_s": loaded - imported,
                  "loaded": encoder is not None,
                  "rss_kb": int(status["VmRSS"].split()[0]),
                  "hwm_kb": int(status["VmHWM"].split()[0])}), flush=True)
"""


def _child(mode: str, cache_home: str) -> dict[str, Any]:
    env = {"XDG_CACHE_HOME": cache_home, "PATH": "/usr/bin:/bin"}
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, mode], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.readline()
    first = time.perf_counter() - began
    result = json.loads(proc.stdout.readline())
    proc.wait()
    return {**result, "first_vector_s": first}


def cold_start(runs: int) -> dict[str, Any]:
    cache_home = tempfile.mkdtemp()
    fresh = _child("load", cache_home)  # empty cache: hashes the weights and remembers
    warm = [_child("load", cache_home) for _ in range(runs)]
    bare_times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "print('x')"], capture_output=True, check=True)
        bare_times.append(time.perf_counter() - began)
    without = _child("none", cache_home)
    assert fresh["loaded"] and all(w["loaded"] for w in warm), "model did not load"
    return {
        "first_vector_s": statistics.median(w["first_vector_s"] for w in warm),
        "load_s": statistics.median(w["load_s"] for w in warm),
        "import_s": statistics.median(w["import_s"] for w in warm),
        "first_vector_unverified_s": fresh["first_vector_s"],
        "load_unverified_s": fresh["load_s"],
        "bare_python_s": statistics.median(bare_times),
        "rss_mb": statistics.median(w["rss_kb"] for w in warm) / 1024,
        "peak_rss_mb": max(w["hwm_kb"] for w in warm) / 1024,
        "rss_without_model_mb": without["rss_kb"] / 1024,
    }


def bench(quick: bool = False) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """Rows for benchmarks.run's table, and the raw numbers."""
    speed = per_message(200 if quick else 500)
    # What reading only a message's opening would buy (the bot does not: see README).
    cut = per_message(200 if quick else 500, max_tokens=CUT_TOKENS)
    start = cold_start(3 if quick else 7)
    n = speed["messages"]
    rows = [
        (f"encoder p50 per message ({n} messages, cache off)", "",
         f"{speed['p50_ms']:.2f} ms", f"{speed['tokenizer_p50_ms']:.3f} ms tokenizer alone",
         None),
        (f"encoder p99 per message ({n} messages, cache off)", "≤ 15 ms",
         f"{speed['p99_ms']:.2f} ms",
         f"{cut['p99_ms']:.2f} ms if only the first {CUT_TOKENS} tokens were read", None),
        ("encoder CPU time per message p50 / p99", "",
         f"{speed['cpu_p50_ms']:.2f} / {speed['cpu_p99_ms']:.2f} ms",
         f"load average {speed['load_average']:.1f} on {os.cpu_count()} cores", None),
        (f"encoder p99, the {speed['short_messages']} messages of ≤ 32 tokens", "",
         f"{speed['short_p99_ms']:.2f} ms",
         f"{speed['long_p50_ms']:.1f} ms p50 for the {speed['long_messages']} longer", None),
        ("encoder cold start: process launch to first vector", "",
         f"{start['first_vector_s']:.2f} s", f"{start['bare_python_s']:.3f} s bare python",
         start["first_vector_s"] / start["bare_python_s"]),
        ("encoder load_encoder() alone (hash remembered / first run)", "",
         f"{start['load_s']:.2f} s", f"{start['load_unverified_s']:.2f} s hashing", None),
        ("RSS of a process with the model loaded", "≤ 250 MB",
         f"{start['rss_mb']:.0f} MB (peak {start['peak_rss_mb']:.0f})",
         f"{start['rss_without_model_mb']:.0f} MB without the model", None),
    ]  # fmt: skip
    return rows, {"per_message": speed, "per_message_cut": cut, "cold_start": start}


if __name__ == "__main__":
    table, raw = bench(quick="--quick" in sys.argv)
    print(json.dumps(raw, indent=2))
    for figure, target, measured, baseline, _ratio in table:
        print(f"| {figure} | {target} | {measured} | {baseline} |")
