"""The behaviour registry is an instance built by the composition root, never a global.

Domain modules only mark their functions; ``bot.coaching.behaviour()`` collects every module of
the package, so a new ``bot/coaching/x.py`` is loaded by being there, and test-only actions
exist only in the registries tests build.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from bot.config import Settings
from bot.conversation.engine import Engine
from bot.conversation.registry import Registry, action, condition, on, option_provider
from bot.storage.db import Database

from .behaviour import demo, production
from .conftest import ROOT

MARK = re.compile(r'@(action|condition|option_provider)\(\s*"([^"]+)"')


def test_demo_actions_stay_out_of_production() -> None:
    assert "demo_count" in demo().actions
    assert "demo_count" not in production().actions
    assert production() is not production()  # a fresh registry every time: nothing shared


def test_every_marked_function_of_the_domain_is_registered() -> None:
    registry = production()
    found = {"action": registry.actions, "condition": registry.conditions}
    found["option_provider"] = registry.options
    for path in sorted((ROOT / "bot" / "coaching").glob("*.py")):
        for kind, name in MARK.findall(path.read_text(encoding="utf-8")):
            assert name in found[kind], f"{path.name}: {kind} {name!r} was not collected"


def test_collect_registers_what_a_module_marks() -> None:
    module = types.ModuleType("bot.coaching.example")

    @action("say_hi", provides=["greeting"])
    def say_hi(ctx: object) -> None: ...

    @condition("always")
    def always(ctx: object) -> bool:
        return True

    @option_provider("things")
    def things(ctx: object) -> list[tuple[str, str]]:
        return []

    @on("paused")
    def noticed(ctx: object) -> None: ...

    for fn in (say_hi, always, things, noticed):
        fn.__module__ = module.__name__
        setattr(module, fn.__name__, fn)
    registry = Registry()
    assert registry.collect(module) == 4
    assert registry.actions["say_hi"] is say_hi
    assert registry.placeholders_of(["say_hi"]) == {"greeting"}
    assert registry.hooks["paused"] == [noticed]
    assert "things" in registry.options and "always" in registry.conditions


def test_two_functions_claiming_one_action_name_are_refused() -> None:
    registry = Registry()
    registry.add_action("x", lambda ctx: None)
    with pytest.raises(ValueError, match="registered twice"):
        registry.add_action("x", lambda ctx: None)


def test_the_engine_needs_a_registry(db: Database, settings: Settings) -> None:
    with pytest.raises(TypeError):
        Engine(db, settings)  # type: ignore[call-arg]


def test_the_core_loads_no_domain_and_no_platform() -> None:
    code = (
        "import sys, bot.conversation.engine, bot.reminders.scheduler; "
        "print(sorted(m for m in sys.modules if m.startswith(('bot.coaching', 'bot.platforms', "
        "'slack_sdk', 'slack_bolt', 'discord'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(ROOT), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
