"""The Slack OAuth tables in our metadata match slack_sdk's own layout (which its stores use).

``bot.storage.models`` writes them out so the storage layer needs no platform SDK; this test is
what keeps the copy honest when slack_sdk changes its tables.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, Table

from bot.storage import models


def _shape(table: Table) -> tuple[object, ...]:
    columns = [
        (c.name, repr(c.type), c.primary_key, c.nullable, c.default is not None)
        for c in table.columns
    ]
    indexes = sorted((i.name, tuple(c.name for c in i.columns)) for i in table.indexes)
    return table.name, columns, indexes


def _sdk() -> dict[str, Table]:
    meta = MetaData()
    return {
        "slack_installations": SQLAlchemyInstallationStore.build_installations_table(
            meta, "slack_installations"
        ),
        "slack_bots": SQLAlchemyInstallationStore.build_bots_table(meta, "slack_bots"),
        "slack_oauth_states": SQLAlchemyOAuthStateStore.build_oauth_states_table(
            meta, "slack_oauth_states"
        ),
    }


@pytest.mark.parametrize(
    "ours", [models.SLACK_INSTALLATIONS, models.SLACK_BOTS, models.SLACK_OAUTH_STATES]
)
def test_our_copy_matches_slack_sdk(ours: Table) -> None:
    assert _shape(ours) == _shape(_sdk()[ours.name])


def test_storage_loads_no_platform_sdk() -> None:
    code = (
        "import sys, bot.storage.models; "
        "print(sorted(m for m in ('slack_sdk', 'slack_bolt', 'discord') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
