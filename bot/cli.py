"""The ``rebound`` command. Each subcommand builds what it runs on through the composition root
(:mod:`bot.app`). Heavy SDKs (Slack, Discord, matplotlib) are imported only by the subcommands
that need them, so ``rebound chat`` starts fast.

Process shapes (one scheduler per database, always):

* ``rebound chat``: the terminal, with its own in-process scheduler for the person's reminders.
* ``rebound run``: a small install in one process: the scheduler plus every chat adapter that
  has its tokens configured.
* ``rebound scheduler``: the scheduler alone, beside N adapter processes (see ``Procfile``). It
  notices rows added by the other processes within ``reminders.poll_seconds``.

A second scheduler on the same database refuses to start (exit status 1) and says why.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.app import ADAPTERS, Built, Root, adapter_command, behaviour, senders

if TYPE_CHECKING:
    from bot.reminders.scheduler import ReminderScheduler

# Subcommands that live beside the code they run, imported only when used (keeps start-up fast).
# Add one line per command: "name": "module:attribute of a click command".
LAZY_COMMANDS: dict[str, str] = {
    "chat": "bot.platforms.terminal.cli:chat",
    "discord": "bot.platforms.discord.cli:discord_group",
    "slack": "bot.platforms.slack.cli:slack",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[name].split(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, name)


def root(ctx: click.Context) -> Root:
    found: Root = ctx.find_root().obj["root"]
    return found


@click.group(cls=LazyGroup)
@click.option("--config", "config", type=click.Path(dir_okay=False), help="Path to config.toml.")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """Rebound: a coach for the days after a job interview."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    ctx.obj["root"] = Root(config)


# ---------------------------------------------------------------------- flows


@main.group()
def flows() -> None:
    """Check or draw the conversation flows."""


@flows.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def flows_check(ctx: click.Context, directory: Path | None) -> None:
    """Validate every flow file; exit 1 if anything is wrong."""
    from bot.conversation.flow_check import errors, load_checked

    settings = root(ctx).settings()
    folder = directory or settings.flows_dir
    if not folder.is_dir():
        raise click.ClickException(f"no such folder: {folder}")
    flows_, _messages, problems = load_checked(folder, behaviour())
    if not errors(problems):
        from bot.conversation.interpret import close_examples, shared_encoder

        encoder = shared_encoder()  # None without the model package: the check is skipped
        if encoder is not None:
            problems += close_examples(flows_, encoder)
    for problem in problems:
        click.echo(str(problem), err=True)
    if errors(problems):
        click.echo(f"{len(errors(problems))} problem(s) in {folder}", err=True)
        sys.exit(1)
    states = sum(len(f.states) for f in flows_.values())
    click.echo(f"ok: {len(flows_)} flows, {states} states in {folder}")


@flows.command("graph")
@click.argument("flow")
@click.pass_context
def flows_graph(ctx: click.Context, flow: str) -> None:
    """Print a Mermaid state diagram of FLOW."""
    from bot.conversation.flow_graph import mermaid
    from bot.conversation.flow_loader import load_flows

    settings = root(ctx).settings()
    loaded, _ = load_flows(settings.flows_dir)
    if flow not in loaded:
        raise click.ClickException(f"no flow named {flow!r}; known: {', '.join(sorted(loaded))}")
    click.echo(mermaid(loaded[flow]), nl=False)


