"""``rebound chat``: the terminal adapter, with an in-process scheduler for its reminders.

The chat runs a scheduler that prints the person's due reminders into the chat
(:func:`chat_reminders`). If another scheduler already holds the database, the chat says so and
carries on without reminders (one scheduler per database, always).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from bot.conversation.engine import Engine
from bot.platforms import composition
from bot.platforms.terminal.app import Console
from bot.platforms.terminal.convert import user_key
from bot.platforms.terminal.send import ConsoleSender


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
    from bot.reminders.lease import LeaseHeld
    from bot.reminders.scheduler import ReminderScheduler

    sender = ConsoleSender(console.write, console.user, show=console.show)
    scheduler = ReminderScheduler(
        engine,
        {sender.platform: sender},
        only={sender.platform: console.user.user_id},
        standby=True,
    )
    try:
        scheduler.start()
    except LeaseHeld:
        console.write(engine.messages["console_other_scheduler"] + "\n")
        yield False
        return
    except BaseException:  # Ctrl-C during the first pass: still give the lease back
        scheduler.stop()
        raise
    try:
        yield sender.delivered > 0
    finally:
        scheduler.stop()


@click.command("chat")
@click.option("--user", default="me", show_default=True, help="Whose conversation this is.")
@click.option("--db", "db_url", help="Database URL (default: the configured one).")
@click.option("--now", help="Pretend the time is this (e.g. '2026-11-30 09:00').")
@click.pass_context
def chat(ctx: click.Context, user: str, db_url: str | None, now: str | None) -> None:
    """Talk to Rebound in this terminal (no tokens needed)."""
    engine = composition(ctx).build(db_url, now).engine
    key = user_key(user)
    console = Console(
        engine.handle, key, goodbye=engine.messages["console_bye"], concerning=engine.concerning
    )
    if console.interactive:
        console.write(engine.messages["console_hello"] + "\n")
    with chat_reminders(engine, console) as shown:  # due reminders are printed into the chat
        console.run([] if shown else engine.resume(key))
