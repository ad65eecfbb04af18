"""Settings: file, environment overrides, one-line errors, secrets never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import ConfigError, load_settings

from .conftest import ROOT


def test_example_config_is_valid_and_complete() -> None:
    settings = load_settings(ROOT / "config.example.toml")
    assert settings.timezone == "Europe/London"
    text = (ROOT / "config.example.toml").read_text()
    for section in ("database", "reminders", "slack", "discord", "coaching"):
        fields = type(getattr(settings, section)).model_fields
        for name in fields:
            assert name in text, f"config.example.toml does not document {section}.{name}"


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('timezone = "Europe/Paris"\n[database]\nurl = "sqlite:///a.db"\n')
    monkeypatch.setenv("REBOUND_DATABASE__URL", "sqlite:///b.db")
    settings = load_settings(cfg)
    assert settings.timezone == "Europe/Paris" and settings.database.url == "sqlite:///b.db"
    monkeypatch.setenv("REBOUND_CONFIG", str(cfg))
    assert load_settings().timezone == "Europe/Paris"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('timezone = "Mars/Olympus"', "config error: timezone: unknown time zone"),
        ('[reminders]\nquiet_start = "25:00"', "config error: reminders.quiet_start:"),
        ("[reminders]\npoll_seconds = -1", "config error: reminders.poll_seconds:"),
        ('colour = "blue"', "config error: colour: unknown setting"),
        ("timezone = ", "is not valid TOML"),
    ],
)
def test_bad_setting_is_one_line_naming_it(tmp_path: Path, body: str, message: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(body + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert message in str(info.value) and "\n" not in str(info.value)
    result = CliRunner().invoke(main, ["--config", str(cfg), "flows", "check"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert message in result.output


def test_secrets_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("REBOUND_SLACK__BOT_TOKEN", "xoxb-very-secret")
    monkeypatch.setenv("REBOUND_DISCORD__TOKEN", "discord-very-secret")
    settings = load_settings(None)
    assert settings.slack.bot_token is not None
    assert settings.slack.bot_token.get_secret_value() == "xoxb-very-secret"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings: %r %s", settings, settings)
    assert "very-secret" not in repr(settings) + str(settings) + caplog.text