# ---------------------------------------------------------------------- db


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every pending migration (run once per deployment, before the processes start)."""
    from bot.storage.db import Database

    settings = root(ctx).settings()
    database = Database(settings.database.url, settings=settings.database)
    database.upgrade()
    click.echo("database is up to date")


@main.command("insights")
@click.option("--workspace", required=True, help="The Slack team id or Discord server id.")
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="First day counted (YYYY-MM-DD); rounded back to its Monday.",
)
@click.option(
    "--platform",
    type=click.Choice(["slack", "discord", "terminal"]),
    default="slack",
    show_default=True,
)
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--chart", "chart_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db", "db_url", help="Database URL (default: the configured one).")
@click.pass_context
def insights(
    ctx: click.Context,
    workspace: str,
    since: Any,
    platform: str,
    csv_file: Path | None,
    chart_file: Path | None,
    db_url: str | None,
) -> None:
    """Anonymous figures for one workspace or server (any from fewer than 5 people hidden)."""
    from bot.coaching import insights as figures
    from bot.coaching.community import resolve
    from bot.coaching.files import write_private

    built = root(ctx).build(db_url)
    words = built.engine.messages
    with built.db.transaction() as session:
        zone = resolve(session, built.settings, platform, workspace).settings.timezone
        data = figures.compute(
            session, platform, workspace[:64], figures.monday(since.date()), zone
        )
    click.echo(figures.to_text(data, words))
    if csv_file is not None:
        write_private(csv_file, figures.to_csv(data, words).encode("utf-8"))
        click.echo(f"csv: {csv_file}")
    if chart_file is not None:
        chart_words = {k: words[k] for k in figures.CHART_WORDS}
        chart_file.unlink(missing_ok=True)
        figures.draw_chart(chart_file, data, chart_words)
        click.echo(f"chart: {chart_file}")


# ---------------------------------------------------------------------- scheduler and run


def _wait(scheduler: ReminderScheduler) -> None:
    """Block until the scheduler stops by itself (lease lost); Ctrl-C and SIGTERM interrupt."""
    while not scheduler.stopped.wait(1.0):
        pass


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _build(built: Built, standby: bool) -> ReminderScheduler:
    from bot.reminders.scheduler import ReminderScheduler

    found = senders(built)
    if not found:
        click.echo(
            "warning: no chat platform has a token configured, so reminders stay queued",
            err=True,
        )
    scheduler = ReminderScheduler(built.engine, found, standby=standby)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops cleanly, like Ctrl-C
    return scheduler


def _start(scheduler: ReminderScheduler) -> None:
    """Take the lease (waiting out one left by a crashed scheduler) and run the first pass."""
    from bot.reminders.lease import LeaseHeld

    try:
        scheduler.start(wait=scheduler.lease.ttl.total_seconds() + 1)
    except LeaseHeld as exc:
        raise click.ClickException(str(exc)) from None


def _stop(scheduler: ReminderScheduler) -> None:
    """Stop once: a second SIGTERM while the delivery in flight finishes is ignored."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    scheduler.stop()


@main.command("scheduler")
@click.option("--db", "db_url", help="Database URL (default: the configured one).")
@click.option("--now", help="Pretend the time is this (for trying things out).")
@click.pass_context
def scheduler(ctx: click.Context, db_url: str | None, now: str | None) -> None:
    """Send reminders: the one scheduler process for this database."""
    running = _build(root(ctx).build(db_url, now), standby=False)
    try:
        _start(running)
        platforms = ", ".join(sorted(running.senders)) or "no platforms"
        click.echo(f"Rebound scheduler running ({platforms}); Ctrl-C to stop.")
        _wait(running)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(running)
    if running.lease_lost:
        raise click.ClickException(
            f"stopped: another scheduler holds this database's lease ({running.lease.other})"
        )


@main.command("run")
@click.option("--db", "db_url", help="Database URL (default: the configured one).")
@click.pass_context
def run(ctx: click.Context, db_url: str | None) -> None:
    """Everything in one process: the scheduler and every configured chat adapter."""
    settings = root(ctx).settings()
    running = _build(root(ctx).build(db_url), standby=True)
    wanted = [name for name, (configured, _) in ADAPTERS.items() if configured(settings)]
    missing = sorted(set(ADAPTERS) - set(wanted))
    try:
        _start(running)
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
        _stop(running)


def _adapter(ctx: click.Context, name: str, db_url: str | None) -> Any:
    """Run one adapter's own command (it blocks until the adapter stops)."""
    command = adapter_command(name)
    kwargs = {"db_url": db_url} if any(p.name == "db_url" for p in command.params) else {}
    with ctx.scope(cleanup=False):
        return ctx.invoke(command, **kwargs)


if __name__ == "__main__":  # pragma: no cover
    main()
