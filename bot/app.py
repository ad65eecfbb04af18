"""The composition root: settings → database → behaviour → engine → senders → adapters.

Every ``rebound`` command builds what it needs here and nowhere else, so the arrows of the
program point one way: the core (``bot.conversation``) is handed its behaviour registry instead
of importing the domain, the scheduler is handed its senders instead of knowing the platforms,
and an adapter is handed an engine. Platforms are imported lazily (only the command that runs
Slack loads slack_bolt), which is what keeps ``rebound chat`` quick to start.

To add a platform: its package under ``bot/platforms/``, one line in :data:`SENDERS` (how to
build its reminder sender) and one in :data:`ADAPTERS` (how ``rebound run`` starts it).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.config import Settings, load_settings

if TYPE_CHECKING:
    import click

    from bot.conversation.engine import Engine
    from bot.conversation.registry import Registry
    from bot.conversation.sender import Sender
    from bot.storage.db import Database

log = logging.getLogger(__name__)


class ProblemsFound(Exception):
    """The flows cannot run (the message lists every problem with its file and state)."""


@dataclass
class Built:
    """What a command runs on: the settings, the database and the engine over them."""

    settings: Settings
    db: Database
    engine: Engine


def behaviour() -> Registry:
    """The registry of everything the flows may name: the coaching domain's contribution."""
    from bot.coaching import behaviour as coaching

    return coaching()


def clock_from(now: str | None, settings: Settings) -> Callable[[], datetime] | None:
    """A clock that starts at ``now`` (in the configured zone) and then runs normally."""
    if not now:
        return None
    from zoneinfo import ZoneInfo

    from dateutil import parser

    try:
        start = parser.parse(now)
    except (ValueError, OverflowError):
        raise ValueError(f"cannot read {now!r}; try '2026-11-30 09:00'") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(settings.timezone))
    offset: timedelta = start - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


def build(
    settings: Settings,
    db_url: str | None = None,
    clock: Callable[[], datetime] | None = None,
    registry: Registry | None = None,
) -> Built:
    """Open the database (migrating a new SQLite file) and build the engine over it."""
    from bot.conversation.engine import Engine, FlowsInvalid
    from bot.conversation.interpret import shared_encoder
    from bot.storage.db import open_database

    db = open_database(db_url or settings.database.url, settings=settings.database)
    try:
        engine = Engine(
            db,
            settings,
            registry if registry is not None else behaviour(),
            clock,
            encoder=shared_encoder,  # loads in the background; the first prompt doesn't wait
        )
    except FlowsInvalid as exc:
        raise ProblemsFound(f"the flows have problems:\n{exc}") from None
    return Built(settings, db, engine)


# ---------------------------------------------------------------------- senders


def _slack_sender(built: Built) -> Sender | None:
    slack = built.settings.slack
    if slack.bot_token is None and slack.client_id is None:
        return None
    from bot.platforms.slack.oauth import token_lookup
    from bot.platforms.slack.send import SlackSender

    tokens = token_lookup(built.settings, built.db.engine)
    return SlackSender(slack.api_url, tokens, built.engine.messages)


def _discord_sender(built: Built) -> Sender | None:
    if built.settings.discord.token is None:
        return None
    from bot.platforms.discord.send import DiscordSender

    engine = built.engine
    return DiscordSender(built.settings, engine.messages, on_outcome=engine.record_delivery)


# Platform -> how to build its reminder sender (None when it has no token). The terminal is not
# here: only `rebound chat` has a terminal to print on, and it makes its own.
SENDERS: dict[str, Callable[[Built], Sender | None]] = {
    "slack": _slack_sender,
    "discord": _discord_sender,
}


def senders(built: Built) -> dict[str, Sender]:
    """A sender for every platform that has its token configured; problems are logged."""
    out: dict[str, Sender] = {}
    for platform, factory in SENDERS.items():
        try:
            sender = factory(built)
        except ImportError as exc:
            log.error("no %s sender available (%s): its reminders stay queued", platform, exc)
            continue
        except ValueError as exc:
            log.error("%s sender not configured (%s)", platform, exc)
            continue
        if sender is not None:
            out[platform] = sender
    _staff_posters(built, out)
    return out


def _staff_posters(built: Built, out: dict[str, Sender]) -> None:
    """Staff-channel posting (the weekly digest) for a process that has senders but no
    adapter (``rebound scheduler``): the Discord sender posts itself; Slack gets a poster over
    the same tokens. An adapter running in the process has installed its own already."""
    posters = built.engine.posters
    if "discord" in out and hasattr(out["discord"], "post"):
        posters.setdefault("discord", out["discord"])
    if "slack" in out and "slack" not in posters:
        from bot.platforms.slack.oauth import token_lookup
        from bot.platforms.slack.send import SlackPoster

        tokens = token_lookup(built.settings, built.db.engine)
        posters["slack"] = SlackPoster(built.settings.slack.api_url, tokens)


# ---------------------------------------------------------------------- adapters

# Chat adapters `rebound run` can start: platform -> (is it configured?, its click command).
ADAPTERS: dict[str, tuple[Callable[[Settings], bool], str]] = {
    "slack": (
        lambda s: bool(s.slack.app_token and (s.slack.bot_token or s.slack.client_id)),
        "bot.platforms.slack.cli:slack",
    ),
    "discord": (lambda s: s.discord.token is not None, "bot.platforms.discord.cli:run"),
}


def adapter_command(name: str) -> click.Command:
    """The click command that runs adapter ``name`` (imported only now)."""
    module, attr = ADAPTERS[name][1].split(":")
    command: click.Command = getattr(importlib.import_module(module), attr)
    return command


@dataclass
class Root:
    """What the ``rebound`` command hands its subcommands (``ctx.obj["root"]``): the settings
    from the chosen config file, and the builders above. Platform commands use it through the
    :class:`bot.platforms.Composition` protocol, so they never import this module."""

    config: str | None = None
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        """The settings (read once); a wrong one stops the command with one line naming it."""
        import click

        from bot.config import ConfigError

        if self._settings is None:
            try:
                self._settings = load_settings(self.config)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from None
            logging.basicConfig(
                level=self._settings.log_level.upper(),
                format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            )
            from bot import log_privacy

            log_privacy.install()  # no person's words or tokens in any log line, at any level
        return self._settings

    def build(self, db_url: str | None = None, now: str | None = None) -> Built:
        """Settings → database → behaviour → engine, or a clean exit naming the problem."""
        import click

        settings = self.settings()
        try:
            clock = clock_from(now, settings)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        try:
            return build(settings, db_url, clock)
        except ProblemsFound as exc:
            raise click.ClickException(str(exc)) from None
