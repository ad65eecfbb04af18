"""What an action sees during one turn: the person, their slots, the database session, the clock.

A :class:`TurnContext` lives for exactly one turn and one database transaction. Actions write
domain rows through ``ctx.session`` and add extra messages through ``ctx.say``; nothing is sent
until the transaction has committed, so a failed turn never leaves a half-sent conversation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.conversation.messages import Choice, Image, Inbound, Reply
from bot.storage.models import Conversation, User

if TYPE_CHECKING:
    from bot.config import Settings


@dataclass
class TurnContext:
    session: Session
    user: User
    conversation: Conversation
    inbound: Inbound
    now: datetime
    settings: Settings
    slots: dict[str, Any] = field(default_factory=dict)
    # The system messages (``flows/_messages.yaml``): every sentence code says comes from here.
    messages: Mapping[str, str] = field(default_factory=dict)
    extra: list[Reply] = field(default_factory=list)
    # An action asks to pause the conversation here (e.g. "stop for today" in the rejection flow).
    pause_requested: bool = False
    # An action deleted the person (``forget me``): nothing of this turn may be saved.
    forgotten: bool = False
    # Slow work that needs no database (drawing a chart) runs after the commit, so the
    # person's row lock (and SQLite's write lock) is never held for it.
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    # Platform -> its staff-channel poster (``ChannelPoster``), for what a person approved to
    # share; empty where no adapter provides one (the terminal).
    posters: Mapping[str, Any] = field(default_factory=dict)
    # The configured settings, before the person's workspace's own (``settings`` is those):
    # for code that must look at another workspace (an admin's).
    base_settings: Settings | None = None

    @property
    def settings_base(self) -> Settings:
        return self.base_settings or self.settings

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.user.timezone or self.settings.timezone)

    @property
    def local_now(self) -> datetime:
        return self.now.astimezone(self.zone)

    @property
    def today(self) -> date:
        return self.local_now.date()

    def say(
        self,
        text: str,
        choices: tuple[Choice, ...] = (),
        image: Image | None = None,
        file: str | None = None,
    ) -> None:
        """Queue an extra message, shown before the state's own text."""
        self.extra.append(Reply(text=text, choices=choices, image=image, file=file))

    def text(self, key: str, **values: Any) -> str:
        """The message ``key`` from ``_messages.yaml``, with ``{placeholders}`` from ``values``.

        A key the file lacks is a bug ``rebound flows check`` catches (behaviour modules declare
        their keys with ``Registry.uses_messages``), so it raises rather than say nothing.
        """
        template = self.messages[key]
        return template.format(**values) if values else template

    def slot_int(self, name: str) -> int | None:
        value = self.slots.get(name)
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None
