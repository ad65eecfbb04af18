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


def _cli_line(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "flows", "check"])
    return result.exit_code, result.output


def test_readme_example_message_is_exact(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[reminders]\nquiet_start = "25:00"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value) == (
        "config error: reminders.quiet_start: expected a time like 21:00, got '25:00'"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[reminders]\nquiet_strat = "21:00"', "reminders.quiet_strat: unknown setting"
         " (did you mean reminders.quiet_start?)"),
        ('[slack]\nbot_tokn = "xoxb-1-2-secretvalue"', "slack.bot_tokn: unknown setting"
         " (did you mean slack.bot_token?)"),
        ('[database]\nurll = "sqlite:///x.db"', "database.urll: unknown setting"
         " (did you mean database.url?)"),
        ('quiet_start = "21:00"', "quiet_start: unknown setting"
         " (did you mean reminders.quiet_start?)"),
        ('[[coaching.careers_links]]\nnmae = "Careers"\nurl = "https://example.org"',
         "coaching.careers_links.0.nmae: unknown setting (did you mean"),
    ],
)  # fmt: skip
def test_misspelt_key_in_a_section_names_the_closest(
    tmp_path: Path, body: str, message: str
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(body + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value).startswith(f"config error: {message}")
    assert "secretvalue" not in str(info.value)
    code, output = _cli_line(["--config", str(cfg)])
    assert code == 1 and output.strip().splitlines() == [f"Error: {info.value}"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("REBOUND_TIMEZON", "UTC",
         "REBOUND_TIMEZON: unknown setting (did you mean REBOUND_TIMEZONE?)"),
        ("REBOUND_SLACK__BOT_TOKN", "xoxb-1-2-secretvalue",
         "REBOUND_SLACK__BOT_TOKN: unknown setting (did you mean REBOUND_SLACK__BOT_TOKEN?)"),
        ("REBOUND_REMINDERS__QUIET_STRAT", "21:00",
         "REBOUND_REMINDERS__QUIET_STRAT: unknown setting (did you mean "
         "REBOUND_REMINDERS__QUIET_START?)"),
        ("REBOUND_SLAK__BOT_TOKEN", "xoxb-1-2-secretvalue",
         "REBOUND_SLAK__BOT_TOKEN: unknown setting (did you mean REBOUND_SLACK__BOT_TOKEN?)"),
        ("REBOUND_QUIET_START", "21:00",
         "REBOUND_QUIET_START: unknown setting (did you mean REBOUND_REMINDERS__QUIET_START?)"),
    ],
)  # fmt: skip
def test_misspelt_environment_variable_names_the_closest(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert str(info.value) == f"config error: {message}"
    code, output = _cli_line([])
    assert code == 1 and output.strip().splitlines() == [f"Error: config error: {message}"]


def test_variables_that_are_not_settings_are_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBOUND_TEST_POSTGRES_URL", "postgresql+psycopg://x@127.0.0.1/test")
    monkeypatch.setenv("REBOUND_BENCH_POSTGRES_URL", "postgresql+psycopg://x@127.0.0.1/test")
    monkeypatch.setenv("REBOUND_REMINDERS__POLL_SECONDS", "0.5")
    assert load_settings(None).reminders.poll_seconds == 0.5


SLACK_TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"


@pytest.mark.parametrize(
    "body",
    [
        f'timezone = "{SLACK_TOKEN}"',
        f'timezone = "{SIGNING_SECRET}"',
        f'[reminders]\nquiet_start = "{SLACK_TOKEN}"',
        f'[reminders]\nquiet_start = "{SIGNING_SECRET}"',
        f'[database]\npool_size = "{SIGNING_SECRET}"',
        '[database]\npool_size = "postgresql://rebound:hunter2@db/rebound"',
        "[slack]\nsigning_secret = 81144514514514",
        f'[slack]\nhttp_port = "{"y" * 41}"',
    ],
)
def test_rejected_value_is_never_echoed_when_it_may_be_a_secret(tmp_path: Path, body: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(body + "\n")
    secret = body.split("=", 1)[1].strip().strip('"')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value).startswith("config error: ")
    assert secret not in str(info.value) and "hunter2" not in str(info.value)
    code, output = _cli_line(["--config", str(cfg)])
    assert code == 1 and secret not in output and "hunter2" not in output


def test_short_ordinary_value_is_still_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBOUND_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match=r"unknown time zone .*got 'Mars/Olympus'"):
        load_settings(None)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REBOUND_SLACK", "{bad"),
        ("REBOUND_SLACK", '{"bot_token": "xoxb-secretvalue"'),
        ("REBOUND_COACHING__CRISIS_RESOURCES", "[Call 116 123"),
    ],
)
def test_malformed_json_in_a_variable_is_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert str(info.value).startswith(f"config error: {name}: not valid JSON")
    code, output = _cli_line([])
    assert code == 1 and "Traceback" not in output and "secretvalue" not in output
    assert output.strip().splitlines() == [f"Error: {info.value}"]
