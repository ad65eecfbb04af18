"""``rebound slack`` as a real process, in both modes, against the fake Slack on loopback.

The settings come from the environment as a deployment would set them; the log runs at DEBUG
and must not contain a token or the signing secret.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from slack_sdk.signature import SignatureVerifier

from bot.platforms.slack.cli import RedactTokens

from .fakes.slack_api import FakeSlack
from .fakes.slack_driver import WAIT, LoopThread

BOT_TOKEN = "xoxb-cli-secret-token"
APP_TOKEN = "xapp-1-cli-secret-token"
SECRET = "cli-signing-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.Popen[bytes]:
    log = (tmp_path / "rebound.log").open("wb")
    full = {
        **os.environ,
        "REBOUND_DATABASE__URL": f"sqlite:///{tmp_path / 'rebound.db'}",
        "REBOUND_DATA_DIR": str(tmp_path / "out"),
        "REBOUND_LOG_LEVEL": "DEBUG",
        "REBOUND_SLACK__BOT_TOKEN": BOT_TOKEN,
        **env,
    }
    full.pop("REBOUND_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "slack", *args],
        cwd=tmp_path,
        env=full,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def until_healthy(process: subprocess.Popen[bytes], port: int) -> None:
    """Wait for the process to answer /healthz (readiness, not a fixed delay)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        assert process.poll() is None, "rebound slack exited early"
        try:
            if get(port, "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("rebound slack never became healthy")


def stop(process: subprocess.Popen[bytes], tmp_path: Path) -> str:
    process.terminate()
    process.wait(WAIT)
    return (tmp_path / "rebound.log").read_text(errors="replace")


def dm_event(event_id: str) -> str:
    event = {
        "type": "message",
        "channel": "DU1",
        "channel_type": "im",
        "user": "U1",
        "text": "hi",
        "ts": "1700000000.000001",
        "event_ts": "1700000000.000001",
    }
    return json.dumps(
        {
            "team_id": "T0001",
            "api_app_id": "A0001",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1,
        }
    )


def wait_for_post(fake: FakeSlack) -> None:
    deadline = time.monotonic() + WAIT
    while not fake.named("chat.postMessage"):
        assert time.monotonic() < deadline, "no reply was posted"
        time.sleep(0.02)


def test_http_mode_serves_signed_events_and_health(
    slack_loop_fake: tuple[LoopThread, FakeSlack], tmp_path: Path
) -> None:
    _loop, slack = slack_loop_fake
    port = free_port()
    env = {"REBOUND_SLACK__SIGNING_SECRET": SECRET, "REBOUND_SLACK__API_URL": slack.api_url}
    process = start(["--http", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path)
    try:
        until_healthy(process, port)
        body = dm_event("EvCli1")
        ts = str(int(time.time()))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(
                timestamp=ts, body=body
            ),
        }
        conn.request("POST", "/slack/events", body=body.encode(), headers=headers)
        assert conn.getresponse().status == 200
        conn.close()
        wait_for_post(slack)
    finally:
        log = stop(process, tmp_path)
    assert slack.named("chat.postMessage")[0].args["channel"] == "DU1"
    assert BOT_TOKEN not in log and SECRET not in log
    assert "chat.postMessage" in log  # DEBUG really was on, so the check above means something


def test_socket_mode_connects_and_answers(
    slack_loop_fake: tuple[LoopThread, FakeSlack], tmp_path: Path
) -> None:
    loop, slack = slack_loop_fake
    port = free_port()
    env = {
        "REBOUND_SLACK__APP_TOKEN": APP_TOKEN,
        "REBOUND_SLACK__API_URL": slack.api_url,
        "REBOUND_SLACK__SOCKET_HEALTH_PORT": str(port),
    }
    process = start(["--host", "127.0.0.1"], env, tmp_path)
    try:
        loop.run(asyncio.wait_for(slack.socket_connected.wait(), WAIT))
        until_healthy(process, port)
        envelope = {
            "envelope_id": "env-cli",
            "type": "events_api",
            "accepts_response_payload": False,
            "payload": json.loads(dm_event("EvCli2")),
        }
        loop.run(slack.socket_send(envelope))
        wait_for_post(slack)
        loop.run(asyncio.wait_for(slack.socket_acked.wait(), WAIT))
    finally:
        log = stop(process, tmp_path)
    assert slack.socket_acks[0]["envelope_id"] == "env-cli"
    assert slack.named("apps.connections.open")[0].token == APP_TOKEN
    assert APP_TOKEN not in log and BOT_TOKEN not in log


def test_missing_tokens_name_the_setting(tmp_path: Path) -> None:
    env = {"REBOUND_SLACK__BOT_TOKEN": ""}
    process = start(["--http"], env, tmp_path)
    assert process.wait(WAIT) == 1
    log = (tmp_path / "rebound.log").read_text()
    assert "slack.bot_token" in log or "slack.signing_secret" in log


def test_redaction_filter_masks_tokens_in_sdk_debug_lines() -> None:
    record = logging.LogRecord(
        "slack_sdk", logging.DEBUG, __file__, 1, "body: %s", ({"access_token": BOT_TOKEN},), None
    )
    assert RedactTokens().filter(record)
    assert BOT_TOKEN not in record.getMessage() and "xoxb-(redacted)" in record.getMessage()
