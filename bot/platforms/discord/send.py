"""Reminders to Discord users over REST only: no gateway connection, usable from the scheduler.

The scheduler calls :meth:`DiscordSender.deliver` from worker threads; discord.py is async, so
the sender keeps one event loop in a thread of its own and one logged-in client on it (logging
in once instead of per reminder). discord.py's HTTP client waits out rate limits (429 with
``Retry-After``) by itself. A person who does not accept DMs (error 50007) or no longer exists
is a permanent failure: it is reported through ``on_outcome`` (the composition root passes
``Engine.record_delivery``, which marks the person so reminders stop) and raised as
``DeliveryFailed(permanent=True)`` so the scheduler stops trying.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.config import DiscordSettings, Settings
from bot.conversation.messages import Reply, UserKey
from bot.conversation.sender import DeliveryFailed, Outcome, Recipient
from bot.platforms.discord import convert as render

log = logging.getLogger(__name__)

CANNOT_DM = 50007  # "Cannot send messages to this user"
UNKNOWN_USER = 10013
INVALID_RECIPIENT = 50033
PERMANENT_CODES = frozenset({CANNOT_DM, UNKNOWN_USER, INVALID_RECIPIENT})


def use_endpoints(settings: DiscordSettings) -> None:
    """Point discord.py at the configured REST and gateway addresses (loopback in tests).

    discord.py keeps both as class attributes, so this is process-wide, like the token."""
    Route.BASE = settings.api_base.rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


def is_permanent(exc: discord.HTTPException) -> bool:
    """True when retrying can never help: the person blocks DMs or does not exist."""
    return exc.code in PERMANENT_CODES


# A 429 without ``Via`` (Cloudflare's, not Discord's rate limiter) is raised by discord.py as a
# plain HTTPException instead of being waited out. We wait it out here, a few times, for as
# long as ``Retry-After`` says if that is short; a longer ban is raised for the caller to report.
BARE_429_TRIES = 3
BARE_429_MAX_WAIT = 10.0


def _bare_429_wait(exc: discord.HTTPException, attempt: int) -> float | None:
    """Seconds to wait before sending again, or None when waiting would not help."""
    if exc.status != 429:
        return None
    header = exc.response.headers.get("Retry-After") if exc.response is not None else None
    try:
        wait = float(header) if header is not None else 2.0**attempt
    except ValueError:
        wait = 2.0**attempt
    return max(0.0, wait) if wait <= BARE_429_MAX_WAIT else None


async def send_one(channel: discord.abc.Messageable, out: render.Outgoing) -> discord.Message:
    """Send one message; a 429 discord.py did not wait out is waited out and sent again, so a
    reply is never lost to it (each try sends the same message once: nothing is doubled)."""
    for attempt in range(BARE_429_TRIES):
        try:
            return await channel.send(**out.send_kwargs())
        except discord.HTTPException as exc:
            wait = _bare_429_wait(exc, attempt)
            if wait is None or attempt == BARE_429_TRIES - 1:
                raise
            log.warning("Discord answered 429 without rate-limit headers; retrying in %.1f s", wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


async def send_replies(
    channel: discord.abc.Messageable, replies: Sequence[Reply], open_form: str
) -> None:
    """Send replies in order, each rendered as one or more Discord messages."""
    for reply in replies:
        for out in render.to_messages(reply, open_form):
            await send_one(channel, out)


class DiscordSender:
    """The Discord :class:`~bot.conversation.sender.Sender`: DMs over REST from any process."""

    platform = render.PLATFORM

    def __init__(
        self,
        settings: Settings,
        messages: Mapping[str, str],
        on_outcome: Callable[[UserKey, Outcome], None] | None = None,
        timeout: float = 60.0,
    ) -> None:
        if settings.discord.token is None:
            raise ValueError("discord.token is not set")
        self._settings = settings.discord
        self._open_form = messages["open_form"]
        self._on_outcome = on_outcome
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: discord.Client | None = None
        self._login_lock: asyncio.Lock | None = None
        self._start_lock = threading.Lock()

    def deliver(self, recipient: Recipient, replies: Sequence[Reply]) -> None:
        """Send the replies as DMs; raise :class:`DeliveryFailed` if they cannot be."""
        if recipient.user.platform != self.platform:
            raise ValueError(f"not a Discord user: {recipient.user.platform}")
        future = asyncio.run_coroutine_threadsafe(self._deliver(recipient, replies), self._start())
        try:
            future.result(self._timeout)
        except FutureTimeout:
            future.cancel()
            raise DeliveryFailed("Discord did not answer in time") from None
        except DeliveryFailed as failed:
            if self._on_outcome is not None and failed.permanent:
                self._on_outcome(recipient.user, Outcome.UNREACHABLE)
            raise
        if self._on_outcome is not None:
            self._on_outcome(recipient.user, Outcome.DELIVERED)

    # ------------------------------------------------------------------ staff channels

    def post(self, workspace: str, channel: str, text: str) -> str:
        """Post to a server's staff channel (the ``ChannelPoster`` protocol), from any process:
        the weekly digest from the scheduler. Mentions never ping."""

        async def go() -> str:
            client = await self._login()
            target = client.get_partial_messageable(int(channel))
            sent = await target.send(
                content=text[: render.CONTENT_LIMIT],
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return str(sent.id)

        return self._staff_call(go())

    def delete(self, workspace: str, channel: str, message_id: str) -> None:
        async def go() -> str:
            client = await self._login()
            target = client.get_partial_messageable(int(channel))
            try:
                await target.get_partial_message(int(message_id)).delete()
            except discord.NotFound:  # already gone is what we wanted
                return message_id
            return message_id

        self._staff_call(go())

    def _staff_call(self, coro: Any) -> str:
        future = asyncio.run_coroutine_threadsafe(coro, self._start())
        try:
            return str(future.result(self._timeout))
        except FutureTimeout:
            future.cancel()
            raise DeliveryFailed("Discord did not answer in time") from None
        except (discord.HTTPException, ValueError) as exc:
            raise DeliveryFailed(f"Discord error {getattr(exc, 'code', '') or 'bad id'}") from None

    def close(self) -> None:
        """Log out and stop the sender's loop (idempotent)."""
        with self._start_lock:
            loop, thread, client = self._loop, self._thread, self._client
            self._loop = self._thread = self._client = None
        if loop is None or thread is None:
            return
        if client is not None:
            asyncio.run_coroutine_threadsafe(client.close(), loop).result(self._timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self._timeout)
        loop.close()

    # ------------------------------------------------------------------ on the sender's loop

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None:
                use_endpoints(self._settings)
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="discord-sender", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
                self._login_lock = asyncio.Lock()
            return self._loop

    async def _login(self) -> discord.Client:
        assert self._login_lock is not None
        async with self._login_lock:  # reminders due together log in once
            if self._client is None:
                # No intents and no gateway: login() is REST only (it checks the token).
                client = discord.Client(intents=discord.Intents.none())
                assert self._settings.token is not None
                try:
                    await client.login(self._settings.token.get_secret_value())
                except (discord.HTTPException, discord.LoginFailure) as exc:
                    await client.close()
                    raise DeliveryFailed(
                        f"cannot log in to Discord ({type(exc).__name__})"
                    ) from None
                self._client = client
            return self._client

    async def _deliver(self, recipient: Recipient, replies: Sequence[Reply]) -> None:
        client = await self._login()
        try:
            if recipient.dm_channel:
                channel: discord.abc.Messageable = client.get_partial_messageable(
                    int(recipient.dm_channel), type=discord.ChannelType.private
                )
            else:
                channel = await client.create_dm(discord.Object(int(recipient.user.user_id)))
            await send_replies(channel, replies, self._open_form)
        except discord.HTTPException as exc:
            permanent = is_permanent(exc)
            log.warning(
                "Discord delivery failed: HTTP %s, code %s%s",
                exc.status,
                exc.code,
                " (permanent)" if permanent else "",
            )
            raise DeliveryFailed(f"Discord error {exc.code or exc.status}", permanent) from None
        except discord.RateLimited as exc:  # only when a wait would exceed max_ratelimit_timeout
            raise DeliveryFailed(f"rate limited for {exc.retry_after:.0f} s") from None
