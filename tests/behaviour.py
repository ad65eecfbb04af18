"""Registries for tests: the production behaviour, and production plus the demo flow's actions.

Tests build their own registry, as the composition root does, so test-only actions never reach
production's (there is no global one to reach).
"""

from __future__ import annotations

from bot.coaching import behaviour
from bot.conversation.registry import Registry


def production() -> Registry:
    return behaviour()


def demo() -> Registry:
    from tests.fixtures import demo_behaviour

    registry = behaviour()
    registry.collect(demo_behaviour)
    return registry
