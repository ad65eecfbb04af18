"""How a reminder reaches a person: one ``Sender`` per platform, so the scheduler never knows which.

Senders are synchronous because the scheduler runs jobs in worker threads; a platform whose SDK
is async (discord.py) runs its coroutine on its own event loop inside ``deliver``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.conversation.messages import Reply, UserKey


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
