"""Posting replies to a Slack DM, shared by the Bolt app and the reminder :class:`SlackSender`.

One async code path renders and posts, so a reminder looks exactly like a reply in a
conversation (its buttons carry the step token and work when pressed days later). The sender
is synchronous, as the scheduler's worker threads expect, and runs that path on its own event
loop for each delivery; it needs only a bot token (or the OAuth installation store) and the
database URL, so it works from a separate scheduler process with no Bolt app running.

Every Web API client gets slack_sdk's rate-limit retry handler: the default handlers retry only
connection errors, and a 429 with ``Retry-After`` is routine when reminders go out in a burst.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.conversation.messages import Reply
from bot.conversation.sender import DeliveryFailed, Recipient
from bot.platforms.slack import convert as render

log = logging.getLogger(__name__)

# Errors that no retry will fix: the person or their DM is gone, or the app was removed.
PERMANENT_ERRORS = frozenset(
    {
        "user_not_found",
        "users_not_found",
        "account_inactive",
        "user_disabled",
        "cannot_dm_bot",
        "is_archived",
        "channel_not_found",
        "token_revoked",
        "team_access_not_granted",
        "missing_installation",
    }
)
RATE_LIMIT_RETRIES = 3
_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]+)&gt;")

# Workspace (team id) -> its bot token, or None when the app is not installed there.
TokenLookup = Callable[[str], str | None]


def web_client(api_url: str, token: str | None = None) -> AsyncWebClient:
    """An async Web API client for ``api_url`` (GovSlack and tests use other hosts)."""
    client = AsyncWebClient(token=token, base_url=api_url)
    client.retry_handlers.append(
        AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)
    )
    return client


async def open_dm(client: AsyncWebClient, user_id: str) -> str:
    """The app's DM channel with a person (the same one every time it is asked)."""
    response = await client.conversations_open(users=user_id)
    return str(response["channel"]["id"])


async def post_replies(
    client: AsyncWebClient,
    channel: str,
    replies: Sequence[Reply],
    words: Mapping[str, str],
    owner: str,
) -> None:
    """Post each reply in order; pictures and files are uploaded after their message.

    ``channel`` is ``owner``'s own DM and every button is bound to ``owner``: a reply is never
    addressed by what a payload claims. ``words`` are the chrome (the "Fill in" button, the
    menu's hint)."""
    for reply in replies:
        if reply.text.strip() or reply.choices or reply.form or reply.scale:
            message = render.to_message(
                reply, words["open_form"], owner=owner, pick=words.get("menu_placeholder", "")
            )
            await client.chat_postMessage(channel=channel, **message)
        if reply.image is not None:
            await client.files_upload_v2(
                channel=channel,
                file=reply.image.path,
                filename=Path(reply.image.path).name,
                title=reply.image.alt,
                alt_txt=reply.image.alt,
            )
        if reply.file is not None:
            await client.files_upload_v2(
                channel=channel, file=reply.file, filename=Path(reply.file).name
            )


def error_code(exc: SlackApiError) -> str:
    """Slack's error string (``channel_not_found``...), never the request or its token."""
    try:
        return str(exc.response.get("error") or "unknown_error")
    except AttributeError:
        return "unknown_error"


class SlackSender:
    """Delivers reminders as DMs through the Web API (the ``Sender`` protocol).

    ``tokens`` maps a workspace (team id) to its bot token: a fixed token for a single
    workspace, or a lookup in the OAuth installation store for an app installed in many.
    """

    platform = render.PLATFORM

    def __init__(self, api_url: str, tokens: TokenLookup, messages: Mapping[str, str]) -> None:
        self.api_url = api_url
        self.tokens = tokens
        self.words = {k: messages[k] for k in render.CHROME_KEYS if k in messages}

    @classmethod
    def from_settings(cls, settings: Settings, messages: Mapping[str, str]) -> SlackSender:
        """The sender for this deployment: the configured bot token, or the installation store."""
        from bot.platforms.slack.oauth import token_lookup

        return cls(settings.slack.api_url, token_lookup(settings), messages)

    def deliver(self, recipient: Recipient, replies: Sequence[Reply]) -> None:
        """Send the replies as DMs; raise DeliveryFailed (permanent when retrying can't help)."""
        token = self.tokens(recipient.user.workspace)
        if token is None:
            raise DeliveryFailed("missing_installation", permanent=True)
        try:
            asyncio.run(self._deliver(token, recipient, replies))
        except SlackApiError as exc:
            code = error_code(exc)
            raise DeliveryFailed(code, permanent=code in PERMANENT_ERRORS) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryFailed(f"network: {type(exc).__name__}") from None

    async def _deliver(self, token: str, recipient: Recipient, replies: Sequence[Reply]) -> None:
        client = web_client(self.api_url, token)
        channel = recipient.dm_channel or await open_dm(client, recipient.user.user_id)
        await post_replies(client, channel, replies, self.words, recipient.user.user_id)


class SlackPoster:
    """Posts what a person approved to share (a hand-off summary) to a staff channel, and
    deletes it when they withdraw it (the ``ChannelPoster`` protocol). The bot must be a member
    of the channel (staff invite it: docs/staff.md)."""

    platform = render.PLATFORM

    def __init__(self, api_url: str, tokens: TokenLookup) -> None:
        self.api_url = api_url
        self.tokens = tokens

    def post(self, workspace: str, channel: str, text: str) -> str:
        async def go(client: AsyncWebClient) -> str:
            head, _, rest = render.escape(text).partition("\n")
            head = _MENTION.sub(r"<@\1>", head)  # the person it is about, on the first line only
            sent = await client.chat_postMessage(
                channel=channel, text=f"{head}\n{rest}", unfurl_links=False
            )
            return str(sent["ts"])

        return self._call(workspace, go)

    def delete(self, workspace: str, channel: str, message_id: str) -> None:
        async def go(client: AsyncWebClient) -> str:
            try:
                await client.chat_delete(channel=channel, ts=message_id)
            except SlackApiError as exc:
                if error_code(exc) != "message_not_found":  # already gone is what we wanted
                    raise
            return message_id

        self._call(workspace, go)

    def _call(self, workspace: str, go: Callable[[AsyncWebClient], Any]) -> str:
        token = self.tokens(workspace)
        if token is None:
            raise DeliveryFailed("missing_installation", permanent=True)
        try:
            return str(asyncio.run(go(web_client(self.api_url, token))))
        except SlackApiError as exc:
            code = error_code(exc)
            raise DeliveryFailed(code, permanent=code in PERMANENT_ERRORS) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryFailed(f"network: {type(exc).__name__}") from None
