"""The terminal's :class:`~bot.conversation.sender.Sender`: reminders printed into ``rebound chat``.

The chat's scheduler runs in a background thread while the person types, so printing takes a
lock and each reminder is written whole, rendered exactly like a reply (numbered choices).
Answering it is an ordinary line in the chat: the conversation already sits on the nudge.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from bot.conversation.messages import Reply, UserKey
from bot.conversation.sender import DeliveryFailed, Recipient
from bot.platforms.terminal.convert import PLATFORM, to_text


class ConsoleSender:
    """Prints reminders for the one person at this terminal."""

    platform = PLATFORM

    def __init__(
        self,
        write: Callable[[str], None],
        user: UserKey | None = None,
        show: Callable[[list[Reply]], object] | None = None,
    ) -> None:
        self._write = write
        # The chat's own ``Console.show``: the reminder becomes what the next line answers.
        self._show = show
        self.user = user
        self.delivered = 0
        self._lock = threading.Lock()

    def deliver(self, recipient: Recipient, replies: Sequence[Reply]) -> None:
        """Print the replies; someone else's reminder is not ours to show (try again later)."""
        if self.user is not None and recipient.user != self.user:
            raise DeliveryFailed("that person is not at this terminal")
        with self._lock:
            self._write("")
            if self._show is not None:
                self._show(list(replies))
            else:
                for reply in replies:
                    self._write(to_text(reply))
                    self._write("")
            self.delivered += 1
