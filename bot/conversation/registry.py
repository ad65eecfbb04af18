"""Named behaviour that flow files may refer to: actions, conditions and option providers.

Flows are data and behaviour is code: a flow says ``do: [draft_feedback_email]`` or
``when: theme_recurs`` and the Python lives here, registered by name with a decorator. The
registry also records which ``{placeholders}`` each action fills, so ``rebound flows check``
can tell a typo in a template from a value an action will provide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.conversation.context import TurnContext

ActionFn = Callable[["TurnContext"], None]
ConditionFn = Callable[["TurnContext"], bool]
OptionsFn = Callable[["TurnContext"], list[tuple[str, str]]]


@dataclass
class Registry:
    actions: dict[str, ActionFn] = field(default_factory=dict)
    conditions: dict[str, ConditionFn] = field(default_factory=dict)
    options: dict[str, OptionsFn] = field(default_factory=dict)
    provides: dict[str, frozenset[str]] = field(default_factory=dict)
    # Things the engine announces ("paused", "resumed", "crisis"): other packages react to them.
    hooks: dict[str, list[ActionFn]] = field(default_factory=dict)
    # Placeholders available in every flow (filled by the engine from the person's profile).
    global_placeholders: set[str] = field(default_factory=set)
    # Data files in flows/ that behaviour reads (``_catalogue.yaml``) and the model that says
    # what they may contain: ``rebound flows check`` validates them with the flows.
    data_files: dict[str, Any] = field(default_factory=dict)
    # Keys of ``_messages.yaml`` that behaviour reads (``ctx.text(key)``): any other is unused.
    messages: set[str] = field(default_factory=set)

    def action(self, name: str, provides: Iterable[str] = ()) -> Callable[[ActionFn], ActionFn]:
        def register(fn: ActionFn) -> ActionFn:
            if name in self.actions and self.actions[name] is not fn:
                raise ValueError(f"action {name!r} registered twice")
            self.actions[name] = fn
            self.provides[name] = frozenset(provides)
            return fn

        return register

    def condition(self, name: str) -> Callable[[ConditionFn], ConditionFn]:
        def register(fn: ConditionFn) -> ConditionFn:
            self.conditions[name] = fn
            return fn

        return register

    def option_provider(
        self, name: str, provides: Iterable[str] = ()
    ) -> Callable[[OptionsFn], OptionsFn]:
        def register(fn: OptionsFn) -> OptionsFn:
            self.options[name] = fn
            self.provides[f"options:{name}"] = frozenset(provides)
            return fn

        return register

    def on(self, event: str) -> Callable[[ActionFn], ActionFn]:
        def register(fn: ActionFn) -> ActionFn:
            if fn not in self.hooks.setdefault(event, []):
                self.hooks[event].append(fn)
            return fn

        return register

    def data_file(self, name: str, model: Any) -> None:
        """Declare a data file in flows/ and its pydantic model (checked by ``flows check``)."""
        self.data_files[name] = model

    def uses_messages(self, *keys: str) -> None:
        """Declare the ``_messages.yaml`` keys a behaviour module reads."""
        self.messages.update(keys)

    def placeholders_of(self, action_names: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for name in action_names:
            out |= self.provides.get(name, frozenset())
        return out


registry = Registry()
registry.global_placeholders |= {"name", "today", "timezone"}
action = registry.action
condition = registry.condition
option_provider = registry.option_provider
on = registry.on
data_file = registry.data_file
uses_messages = registry.uses_messages


def load_behaviour() -> Registry:
    """Import every module that registers behaviour, so flows can be checked and run."""
    import bot.coaching  # noqa: F401  (registers on import)

    return registry


def describe(fn: Any) -> str:
    doc = (getattr(fn, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else ""
