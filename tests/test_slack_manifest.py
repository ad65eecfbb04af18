"""slack/manifest.yml asks for exactly what the code uses: every scope and event both ways.

What the code uses is read from the code itself: the Web API methods called anywhere in
``bot/platforms/slack/*.py`` (by parsing it), the events registered, the slash command. Each
method's and event's scope comes from Slack's reference. A new API call without its scope in the
manifest fails here, and so does a scope or event nobody uses any more.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from slack_sdk.web.async_client import AsyncWebClient

from bot.cli import main
from bot.conversation.engine import Engine
from bot.platforms.slack import app as slack
from bot.platforms.slack.cli import MANIFEST

from .conftest import ROOT
from .fakes.slack_driver import SlackDriver, SlackHarness

# Web API method (as the SDK names it) -> bot scopes it needs (https://api.slack.com/methods).
METHOD_SCOPES: dict[str, set[str]] = {
    "auth_test": set(),
    "chat_postMessage": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_delete": {"chat:write"},  # a withdrawn hand-off, in a channel the bot was invited to
    "users_info": {"users:read"},  # is the person asking for /rebound admin a workspace admin?
    "conversations_open": {"im:write"},
    "conversations_history": {"im:history"},  # only ever on the app's own DM
    "views_open": set(),
    "views_publish": set(),
    "files_upload_v2": {"files:write"},
    "files_getUploadURLExternal": {"files:write"},
    "files_completeUploadExternal": {"files:write"},
    "apps_connections_open": set(),  # the app-level token's connections:write, not a bot scope
    "oauth_v2_access": set(),
}
# Event as the code registers it -> (manifest bot event, scopes it needs).
EVENT_SCOPES: dict[str, tuple[str, set[str]]] = {
    "message": ("message.im", {"im:history"}),  # DMs only: on_message ignores anything else
    "app_mention": ("app_mention", {"app_mentions:read"}),
    "app_home_opened": ("app_home_opened", set()),
    "app_uninstalled": ("app_uninstalled", set()),
    "tokens_revoked": ("tokens_revoked", set()),
}
SOURCES = sorted((ROOT / "bot" / "platforms").joinpath("slack").glob("*.py"))


@pytest.fixture(scope="module")
def manifest() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def api_methods_called() -> set[str]:
    """Every AsyncWebClient method the Slack modules call (``client.chat_update(...)``...)."""
    known = {name for name in dir(AsyncWebClient) if not name.startswith("_")}
    called: set[str] = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in known
            ):
                called.add(node.func.attr)
    return called


def events_registered() -> set[str]:
    registered = {*slack.EVENTS, *slack.REVOCATION_EVENTS}
    # Nothing registers an event except through those two tuples.
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "event"
                and node.args
            ):
                assert not isinstance(node.args[0], ast.Constant), (
                    f"{path.name}:{node.lineno}: register events through slack.EVENTS"
                )
    return registered


def test_every_called_method_is_known_here() -> None:
    called = api_methods_called()
    assert called, "the source scan found nothing: the test would pass vacuously"
    assert called - METHOD_SCOPES.keys() == set(), "add the new method's scope to METHOD_SCOPES"
    assert {"chat_postMessage", "views_open", "files_upload_v2"} <= called


def test_scopes_both_ways(manifest: dict) -> None:  # type: ignore[type-arg]
    needed = set().union(*(METHOD_SCOPES[m] for m in api_methods_called()))
    needed |= set().union(*(EVENT_SCOPES[e][1] for e in events_registered()))
    needed.add("commands")  # the /rebound slash command
    asked = set(manifest["oauth_config"]["scopes"]["bot"])
    assert asked - needed == set(), "the manifest asks for scopes nothing uses"
    assert needed - asked == set(), "the code needs scopes the manifest lacks"
    assert set(slack.BOT_SCOPES) == asked, "OAuth installs ask for slack.BOT_SCOPES"
    assert "user" not in manifest["oauth_config"]["scopes"]


def test_events_both_ways(manifest: dict) -> None:  # type: ignore[type-arg]
    in_code = {EVENT_SCOPES[e][0] for e in events_registered()}
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == in_code


def test_command_interactivity_and_surfaces(manifest: dict) -> None:  # type: ignore[type-arg]
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [slack.COMMAND]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True  # buttons and modals
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] and home["messages_tab_enabled"]
    assert home["messages_tab_read_only_enabled"] is False  # people write to the bot there
    assert manifest["settings"]["socket_mode_enabled"] is True  # no public URL needed


@pytest.fixture
def harness(engine: Engine) -> Iterator[SlackHarness]:
    h = SlackHarness(engine)
    yield h
    h.close()


def test_methods_called_at_run_time_are_covered(harness: SlackHarness, clock) -> None:  # type: ignore[no-untyped-def]
    from .transcript import TRANSCRIPTS, run

    run(TRANSCRIPTS / "journey_rejection.txt", SlackDriver(harness, "U1", clock))
    used = {c.method.replace(".", "_") for c in harness.fake.calls if c.method != "response_url"}
    assert used - METHOD_SCOPES.keys() == set()
    assert "files_completeUploadExternal" in used  # the progress chart went up as a file


def test_manifest_command_prints_the_file() -> None:
    result = CliRunner().invoke(main, ["slack", "manifest"])
    assert result.exit_code == 0
    assert result.output == Path(MANIFEST).read_text(encoding="utf-8")
