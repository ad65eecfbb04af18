"""Slack HTTP mode under load on loopback: signed message events at a fixed rate.

The real Bolt app (HTTP mode, uvicorn) and the mock Slack Web API run in this process; a second
process sends pre-signed ``message.im`` events open-loop at ``RATE`` per second and times each
HTTP acknowledgement. Afterwards we wait for the work behind the acks to drain and count the
events that never produced a reply. Baseline in the same run: the ack latency of the health
endpoint under the same load (the server's own floor).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RATE = 200


def _bodies(event_body: Any, count: int, people: int) -> list[tuple[str, dict[str, str]]]:
    from slack_sdk.signature import SignatureVerifier

    from tests.fakes.slack_driver import SECRET

    signer = SignatureVerifier(SECRET)
    out = []
    for n in range(count):
        user = f"ULOAD{n % people}"
        event = {
            "type": "message", "channel_type": "im", "channel": f"D{user}", "user": user,
            "text": "help" if n >= people else "hi", "ts": f"{1700000000 + n}.000100",
        }  # fmt: skip
        body = event_body(event, f"EvLoad{n}")
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signer.generate_signature(timestamp=ts, body=body),
        }
        out.append((body, headers))
    return out


async def _fire(port: int, requests: list[tuple[str, dict[str, str]]], rate: int) -> list[float]:
    import aiohttp

    latencies: list[float] = []
    url = f"http://127.0.0.1:{port}/slack/events"
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(body: str, headers: dict[str, str]) -> None:
            began = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status == 200:
                    latencies.append(time.perf_counter() - began)

        start = time.perf_counter()
        tasks = []
        for i, (body, headers) in enumerate(requests):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body, headers)))
        await asyncio.gather(*tasks)
    return latencies


def _load_process(
    port: int, requests: list[tuple[str, dict[str, str]]], rate: int, out: Any
) -> None:
    out.put(asyncio.run(_fire(port, requests, rate)))


def _fake_process(ready: Any, stop: Any) -> None:
    """The mock Slack Web API in its own process, as the real one is on another machine."""
    from tests.fakes.slack_api import FakeSlack

    async def main() -> None:
        fake = FakeSlack()
        await fake.start()
        ready.put(fake.api_url)
        while not stop.is_set():
            await asyncio.sleep(0.2)
        ready.put(len(fake.named("chat.postMessage")))
        await fake.stop()

    asyncio.run(main())


def bench(quick: bool = False) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """At the issue's rate, then at half of it: one process saturates near 200 turns/s here."""
    seconds = 10 if quick else 60
    rows, results = _run(RATE, seconds)
    half_rows, half = _run(RATE // 2, seconds // 3)
    return rows + half_rows[1:2], {"full_rate": results, "half_rate": half}


def _run(rate: int, seconds: int) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    import socket
    import threading

    from benchmarks.turns import make_engine
    from bot.platforms.slack.app import build_app, http_app
    from bot.platforms.slack.cli import http_server
    from bot.storage.db import open_database
    from tests.fakes.slack_driver import SECRET, SlackHarness, slack_settings

    count = rate * seconds
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'slack.db'}"
    open_database(url).dispose()
    engine = make_engine(url, data_dir=str(folder / "out"))
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    fake_proc = ctx.Process(target=_fake_process, args=(ready, stop))
    fake_proc.start()
    api_url = ready.get(timeout=60)
    done = [0]
    lock = threading.Lock()

    def handled(_kind: str) -> None:
        with lock:
            done[0] += 1

    class _Fake:
        api_url = ""

    fake = _Fake()
    fake.api_url = api_url
    settings = slack_settings(engine.settings, fake)  # type: ignore[arg-type]
    app = build_app(engine, settings, on_handled=handled)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = http_server(http_app(app, SECRET), "127.0.0.1", port)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:

        def body(event: dict[str, Any], event_id: str) -> str:
            return SlackHarness.event_body(None, event, event_id)  # type: ignore[arg-type]

        requests = _bodies(body, count, people=500)
        out = ctx.Queue()
        proc = ctx.Process(target=_load_process, args=(port, requests, rate, out))
        began = time.perf_counter()
        proc.start()
        latencies = out.get()
        proc.join()
        deadline = time.time() + 120
        while done[0] < count and time.time() < deadline:
            time.sleep(0.2)
        drained = time.perf_counter() - began
        handled_count = done[0]
    finally:
        server.should_exit = True
        thread.join(10)
        stop.set()
        posts = ready.get(timeout=30)
        fake_proc.join(10)
    ordered = sorted(latencies)
    results = {
        "sent": count,
        "acked_200": len(ordered),
        "handled": handled_count,
        "messages_posted": posts,
        "ack_p50_ms": statistics.median(ordered) * 1000,
        "ack_p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "drain_seconds": drained,
    }
    lost = count - handled_count
    rows = [
        (f"Slack ack p50 at {rate} req/s, {seconds} s", "", f"{results['ack_p50_ms']:.1f} ms",
         "3000 ms (Slack's limit)", 3000 / results["ack_p50_ms"]),
        (f"Slack ack p99 at {rate} req/s, {seconds} s", "≤ 50 ms",
         f"{results['ack_p99_ms']:.1f} ms", "3000 ms (Slack's limit)",
         3000 / results["ack_p99_ms"]),
        ("Slack events without a reply", "0", f"{lost} of {count}",
         f"drained in {drained:.0f} s", None),
    ]  # fmt: skip
    return rows, json.loads(json.dumps(results))
