"""``rebound scheduler`` and ``rebound run``, and the in-process scheduler of ``rebound chat``.

Process shapes (one scheduler per database, always):

* ``rebound chat``: the terminal chat runs a scheduler in-process that prints the person's due
  reminders into the chat (:func:`chat_reminders`). If another scheduler already holds the
  database, the chat says so and carries on without reminders.
* ``rebound run``: a small install in one process: the scheduler plus every chat adapter that
  has its tokens configured.
* ``rebound scheduler``: the scheduler alone, beside N adapter processes (see ``Procfile``). It
  notices rows added by the other processes within ``reminders.poll_seconds``.

A second scheduler on the same database refuses to start (exit status 1) and says why.
"""

from __future__ import annotations

import importlib
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from bot.cli import engine_from, settings_from
from bot.config import Settings
from bot.conversation.engine import Engine
from bot.platforms.terminal.app import Console
from bot.platforms.terminal.send import ConsoleSender
from bot.reminders.delivery import configured_senders
from bot.reminders.lease import LeaseHeld
from bot.reminders.scheduler import ReminderScheduler

# Chat adapters `rebound run` can start: platform -> (is it configured?, its click command).
ADAPTERS: dict[str, tuple[Callable[[Settings], bool], str]] = {
    "slack": (
        lambda s: bool(s.slack.app_token and (s.slack.bot_token or s.slack.client_id)),
        "bot.platforms.slack.cli:slack",
    ),
    "discord": (lambda s: s.discord.token is not None, "bot.platforms.discord.cli:run"),
}


@contextmanager
def chat_reminders(engine: Engine, console: Console) -> Iterator[bool]:
    """Run the chat's scheduler while the chat lasts; yields True if a reminder was just shown.

    The first pass runs before the chat prints its opening, so ``rebound chat --now ...`` shows
    what fell due at once; the chat then skips its usual "where we were" line (the reminder is
    where they are now).
    """
    if not engine.settings.reminders.enabled:
        yield False
        return
    sender = ConsoleSender(console.write, console.user)
    scheduler = ReminderScheduler(
        engine, {sender.platform: sender}, only={sender.platform: console.user.user_id}
    )
    try:
        scheduler.start()
    except LeaseHeld:
        console.write("(Reminders are being sent by another Rebound process, not this chat.)\n")
        yield False
        return
    try:
        yield sender.delivered > 0
    finally:
        scheduler.stop()


def _wait(scheduler: ReminderScheduler) -> None:
    """Block until the scheduler stops by itself (lease lost); Ctrl-C and SIGTERM interrupt."""
    while not scheduler.stopped.wait(1.0):
        pass


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _start(engine: Engine) -> ReminderScheduler:
    senders = configured_senders(engine)
    if not senders:
        click.echo(
            "warning: no chat platform has a token configured, so reminders stay queued",
            err=True,
        )
    scheduler = ReminderScheduler(engine, senders)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops cleanly, like Ctrl-C
    try:
        scheduler.start()
    except LeaseHeld as exc:
        raise click.ClickException(str(exc)) from None
    return scheduler


@click.command("scheduler")
@click.option("--db", "db_url", help="Database URL (default: the configured one).")
@click.option("--now", help="Pretend the time is this (for trying things out).")
@click.pass_context
def scheduler(ctx: click.Context, db_url: str | None, now: str | None) -> None:
    """Send reminders: the one scheduler process for this database."""
    settings = settings_from(ctx)
    running = _start(engine_from(settings, db_url, now))
    try:
        platforms = ", ".join(sorted(running.senders)) or "no platforms"
        click.echo(f"Rebound scheduler running ({platforms}); Ctrl-C to stop.")
        _wait(running)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
    if running.lease_lost:
        raise click.ClickException("stopped: another scheduler took over this database")


@click.command("run")
@click.option("--db", "db_url", help="Database URL (default: the configured one).")
@click.pass_context
def run(ctx: click.Context, db_url: str | None) -> None:
    """Everything in one process: the scheduler and every configured chat adapter."""
    settings = settings_from(ctx)
    running = _start(engine_from(settings, db_url))
    wanted = [name for name, (configured, _) in ADAPTERS.items() if configured(settings)]
    missing = sorted(set(ADAPTERS) - set(wanted))
    try:
        if missing:
            click.echo(
                f"not starting {', '.join(missing)}: no token configured (see config.example.toml)",
                err=True,
            )
        if not wanted:
            click.echo("Rebound is running the scheduler only; Ctrl-C to stop.")
            _wait(running)
            return
        for name in wanted[:-1]:
            thread = threading.Thread(
                target=_adapter, args=(ctx, name, db_url), name=name, daemon=True
            )
            thread.start()
        _adapter(ctx, wanted[-1], db_url)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


def _adapter(ctx: click.Context, name: str, db_url: str | None) -> Any:
    """Run one adapter's own command (it blocks until the adapter stops)."""
    module, attr = ADAPTERS[name][1].split(":")
    command = getattr(importlib.import_module(module), attr)
    kwargs = {"db_url": db_url} if any(p.name == "db_url" for p in command.params) else {}
    with ctx.scope(cleanup=False):
        return ctx.invoke(command, **kwargs)
