"""Which bot token speaks for which workspace: one configured token, or OAuth installations.

A careers office with one workspace pastes a bot token into the config. An app distributed to
many workspaces uses Slack's OAuth flow instead, and slack_sdk's ``SQLAlchemyInstallationStore``
keeps each workspace's token in our own database (its tables are in ``bot.storage.models`` and
created by our migrations, never by the SDK's ``create_tables``).

The SDK's async SQLAlchemy stores need an async database driver we do not otherwise use, so the
Bolt app (async) gets the sync stores run in a worker thread: the same rows, the same code, and
the scheduler process reads them synchronously for reminders.
"""

from __future__ import annotations

import asyncio
from typing import Any

from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine

from bot.config import Settings
from bot.platforms.slack.send import TokenLookup

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATE_SECONDS = 600


def uses_oauth(settings: Settings) -> bool:
    """OAuth when a client id is configured; otherwise the single-workspace bot token."""
    return bool(settings.slack.client_id)


def installation_store(settings: Settings, engine: Engine) -> SQLAlchemyInstallationStore:
    assert settings.slack.client_id, "OAuth needs slack.client_id"
    return SQLAlchemyInstallationStore(client_id=settings.slack.client_id, engine=engine)


def token_lookup(settings: Settings, engine: Engine | None = None) -> TokenLookup:
    """Workspace -> bot token, for senders that run outside the Bolt app (the scheduler)."""
    if not uses_oauth(settings):
        secret = settings.slack.bot_token
        token = secret.get_secret_value() if secret else None
        return lambda _workspace: token
    if engine is None:
        from bot.storage.db import Database

        engine = Database(settings.database.url).engine
    store = installation_store(settings, engine)

    def lookup(workspace: str) -> str | None:
        bot = store.find_bot(enterprise_id=None, team_id=workspace) or store.find_bot(
            enterprise_id=workspace, team_id=None, is_enterprise_install=True
        )
        return bot.bot_token if bot else None

    return lookup


def authorization_url(api_url: str) -> str:
    """Slack's consent page on the same host as the Web API (GovSlack has its own)."""
    base = api_url.rstrip("/").removesuffix("/api")
    return f"{base}/oauth/v2/authorize"


def oauth_settings(settings: Settings, engine: Engine, scopes: list[str]) -> AsyncOAuthSettings:
    """Bolt's OAuth flow (install page, redirect, token storage) backed by our database."""
    slack = settings.slack
    assert slack.client_id and slack.client_secret, "OAuth needs client_id and client_secret"
    return AsyncOAuthSettings(
        client_id=slack.client_id,
        client_secret=slack.client_secret.get_secret_value(),
        scopes=scopes,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=authorization_url(slack.api_url),
        installation_store=ThreadedInstallationStore(installation_store(settings, engine)),
        state_store=ThreadedStateStore(
            SQLAlchemyOAuthStateStore(expiration_seconds=STATE_SECONDS, engine=engine)
        ),
        state_expiration_seconds=STATE_SECONDS,
    )


class ThreadedInstallationStore(AsyncInstallationStore):
    """slack_sdk's sync SQLAlchemy installation store, each call run in a worker thread."""

    def __init__(self, store: SQLAlchemyInstallationStore) -> None:
        self.store = store

    @property
    def logger(self) -> Any:
        return self.store.logger

    async def async_save(self, installation: Installation) -> None:
        await asyncio.to_thread(self.store.save, installation)

    async def async_save_bot(self, bot: Bot) -> None:
        await asyncio.to_thread(self.store.save_bot, bot)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        return await asyncio.to_thread(
            lambda: self.store.find_bot(
                enterprise_id=enterprise_id,
                team_id=team_id,
                is_enterprise_install=is_enterprise_install,
            )
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        return await asyncio.to_thread(
            lambda: self.store.find_installation(
                enterprise_id=enterprise_id,
                team_id=team_id,
                user_id=user_id,
                is_enterprise_install=is_enterprise_install,
            )
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await asyncio.to_thread(
            lambda: self.store.delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        )

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await asyncio.to_thread(
            lambda: self.store.delete_installation(
                enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
            )
        )

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await asyncio.to_thread(
            lambda: self.store.delete_all(enterprise_id=enterprise_id, team_id=team_id)
        )


class ThreadedStateStore(AsyncOAuthStateStore):
    """slack_sdk's sync SQLAlchemy OAuth state store (shared by every HTTP process)."""

    def __init__(self, store: SQLAlchemyOAuthStateStore) -> None:
        self.store = store

    @property
    def logger(self) -> Any:
        return self.store.logger

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return await asyncio.to_thread(self.store.issue, *args, **kwargs)

    async def async_consume(self, state: str) -> bool:
        return await asyncio.to_thread(self.store.consume, state)
