"""``rebound discord``: run the bot (the default), sync its commands, or print its invite link.

Imported only when the ``discord`` subcommand is used, so ``rebound chat`` never loads
discord.py. The token comes from the config (``discord.token`` or ``REBOUND_DISCORD__TOKEN``)
and is never printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from typing import TYPE_CHECKING

import click

from bot.config import Settings
from bot.platforms import composition

if TYPE_CHECKING:
    import discord

# The bot never posts in a channel: it answers interactions (which need no permission) and
# sends DMs (which need a shared server, hence the "bot" scope, but no permission either).
INVITE_SCOPES = ("bot", "applications.commands")
INVITE_PERMISSIONS = 0
MISSING_ACCESS = 50001  # Discord's code when the bot is not in the server it names


def _token(settings: Settings) -> str:
    if settings.discord.token is None:
        raise click.ClickException(
            "discord.token is not set (config file or REBOUND_DISCORD__TOKEN)"
        )
    return settings.discord.token.get_secret_value()


@click.group("discord", invoke_without_command=True)
@click.pass_context
def discord_group(ctx: click.Context) -> None:
    """Run Rebound on Discord (same as `rebound discord run`)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(run)


@discord_group.command("run")
@click.option("--db", "db_url", help="Database URL (default: the configured one).")
@click.pass_context
def run(ctx: click.Context, db_url: str | None) -> None:
    """Connect to Discord and answer DMs and /rebound commands until stopped."""
    from bot.platforms.discord.bot import ReboundBot

    settings = composition(ctx).settings()
    token = _token(settings)
    bot = ReboundBot(composition(ctx).build(db_url).engine, settings)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the client is closed on the way
            asyncio.run(serve(bot, token))
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)  # ``rebound run``'s own handler, say


async def serve(bot: discord.Client, token: str) -> None:
    """Run the bot until it is closed; SIGTERM closes it cleanly, like Ctrl-C.

    ``Client.run`` only handles Ctrl-C, so a deployment's SIGTERM used to kill the process
    mid-turn with no gateway close (Discord then keeps the session, and the bot's presence,
    until it times out). Here SIGTERM closes the client: the gateway gets its close frame
    (1000), the HTTP session is closed, and the process exits 0. Logging is configured by
    the settings, so discord.py's own handler is not installed."""
    loop = asyncio.get_running_loop()
    if threading.current_thread() is threading.main_thread():
        loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(bot.close()))
    async with bot:
        await bot.start(token)


@discord_group.command("sync")
@click.pass_context
def sync(ctx: click.Context) -> None:
    """Register the /rebound commands now (one server if dev_guild_id is set, else global)."""
    from bot.platforms.discord.bot import ReboundBot, sync_commands

    settings = composition(ctx).settings()
    token = _token(settings)
    bot = ReboundBot(composition(ctx).build().engine, settings, auto_sync=False)

    async def go() -> str | None:
        async with bot:
            await bot.login(token)  # REST only: no gateway connection is needed to sync
            return await sync_commands(bot.tree, settings, force=True)

    from discord import HTTPException

    try:
        scope = asyncio.run(go())
    except HTTPException as exc:
        raise click.ClickException(sync_refused(settings, exc.status, exc.code)) from None
    click.echo(f"commands synced ({scope})")


def sync_refused(settings: Settings, status: int, code: int) -> str:
    """One line for an operator when Discord refuses the sync, naming the fix where we know it.

    403 50001 on a server sync almost always means the bot was never added to ``dev_guild_id``
    (or was removed): Discord answers "Missing Access" and discord.py raises ``Forbidden``."""
    gid = settings.discord.dev_guild_id
    if code == MISSING_ACCESS and gid and not settings.discord.global_commands:
        return (
            f"Discord refused the sync (HTTP 403, code 50001): the bot is not in server {gid}. "
            "Add it with the link from `rebound discord invite`, or set discord.dev_guild_id "
            "to a server it is in (or discord.global_commands = true)."
        )
    return f"Discord refused the sync (HTTP {status}, code {code}); nothing was registered."


@discord_group.command("invite")
@click.pass_context
def invite(ctx: click.Context) -> None:
    """Print the link that adds the bot to a server, with only what it needs."""
    from discord import Permissions
    from discord.utils import oauth_url

    settings = composition(ctx).settings()
    app_id = settings.discord.application_id
    if not app_id:
        raise click.ClickException("discord.application_id is not set")
    click.echo(oauth_url(app_id, permissions=Permissions(INVITE_PERMISSIONS), scopes=INVITE_SCOPES))
