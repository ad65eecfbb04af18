"""The sender contract: how a message the bot starts (a reminder) reaches a person.

It lives in the core so that the reminders package and the platforms both depend on it and not
on each other: each platform implements :class:`Sender`, the composition root (``bot.app``)
builds one per configured platform and hands them to the scheduler. Senders are synchronous
because the scheduler runs jobs in worker threads; a platform whose SDK is async (discord.py)
runs its coroutine on its own event loop inside ``deliver``. What became of a delivery, as far as
the person is concerned, is an :class:`Outcome` given to ``Engine.record_delivery``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from bot.conversation.messages import Reply, UserKey


class Outcome(Enum):
    """Whether messages reach the person: ``UNREACHABLE`` stops reminders until they work."""

    DELIVERED = "delivered"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Recipient:
    user: UserKey
    # The platform's direct-message channel id, when the adapter recorded one.
    dm_channel: str | None = None


class DeliveryFailed(Exception):
    """Delivery did not happen. ``permanent`` means retrying will never help (blocked, left)."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Sender(Protocol):
    platform: str

    def deliver(self, recipient: Recipient, replies: Sequence[Reply]) -> None:
        """Send the replies as direct messages; raise :class:`DeliveryFailed` if it can't."""
        ...


class ChannelPoster(Protocol):
    """Posting to (and deleting from) a workspace's staff channel, for what a person explicitly
    approved to share (a hand-off summary). Never used for coaching, which stays in DMs."""

    platform: str

    def post(self, workspace: str, channel: str, text: str) -> str:
        """Post ``text``; the message's id. Raise :class:`DeliveryFailed` if it can't."""
        ...

    def delete(self, workspace: str, channel: str, message_id: str) -> None:
        """Delete a message posted by :meth:`post`; raise :class:`DeliveryFailed` if it can't."""
        ...
