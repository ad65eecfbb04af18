"""The adapters: one package per platform, each the same shape (app or bot, convert, send, cli).

Platform packages never import each other, and nothing below this layer imports them (both are
``import-linter`` contracts in pyproject.toml). A platform's command gets what it runs on from
the composition root through :class:`Composition`, so it never imports ``bot.app`` either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import click

    from bot.config import Settings
    from bot.conversation.engine import Engine


class Built(Protocol):
    settings: Settings
    db: Any  # the Database: only Slack's installation store needs it (``db.engine``)
    engine: Engine


class Composition(Protocol):
    """The part of ``bot.app.Root`` a platform command uses."""

    def settings(self) -> Settings: ...

    def build(self, db_url: str | None = None, now: str | None = None) -> Built: ...


def composition(ctx: click.Context) -> Composition:
    """The composition root the ``rebound`` command put on the click context."""
    root: Composition = ctx.find_root().obj["root"]
    return root
