"""The terminal chat: scripted sessions, and surviving a kill mid-conversation."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.platforms.terminal.app import Console, to_text, user_key
from bot.storage.db import Database
from bot.storage.models import Interview

from .conftest import ROOT
from .fakes.terminal_driver import TerminalDriver


def test_scripted_console_numbers_choices_and_echoes(engine: Engine) -> None:
    out = io.StringIO()
    console = Console(
        engine.handle,
        user_key("sam"),
        io.StringIO("1\n/quit\n"),
        out,
        False,
        goodbye=engine.messages["console_bye"],
    )
    console.run(engine.resume(user_key("sam")))
    text = out.getvalue()
    assert "  1. Yes, that's right" in text
    assert "you> 1" in text and "What would you like to do?" in text
    assert text.rstrip().endswith("Your progress is saved.")


def test_to_text_shows_errors_and_form_prompt(engine: Engine) -> None:
    from bot.conversation.messages import Field, Form, Reply

    reply = Reply(
        text="Tell me.",
        form=Form("f", "F", (Field("company", "Company"),)),
        errors={"company": "Please fill this in."},
    )
    assert to_text(reply) == "Tell me.\n  ! company: Please fill this in.\nCompany:"


def _chat(db: Path, *lines: str, kill_after: float | None = None) -> str:
    env = {**os.environ, "REBOUND_DATABASE__URL": f"sqlite:///{db}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "chat", "--user", "kim"],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    if kill_after is None:
        out, _ = proc.communicate("\n".join(lines) + "\n", timeout=60)
        return out
    for line in lines:
        proc.stdin.write(line + "\n")
    proc.stdin.flush()
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    return proc.stdout.read()


def test_chat_killed_mid_conversation_carries_on_at_the_same_step(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    first = _chat(db, "2", kill_after=8.0)  # asks for the time zone, then gets killed
    assert "Which time zone are you in?" in first
    second = _chat(db, "Asia/Tokyo")
    assert "Which time zone are you in?" in second.split("you> Asia/Tokyo")[0]
    assert "all set" in second


@pytest.mark.parametrize("word", ["main menu", "start over", "home", "Main menu!"])
def test_a_global_word_at_a_form_field_leaves_the_form(
    engine: Engine, db: Database, word: str
) -> None:
    """The terminal reads the core's global words: typed at a form, they are not the answer."""
    driver = TerminalDriver(engine, user_key("ines"))
    driver.text("hi")
    driver.press("Yes, that's right")
    assert driver.text("log")[-1].text.endswith("Company:")  # the form's first field
    replies = driver.text(word)
    assert not any("Role" in r.text for r in replies)  # not asked the form's second field
    with db.transaction() as session:
        assert session.scalars(select(Interview)).all() == []  # and nothing was logged
    if word != "start over":
        assert replies[-1].text == "What would you like to do?"
