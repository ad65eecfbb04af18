"""``rebound discord``: invite link, command sync and the bot process, against the fake Discord."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from bot.cli import main

from .conftest import FLOWS
from .fakes.discord_driver import LoopThread
from .fakes.discord_fake import FakeDiscord

GUILD = "1200000000000000042"


@pytest.fixture
def fake() -> Iterator[tuple[FakeDiscord, LoopThread]]:
    loop = LoopThread()
    discord = FakeDiscord()
    loop.run(discord.start())
    yield discord, loop
    loop.run(discord.stop())
    loop.close()


def environment(tmp_path: Path, fake: FakeDiscord | None = None, **extra: str) -> dict[str, str]:
    env = {
        "REBOUND_DATABASE__URL": f"sqlite:///{tmp_path / 'rebound.db'}",
        "REBOUND_DATA_DIR": str(tmp_path / "out"),
        "REBOUND_FLOWS_DIR": str(FLOWS),
        **extra,
    }
    if fake is not None:
        env |= {
            "REBOUND_DISCORD__TOKEN": fake.token,
            "REBOUND_DISCORD__API_BASE": fake.api_base,
            "REBOUND_DISCORD__GATEWAY_URL": fake.gateway_url,
        }
    return env


def test_invite_asks_for_exactly_the_scopes_and_no_permissions(tmp_path: Path) -> None:
    env = environment(tmp_path, REBOUND_DISCORD__APPLICATION_ID="123456789012345678")
    result = CliRunner().invoke(main, ["discord", "invite"], env=env)
    assert result.exit_code == 0, result.output
    query = parse_qs(urlsplit(result.output.strip()).query)
    assert query["client_id"] == ["123456789012345678"]
    assert query["scope"] == ["bot applications.commands"]
    assert query["permissions"] == ["0"]


def test_missing_settings_are_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["discord", "invite"], env=environment(tmp_path))
    assert result.exit_code == 1 and "discord.application_id is not set" in result.output
    result = CliRunner().invoke(main, ["discord"], env=environment(tmp_path))
    assert result.exit_code == 1 and "discord.token is not set" in result.output


def test_sync_registers_per_guild_then_globally_over_rest_only(
    tmp_path: Path, fake: tuple[FakeDiscord, LoopThread]
) -> None:
    discord, _ = fake
    env = environment(tmp_path, discord, REBOUND_DISCORD__DEV_GUILD_ID=GUILD)
    result = CliRunner().invoke(main, ["discord", "sync"], env=env)
    assert result.exit_code == 0, result.output
    assert f"guild:{GUILD}" in result.output and discord.token not in result.output
    assert [c["name"] for c in discord.commands[GUILD]] == ["rebound"]
    assert (tmp_path / "out" / "discord-commands.sha256").is_file()
    assert discord.identifies == 0  # syncing needs no gateway connection

    env["REBOUND_DISCORD__GLOBAL_COMMANDS"] = "true"
    result = CliRunner().invoke(main, ["discord", "sync"], env=env)
    assert result.exit_code == 0 and "global" in result.output
    assert [c["name"] for c in discord.commands["global"]] == ["rebound"]


def test_sync_to_a_server_without_the_bot_says_how_to_fix_it(
    tmp_path: Path, fake: tuple[FakeDiscord, LoopThread]
) -> None:
    """403 50001 (Missing Access): the bot was never added to ``dev_guild_id``. One line naming
    the fix, no traceback."""
    discord, _ = fake
    discord.absent_guilds.add(GUILD)
    env = environment(tmp_path, discord, REBOUND_DISCORD__DEV_GUILD_ID=GUILD)
    result = CliRunner().invoke(main, ["discord", "sync"], env=env)
    assert result.exit_code == 1
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    (line,) = result.output.strip().splitlines()
    assert GUILD in line and "rebound discord invite" in line and "dev_guild_id" in line
    assert not (tmp_path / "out" / "discord-commands.sha256").exists()


def test_rebound_discord_runs_the_bot_until_stopped(
    tmp_path: Path, fake: tuple[FakeDiscord, LoopThread]
) -> None:
    discord, loop = fake
    env = {**os.environ, **environment(tmp_path, discord), "REBOUND_LOG_LEVEL": "INFO"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "discord"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        async def hello() -> None:
            await discord.identified.wait()
            person = discord.user(discord.snowflake(), "Sam")
            await discord.dispatch("MESSAGE_CREATE", discord.message_create(person, "hi"))
            while not any(c.result for c in discord.calls):
                await discord.sent.wait()
                discord.sent.clear()

        loop.run(hello(), timeout=60)
        first = next(c.result for c in discord.calls if c.result)
        assert "I'm Rebound" in first["content"]
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    assert discord.token not in output


def test_sigterm_closes_the_gateway_cleanly_and_exits_0(
    tmp_path: Path, fake: tuple[FakeDiscord, LoopThread]
) -> None:
    """A deployment stops the bot with SIGTERM: it must send the gateway its close frame and
    exit 0, not die where it stands (the socket would just drop). discord.py's close sends 4000
    when it closes while reading the gateway, which Discord accepts as a clean close."""
    discord, loop = fake
    env = {**os.environ, **environment(tmp_path, discord), "REBOUND_LOG_LEVEL": "INFO"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "discord"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        loop.run(discord.identified.wait(), timeout=60)

        async def closed() -> None:
            while not discord.gateway_closes:
                await asyncio.sleep(0.05)

        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        loop.run(closed(), timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    (code,) = discord.gateway_closes
    assert code in (1000, 4000)  # a close frame, not a dropped connection (None)
    assert "Traceback" not in output
