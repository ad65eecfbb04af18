"""The coaching domain: the actions, conditions and option providers the flows name.

:func:`behaviour` is what this package contributes to the composition root (``bot.app``): a
fresh :class:`~bot.conversation.registry.Registry` holding every marked function of every module
in this package, the reminder kinds and the App Home overview. Modules are found by walking the
package, so a new ``bot/coaching/x.py`` is loaded by being there; :func:`check_modules` is the
guard that a module's behaviour was actually collected.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from bot.conversation.registry import Registry


def modules() -> list[ModuleType]:
    """Every module of this package, imported (sorted by name, so the order is stable)."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.ispkg)
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def behaviour(registry: Registry | None = None) -> Registry:
    """Register the domain into ``registry`` (a new one by default) and return it."""
    from bot.coaching.summary import summarise

    registry = registry if registry is not None else Registry()
    for module in modules():
        registry.collect(module)
    registry.overview = summarise
    return registry
