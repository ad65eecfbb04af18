"""Settings: a TOML file, overridden by ``REBOUND_*`` environment variables (12-factor).

The file is found by ``--config``, then ``REBOUND_CONFIG``, then ``./config.toml``; with none
of them the defaults run the terminal chat on a local SQLite file. Nested settings use a double
underscore in the environment: ``REBOUND_DATABASE__URL``, ``REBOUND_SLACK__BOT_TOKEN``.
Tokens are ``SecretStr`` so they never show up in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot import config_errors

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ConfigError(Exception):
    """A setting is wrong. The message is one line that names the setting."""


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone (use an IANA name like Europe/London)") from None
    return value


class Section(BaseModel):
    """Every settings section: a misspelt key is an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(Section):
    url: str = "sqlite:///rebound.db"
    echo: bool = False
    pool_size: int = Field(default=5, ge=1, le=100)
    # PostgreSQL only: how long one statement may wait for a row lock, run at all, or a
    # transaction may sit idle, before the server gives up. A stuck holder then costs one
    # person a quick "try again" instead of a 30 s wait and the whole process's pool.
    lock_timeout_seconds: float = Field(default=5.0, gt=0, le=600)
    statement_timeout_seconds: float = Field(default=15.0, gt=0, le=3600)
    idle_in_transaction_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)


class ReminderSettings(Section):
    debrief_time: str = "18:00"
    quiet_start: str = "21:00"
    quiet_end: str = "08:00"
    feedback_follow_up_days: int = Field(default=4, ge=1, le=30)
    paused_check_in_days: int = Field(default=2, ge=1, le=30)
    misfire_window_hours: int = Field(default=12, ge=0, le=24 * 14)
    poll_seconds: float = Field(default=5.0, gt=0, le=300)
    enabled: bool = True

    @field_validator("debrief_time", "quiet_start", "quiet_end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("expected a time like 21:00")
        return value


class SlackSettings(Section):
    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    api_url: str = "https://slack.com/api/"
    http_port: int = Field(default=3000, ge=1, le=65535)
    # Socket Mode opens no port of its own; set this to serve /healthz for a liveness probe.
    socket_health_port: int | None = Field(default=None, ge=1, le=65535)


class DiscordSettings(Section):
    token: SecretStr | None = None
    application_id: str | None = None
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    dev_guild_id: str | None = None
    global_commands: bool = False


class Link(Section):
    name: str
    url: str


class CoachingSettings(Section):
    crisis_resources: list[str] = Field(
        default_factory=lambda: [
            "If you are in danger right now, call your local emergency number.",
            "UK & Ireland: Samaritans, call 116 123 (free, any time).",
            "US: call or text 988 (Suicide & Crisis Lifeline).",
            "Elsewhere: findahelpline.com lists free, confidential lines by country.",
        ]
    )
    # Per workspace or guild id: a different list of crisis resources.
    workspace_crisis_resources: dict[str, list[str]] = Field(default_factory=dict)
    careers_links: list[Link] = Field(default_factory=list)
    # Offered when a rejection hits hard (strength 4-5): people and services to lean on.
    support_resources: list[str] = Field(
        default_factory=lambda: [
            "A friend or family member you trust: even a short call helps.",
            "Your university or workplace wellbeing service, if you have one.",
        ]
    )
    workspace_support_resources: dict[str, list[str]] = Field(default_factory=dict)
    # Where to find a counsellor or therapist, for "where can I find a therapist?".
    counselling_resources: list[str] = Field(
        default_factory=lambda: [
            "Your GP or family doctor can refer you to talking therapies.",
            "Students: your university's counselling service is free and confidential.",
            "UK: the NHS lists local talking-therapy services you can contact yourself.",
        ]
    )
    workspace_counselling_resources: dict[str, list[str]] = Field(default_factory=dict)


class Settings(BaseSettings):
    """Every setting Rebound reads. ``config.example.toml`` documents each one."""

    model_config = SettingsConfigDict(
        env_prefix="REBOUND_", env_nested_delimiter="__", extra="forbid"
    )

    timezone: str = "UTC"
    flows_dir: Path = Path(__file__).resolve().parent.parent / "flows"
    data_dir: Path = Path("rebound-output")
    # Exports and progress charts are personal: each is deleted this many hours after it was
    # written (and at once by ``forget me``). At least an hour, time enough to deliver them.
    files_keep_hours: float = Field(default=24.0, ge=1, le=24 * 365)
    log_level: str = "WARNING"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    reminders: ReminderSettings = Field(default_factory=ReminderSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    coaching: CoachingSettings = Field(default_factory=CoachingSettings)

    _zone = field_validator("timezone")(classmethod(lambda cls, v: _check_zone(v)))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file (passed in as init values).
        return (env_settings, init_settings)

    def crisis_resources_for(self, workspace: str) -> list[str]:
        return self.coaching.workspace_crisis_resources.get(
            workspace, self.coaching.crisis_resources
        )

    def support_resources_for(self, workspace: str) -> list[str]:
        return self.coaching.workspace_support_resources.get(
            workspace, self.coaching.support_resources
        )

    def counselling_resources_for(self, workspace: str) -> list[str]:
        return self.coaching.workspace_counselling_resources.get(
            workspace, self.coaching.counselling_resources
        )


def find_config(explicit: str | Path | None = None) -> Path | None:
    """The config file to read, in order: explicit path, REBOUND_CONFIG, ./config.toml."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get("REBOUND_CONFIG"):
        return Path(env)
    default = Path("config.toml")
    return default if default.exists() else None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read settings, raising :class:`ConfigError` with one readable line on any mistake."""
    file = find_config(path)
    data: dict[str, Any] = {}
    if file is not None:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {file}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {file} is not valid TOML: {exc}") from None
    data.update(overrides)
    if problem := config_errors.unknown_variable(Settings):
        raise ConfigError(problem)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(config_errors.describe(exc, Settings)) from None
    except SettingsError as exc:  # a REBOUND_* section or list that is not valid JSON
        field = re.search(r'field "([^"]+)"', str(exc))
        raise ConfigError(
            config_errors.describe_unreadable(Settings, field and field.group(1))
        ) from None
