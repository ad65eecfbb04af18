"""The Discord adapter: gateway events in, engine turns, DMs out. Translation only.

* DMs are the conversation. ``/rebound <subcommand>`` works in a server too: the answer there is
  ephemeral ("I've sent you a DM") and the coaching continues in DMs, so nothing personal is
  ever posted in a channel. If the person does not accept DMs (error 50007) they get an
  ephemeral hint instead and the failure is recorded, which stops reminders.
* Buttons, select menus and "fill in" buttons are ``DynamicItem`` templates registered in
  ``setup_hook``: their ``custom_id`` carries the engine's step token, so a press on a message
  sent before a restart still works, or the engine says clearly that it is out of date.
  Modal submissions are read from the raw payload for the same reason.
* Every interaction is acknowledged before the engine runs (button presses by disabling the
  used buttons), and the engine, which is synchronous, runs in a thread executor.
* Application commands are synced only when their hash changes (or by ``rebound discord
  sync``), never in ``on_ready``, which fires on every reconnect.

After each handled event the client dispatches ``rebound_handled`` with the Discord id of the
event (message or interaction), for metrics and for tests that must know the handler ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import discord
from discord import app_commands, ui

from bot.config import Settings
from bot.conversation.engine import Engine
from bot.conversation.messages import Form, Inbound, UserKey
from bot.conversation.sender import Outcome
from bot.platforms.discord import convert as render
from bot.platforms.discord.send import CANNOT_DM, send_replies, use_endpoints

log = logging.getLogger(__name__)

HASH_FILE = "discord-commands.sha256"


def intents() -> discord.Intents:
    """Only DM messages. Discord delivers DM content without the privileged message-content
    intent, and interactions need no intent at all."""
    wanted = discord.Intents.none()
    wanted.dm_messages = True
    return wanted


class ChoiceButton(ui.DynamicItem[ui.Button[Any]], template=render.CHOICE):
    def __init__(self, token: str, choice: str) -> None:
        super().__init__(ui.Button(custom_id=render.choice_id(token, choice)))
        self.token, self.choice = token, choice

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str]
    ) -> ChoiceButton:
        return cls(match["token"], match["choice"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).on_choice(interaction, self.token, self.choice, self.custom_id)


class ChoiceSelect(ui.DynamicItem[ui.Select[Any]], template=render.SELECT):
    def __init__(self, token: str, index: int) -> None:
        super().__init__(ui.Select(custom_id=render.select_id(token, index)))
        self.token = token

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str]
    ) -> ChoiceSelect:
        return cls(match["token"], int(match["index"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        values = (interaction.data or {}).get("values") or [""]
        picked = str(values[0])
        await _bot(interaction).on_choice(interaction, self.token, picked, self.custom_id)


class FormButton(ui.DynamicItem[ui.Button[Any]], template=render.FORM):
    def __init__(self, token: str, part: int, parts: int) -> None:
        super().__init__(ui.Button(custom_id=render.form_id(token, part, parts)))
        self.token, self.part = token, part

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str]
    ) -> FormButton:
        return cls(match["token"], int(match["part"]), int(match["parts"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).on_form_button(interaction, self.token, self.part)


def _bot(interaction: discord.Interaction) -> ReboundBot:
    return cast(ReboundBot, interaction.client)


def command_scope(settings: Settings) -> str:
    """Where commands live: one server while developing (instant), or everywhere."""
    gid = settings.discord.dev_guild_id
    return "global" if settings.discord.global_commands or not gid else f"guild:{gid}"


def commands_hash(tree: app_commands.CommandTree[Any], scope: str) -> str:
    payload = [cmd.to_dict(tree) for cmd in tree.get_commands()]
    blob = json.dumps({"scope": scope, "commands": payload}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


async def sync_commands(
    tree: app_commands.CommandTree[Any], settings: Settings, force: bool = False
) -> str | None:
    """Register the commands with Discord if they changed since the last sync (the hash is kept
    in ``data_dir``), or always with ``force``. Returns the scope synced, or None if skipped."""
    scope = command_scope(settings)
    digest = commands_hash(tree, scope)
    path = settings.data_dir / HASH_FILE
    if not force and path.is_file() and path.read_text(encoding="utf-8").strip() == digest:
        return None
    if scope == "global":
        await tree.sync()
    else:
        guild = discord.Object(int(scope.removeprefix("guild:")))
        tree.copy_global_to(guild=guild)
        await tree.sync(guild=guild)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(digest + "\n", encoding="utf-8")
    log.info("application commands synced (%s)", scope)
    return scope


def build_commands(
    descriptions: dict[str, str], group_description: str, handler: Any
) -> app_commands.Group:
    """``/rebound <subcommand>``, usable in servers and in DMs with the bot."""
    group = app_commands.Group(
        name="rebound",
        description=group_description,
        allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True),
        allowed_installs=app_commands.AppInstallationType(guild=True),
    )

    def make(sub: str) -> Any:
        async def callback(interaction: discord.Interaction) -> None:
            await handler(interaction, sub)

        return callback

    for sub, description in descriptions.items():
        group.add_command(
            app_commands.Command(name=sub, description=description, callback=make(sub))
        )
    return group


TURN_THREADS = 8  # engine turns at once (each holds one pooled database connection)
QUICK_THREADS = 2  # reads that come before an interaction's first response
QUICK_SECONDS = 2.0  # Discord allows 3 s for that response


class BotPoster:
    """Posts what a person approved to share (a hand-off summary) to a server's staff channel
    through this client, and deletes it on withdrawal (the ``ChannelPoster`` protocol). Called
    from the engine's worker thread, it runs on the client's loop. Mentions never ping."""

    platform = render.PLATFORM
    timeout = 20.0

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    def post(self, workspace: str, channel: str, text: str) -> str:
        async def go() -> str:
            target = self.client.get_partial_messageable(int(channel))
            sent = await target.send(
                content=text[: render.CONTENT_LIMIT],
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return str(sent.id)

        return self._run(go())

    def delete(self, workspace: str, channel: str, message_id: str) -> None:
        async def go() -> str:
            target = self.client.get_partial_messageable(int(channel))
            with contextlib.suppress(discord.NotFound):  # already gone is what we wanted
                await target.get_partial_message(int(message_id)).delete()
            return message_id

        self._run(go())

    def _run(self, coro: Any) -> str:
        from bot.conversation.sender import DeliveryFailed

        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.client.loop)
            return str(future.result(self.timeout))
        except (discord.HTTPException, ValueError) as exc:
            raise DeliveryFailed(f"Discord error {getattr(exc, 'code', '') or 'bad id'}") from None
        except TimeoutError:
            raise DeliveryFailed("Discord did not answer in time") from None


class ReboundBot(discord.Client):
    """A discord.py client that translates between Discord and :class:`Engine`."""

    def __init__(
        self, engine: Engine, settings: Settings, *, auto_sync: bool = True, **options: Any
    ) -> None:
        use_endpoints(settings.discord)
        app_id = settings.discord.application_id
        super().__init__(
            intents=intents(), application_id=int(app_id) if app_id else None, **options
        )
        self.engine = engine
        self.settings = settings
        self.auto_sync = auto_sync
        self.tree: app_commands.CommandTree[ReboundBot] = app_commands.CommandTree(self)
        self.tree.add_command(
            build_commands(
                render.subcommand_descriptions(engine.commands_for_slash()),
                engine.title,
                self.on_command,
            )
        )
        self.tree.error(self._on_command_error)
        self._locks: weakref.WeakValueDictionary[UserKey, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        engine.posters.setdefault(render.PLATFORM, BotPoster(self))
        # Turns in their own threads; what must happen before an interaction's first response
        # (the current form, for a "fill in" button's modal) in others, so it never queues
        # behind turns that wait on a row lock or the encoder.
        self._turns = ThreadPoolExecutor(TURN_THREADS, thread_name_prefix="rebound-turn")
        self._quick = ThreadPoolExecutor(QUICK_THREADS, thread_name_prefix="rebound-quick")

    async def close(self) -> None:
        await super().close()
        self._turns.shutdown(wait=False, cancel_futures=True)
        self._quick.shutdown(wait=False, cancel_futures=True)

    async def _on_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """A slash command discord.py cannot run still gets an answer, ephemeral: above all a
        name we no longer have (a member's picker keeps old commands until Discord refreshes
        it), which would otherwise show "The application did not respond"."""
        try:
            if isinstance(error, app_commands.CommandNotFound):
                key = "unknown_command"
            else:
                key = "error"
                log.error("slash command failed: %s", type(error).__name__)
            if not interaction.response.is_done():
                await interaction.response.send_message(
                    self.engine.messages[key], ephemeral=True
                )
        except discord.HTTPException as exc:
            log.warning("could not answer a slash command: HTTP %s", exc.status)
        finally:
            self.dispatch("rebound_handled", interaction.id)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ChoiceButton, ChoiceSelect, FormButton)
        if self.auto_sync:
            try:
                await sync_commands(self.tree, self.settings)
            except discord.HTTPException as exc:  # DMs still work; try again next start
                log.warning(
                    "could not sync application commands: HTTP %s, code %s%s",
                    exc.status,
                    exc.code,
                    " (the bot is not in dev_guild_id's server)" if exc.code == 50001 else "",
                )

    # ------------------------------------------------------------------ events

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is not None:
            return
        try:
            await self._turn(render.message_to_inbound(message), message.channel)
        except discord.HTTPException:
            pass  # logged by _turn; there is nowhere else to say it
        finally:
            self.dispatch("rebound_handled", message.id)

    async def on_command(self, interaction: discord.Interaction, subcommand: str) -> None:
        """``/rebound <subcommand>``: acknowledge privately, then talk in DMs."""
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            note = await self._command_turn(interaction, subcommand)
            if note is None:
                await interaction.delete_original_response()
            else:
                await interaction.edit_original_response(content=note)
        except discord.HTTPException as exc:  # never leave the person looking at "thinking..."
            log.warning("/rebound %s failed: HTTP %s, code %s", subcommand, exc.status, exc.code)
            with contextlib.suppress(discord.HTTPException):
                await interaction.edit_original_response(content=self.engine.messages["error"])
        finally:
            self.dispatch("rebound_handled", interaction.id)

    async def _command_turn(self, interaction: discord.Interaction, subcommand: str) -> str | None:
        """Run the command in the person's DM; what to say where it was used (None: nothing).

        Discord may refuse to open the DM channel itself (50007), not only the message in it;
        both mean the same to the person, so both get the hint and are recorded."""
        staff = self.engine.is_staff_command(subcommand.replace("-", " "))
        inbound = render.command_to_inbound(interaction, subcommand, staff=staff)
        try:
            channel = interaction.user.dm_channel or await interaction.user.create_dm()
        except discord.Forbidden as exc:
            if exc.code != CANNOT_DM:
                raise
            await self._record(inbound.user, delivered=False)
            return self.engine.messages["dm_blocked"]
        if not await self._turn(inbound, channel):
            return self.engine.messages["dm_blocked"]
        if interaction.guild_id is None:
            return None  # already in the DM: the conversation speaks for itself
        await self._record(inbound.user, delivered=True)
        return self.engine.messages["moved_to_dm"]

    async def on_choice(
        self, interaction: discord.Interaction, token: str, choice: str, custom_id: str
    ) -> None:
        """A button or select option: disable the used components first (that is the ack)."""
        try:
            picked = choice if custom_id.startswith("rb:s:") else None
            await self._disable(interaction, pressed=custom_id, picked=picked)
            inbound = render.choice_to_inbound(interaction, token, choice)
            await self._turn(inbound, await self._channel(interaction))
        finally:
            self.dispatch("rebound_handled", interaction.id)

    async def on_form_button(self, interaction: discord.Interaction, token: str, part: int) -> None:
        """Open the modal for one part of the current form; the first response must be it."""
        try:
            try:
                form = await self._current_form(render.user_key(interaction.user.id), token)
            except TimeoutError:  # the database is slow: answer in time, the button still works
                log.warning("the form for a Discord button took too long to read")
                await interaction.response.defer()
                channel = await self._channel(interaction)
                await channel.send(self.engine.messages["error"])
                return
            if form is not None and part < len(render.form_parts(form)):
                await interaction.response.send_modal(render.to_modal(form, token, part))
                return
            # Not the current step any more: the engine explains and shows where we are.
            await self._disable(interaction)
            inbound = render.form_to_inbound(interaction, token, {})
            await self._turn(inbound, await self._channel(interaction))
        finally:
            self.dispatch("rebound_handled", interaction.id)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Modal submissions (read from the raw payload), and every button, menu or modal whose
        ``custom_id`` none of ours matches (an old id scheme, a malformed id): those would
        otherwise get no answer at all, and Discord would show "This interaction failed"."""
        data = cast(dict[str, Any], interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        if interaction.type is discord.InteractionType.component:
            if not render.is_ours(custom_id, interaction.message):
                await self._unknown(interaction)
            return
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        match = render.MODAL.fullmatch(custom_id)
        if match is None:
            await self._unknown(interaction)
            return
        try:
            await self._modal_submitted(
                interaction, match["token"], int(match["part"]), int(match["parts"]), data
            )
        finally:
            self.dispatch("rebound_handled", interaction.id)

    async def _unknown(self, interaction: discord.Interaction) -> None:
        """Answer a component or modal we cannot read: acknowledge it (disabling the old
        message's components), then the engine's "that belongs to an earlier message" and the
        current question, as for any out-of-date press."""
        try:
            await self._disable(interaction)
            inbound = render.form_to_inbound(interaction, render.NO_TOKEN, {})
            await self._turn(inbound, await self._channel(interaction))
        finally:
            self.dispatch("rebound_handled", interaction.id)

    # ------------------------------------------------------------------ helpers

    async def _modal_submitted(
        self,
        interaction: discord.Interaction,
        token: str,
        part: int,
        parts: int,
        data: dict[str, Any],
    ) -> None:
        values = render.modal_values(data)
        await self._disable(interaction)
        channel = await self._channel(interaction)
        if parts > 1:
            try:
                form = await self._current_form(render.user_key(interaction.user.id), token)
            except TimeoutError:  # acknowledged already; what was typed is not guessed at
                log.warning("the form for a Discord modal took too long to read")
                await channel.send(self.engine.messages["error"])
                return
            if form is not None:
                values = {**render.carried_values(interaction.message, form, part), **values}
                if part + 1 < len(render.form_parts(form)):
                    out = render.continue_message(
                        form, token, part + 1, values, self.engine.messages["open_form"]
                    )
                    await channel.send(**out.send_kwargs())
                    return
        await self._turn(render.form_to_inbound(interaction, token, values), channel)

    async def _turn(self, inbound: Inbound, channel: discord.abc.Messageable) -> bool:
        """One engine turn (in a thread: it is synchronous), its replies sent in order per person.

        Returns False when the person does not accept DMs (recorded, so reminders stop)."""
        lock = self._locks.get(inbound.user)
        if lock is None:
            lock = self._locks[inbound.user] = asyncio.Lock()
        async with lock:
            loop = asyncio.get_running_loop()
            replies = await loop.run_in_executor(self._turns, self.engine.handle, inbound)
            try:
                await send_replies(channel, replies, self.engine.messages["open_form"])
            except discord.Forbidden as exc:
                if exc.code != CANNOT_DM:
                    raise
                await self._record(inbound.user, delivered=False)
                return False
            except discord.HTTPException as exc:  # never lost without a word in the log
                log.warning(
                    "reply to a %s turn not delivered: HTTP %s, code %s",
                    inbound.user.platform,
                    exc.status,
                    exc.code,
                )
                raise
        return True

    async def _current_form(self, user: UserKey, token: str) -> Form | None:
        """The form of the person's current step, if ``token`` is still that step.

        Raises ``TimeoutError`` after ``QUICK_SECONDS``: Discord allows 3 s for the first
        response, and the caller must still make one."""
        loop = asyncio.get_running_loop()
        read = loop.run_in_executor(self._quick, self.engine.current_form, user, token)
        return await asyncio.wait_for(read, QUICK_SECONDS)

    async def _disable(
        self,
        interaction: discord.Interaction,
        pressed: str | None = None,
        picked: str | None = None,
    ) -> None:
        """Acknowledge by disabling the components of the message that was used."""
        try:
            if interaction.message is not None and interaction.message.components:
                view = render.disabled_view(interaction.message, pressed, picked)
                await interaction.response.edit_message(view=view)
            else:
                await interaction.response.defer()
        except discord.HTTPException as exc:  # expired or already answered: carry on regardless
            log.warning("could not acknowledge interaction: HTTP %s", exc.status)

    async def _channel(self, interaction: discord.Interaction) -> discord.abc.Messageable:
        """Where the conversation goes on: this DM, or a DM with the person if in a server."""
        if interaction.guild_id is None and isinstance(interaction.channel, discord.DMChannel):
            return interaction.channel
        return interaction.user.dm_channel or await interaction.user.create_dm()

    async def _record(self, user: UserKey, delivered: bool) -> None:
        loop = asyncio.get_running_loop()
        outcome = Outcome.DELIVERED if delivered else Outcome.UNREACHABLE
        await loop.run_in_executor(self._quick, self.engine.record_delivery, user, outcome)
