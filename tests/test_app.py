"""The composition root: what it builds for each command, and the reminder kinds it registers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from bot import app
from bot.config import Settings
from bot.conversation.engine import Engine
from bot.reminders.kinds import ReminderKind, why_not_needed
from bot.storage.db import Database
from bot.storage.models import Reminder

from .conftest import ROOT


def _built(engine: Engine, db: Database, settings: Settings) -> app.Built:
    return app.Built(settings, db, engine)


def test_no_token_no_sender(engine: Engine, db: Database, settings: Settings) -> None:
    assert app.senders(_built(engine, db, settings)) == {}


def test_each_configured_platform_gets_its_sender(
    engine: Engine, db: Database, settings: Settings
) -> None:
    configured = settings.model_copy(
        update={
            "slack": settings.slack.model_copy(update={"bot_token": SecretStr("xoxb-1")}),
            "discord": settings.discord.model_copy(update={"token": SecretStr("d-1")}),
        }
    )
    found = app.senders(_built(engine, db, configured))
    assert {name: type(s).__name__ for name, s in found.items()} == {
        "slack": "SlackSender",
        "discord": "DiscordSender",
    }
    # Discord's "cannot DM this person" reaches the engine, which marks the person.
    assert found["discord"]._on_outcome == engine.record_delivery  # type: ignore[attr-defined]


def test_broken_flows_stop_the_build_with_every_problem(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "home.yaml").write_text("title: Home\nstart: a\nstates:\n  a: {next: nowhere}\n")
    broken = settings.model_copy(update={"flows_dir": tmp_path})
    with pytest.raises(app.ProblemsFound, match="the flows have problems"):
        app.build(broken, f"sqlite:///{tmp_path / 'x.db'}")


def test_every_reminder_kind_is_declared_once_with_a_title() -> None:
    titles = yaml.safe_load((ROOT / "flows" / "_reminders.yaml").read_text())["titles"]
    kinds = app.behaviour().reminder_kinds
    assert set(kinds) == {"debrief", "decision", "feedback_follow_up", "plan_action",
                          "plan_halfway", "paused_check_in", "weekly_summary",
                          "staff_digest"}  # fmt: skip
    for kind in kinds.values():
        assert isinstance(kind, ReminderKind)
        assert kind.title_key in titles, f"flows/_reminders.yaml has no title for {kind.name}"
    conditions = app.behaviour().conditions
    assert all(f"reminder_is_{name}" in conditions for name in kinds)


def test_a_reminder_of_a_kind_nobody_declares_is_not_sent() -> None:
    row = Reminder(kind="retired_kind")
    assert why_not_needed({}, None, row, None, None) == "unknown reminder kind 'retired_kind'"  # type: ignore[arg-type]
