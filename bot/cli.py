"""The ``rebound`` command. Heavy SDKs (Slack, Discord, matplotlib) are imported only by the
subcommands that need them, so ``rebound chat`` starts fast."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from bot.config import ConfigError, Settings, load_settings


def settings_from(ctx: click.Context) -> Settings:
    """The settings for a subcommand (also used by the lazily loaded ones)."""
    return _settings(ctx)


def engine_from(settings: Settings, db_url: str | None = None, now: str | None = None):  # type: ignore[no-untyped-def]
    return _engine(settings, db_url, now)


def _settings(ctx: click.Context) -> Settings:
    try:
        settings = load_settings(ctx.find_root().obj.get("config"))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return settings


def _clock(now: str | None, settings: Settings):  # type: ignore[no-untyped-def]
    """A clock that starts at ``now`` (in the configured zone) and then runs normally."""
    if not now:
        return None
    from zoneinfo import ZoneInfo

    from dateutil import parser

    try:
        start = parser.parse(now)
    except (ValueError, OverflowError):
        raise click.BadParameter(f"cannot read {now!r}; try '2026-11-30 09:00'") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(settings.timezone))
    offset: timedelta = start - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


def _engine(settings: Settings, db_url: str | None = None, now: str | None = None):  # type: ignore[no-untyped-def]
    """Open the database (migrating it if needed) and build the engine, or exit cleanly."""
    from bot.conversation.engine import Engine, FlowsInvalid
    from bot.storage.db import open_database

    db = open_database(db_url or settings.database.url)
    try:
        return Engine(db, settings, clock=_clock(now, settings))
    except FlowsInvalid as exc:
        raise click.ClickException(f"the flows have problems:\n{exc}") from None


# Subcommands that live beside the code they run, imported only when used (keeps start-up fast).
# Add one line per command: "name": "module:attribute of a click command".
LAZY_COMMANDS: dict[str, str] = {
    "discord": "bot.platforms.discord.cli:discord_group",
    "slack": "bot.platforms.slack.cli:slack",
    "scheduler": "bot.reminders.cli:scheduler",
    "run": "bot.reminders.cli:run",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            import importlib

            module, attr = LAZY_COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup)
@click.option("--config", "config", type=click.Path(dir_okay=False), help="Path to config.toml.")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """Rebound: a coach for the days after a job interview."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@main.command()
@click.option("--user", default="me", show_default=True, help="Whose conversation this is.")
@click.option("--db", "db_url", help="Database URL (default: the configured one).")
@click.option("--now", help="Pretend the time is this (e.g. '2026-11-30 09:00').")
@click.pass_context
def chat(ctx: click.Context, user: str, db_url: str | None, now: str | None) -> None:
    """Talk to Rebound in this terminal (no tokens needed)."""
    from bot.platforms.terminal.app import Console, user_key

    settings = _settings(ctx)
    engine = _engine(settings, db_url, now)
    key = user_key(user)
    console = Console(engine.handle, key)
    if console.interactive:
        console.write("Rebound, in your terminal. Type /quit to leave; your progress is saved.\n")
    from bot.reminders.cli import chat_reminders

    with chat_reminders(engine, console) as shown:  # due reminders are printed into the chat
        console.run([] if shown else engine.resume(key))


@main.group()
def flows() -> None:
    """Check or draw the conversation flows."""


@flows.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def flows_check(ctx: click.Context, directory: Path | None) -> None:
    """Validate every flow file; exit 1 if anything is wrong."""
    from bot.conversation.engine import load_checked
    from bot.conversation.registry import load_behaviour

    settings = _settings(ctx)
    folder = directory or settings.flows_dir
    if not folder.is_dir():
        raise click.ClickException(f"no such folder: {folder}")
    flows_, _messages, problems = load_checked(folder, load_behaviour())
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) in {folder}", err=True)
        sys.exit(1)
    states = sum(len(f.states) for f in flows_.values())
    click.echo(f"ok: {len(flows_)} flows, {states} states in {folder}")


@flows.command("graph")
@click.argument("flow")
@click.pass_context
def flows_graph(ctx: click.Context, flow: str) -> None:
    """Print a Mermaid state diagram of FLOW."""
    from bot.conversation.flows import load_flows, mermaid

    settings = _settings(ctx)
    loaded, _ = load_flows(settings.flows_dir)
    if flow not in loaded:
        raise click.ClickException(f"no flow named {flow!r}; known: {', '.join(sorted(loaded))}")
    click.echo(mermaid(loaded[flow]), nl=False)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every pending migration (run once per deployment, before the processes start)."""
    from bot.storage.db import Database

    settings = _settings(ctx)
    database = Database(settings.database.url)
    database.upgrade()
    click.echo("database is up to date")


if __name__ == "__main__":  # pragma: no cover
    main()
