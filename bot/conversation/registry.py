"""Named behaviour that flow files may refer to: actions, conditions and option providers.

Flows are data and behaviour is code: a flow says ``do: [draft_feedback_email]`` or
``when: theme_recurs`` and the Python lives in the domain package. A domain module marks its
functions with the decorators below (which only label the function) and the composition root
collects them into a :class:`Registry` *instance* that it hands to the engine, so nothing is
filled in at import time and a test can build a registry of its own. The registry also records
which ``{placeholders}`` each action fills, so ``rebound flows check`` can tell a typo in a
template from a value an action will provide.

Besides the flows' names, the registry carries what the domain contributes to the core:
``overview`` (the person at a glance, for App Home) and ``reminder_kinds``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.conversation.context import TurnContext

ActionFn = Callable[["TurnContext"], None]
ConditionFn = Callable[["TurnContext"], bool]
# (ctx, the submitted values) -> field id -> why it was refused (empty: accepted).
FormCheckFn = Callable[["TurnContext", dict[str, Any]], dict[str, str]]
# (session, person's row, configured settings) -> the settings that apply to this person.
SettingsForFn = Callable[[Any, Any, Any], Any]
OptionsFn = Callable[["TurnContext"], list[tuple[str, str]]]
# (session, person's key, flow titles, now, default zone) -> an overview object for adapters.
OverviewFn = Callable[..., Any]

_MARK = "__rebound_behaviour__"
_DATA = "__rebound_data_files__"
_MESSAGES = "__rebound_messages__"


@dataclass
class Registry:
    actions: dict[str, ActionFn] = field(default_factory=dict)
    conditions: dict[str, ConditionFn] = field(default_factory=dict)
    options: dict[str, OptionsFn] = field(default_factory=dict)
    provides: dict[str, frozenset[str]] = field(default_factory=dict)
    # Things the engine announces ("paused", "resumed", "crisis"): other packages react to them.
    hooks: dict[str, list[ActionFn]] = field(default_factory=dict)
    # Placeholders available in every flow (filled by the engine from the person's profile).
    global_placeholders: set[str] = field(default_factory=lambda: {"name", "today", "timezone"})
    # The person at a glance (App Home); None when the domain offers none.
    overview: OverviewFn | None = None
    # Reminder kind name -> its declaration (a domain object the reminders package reads).
    reminder_kinds: dict[str, Any] = field(default_factory=dict)
    # Data files in flows/ that behaviour reads (``_catalogue.yaml``) and the model that says
    # what they may contain: ``rebound flows check`` validates them with the flows.
    data_files: dict[str, Any] = field(default_factory=dict)
    # Keys of ``_messages.yaml`` that behaviour reads (``ctx.text(key)``): any other is unused.
    messages: set[str] = field(default_factory=set)
    # Occasional clean-up the domain asks for (expired files), run by the engine after a
    # commit, at most every few minutes: ``job(settings)``.
    housekeeping: list[Callable[[Any], Any]] = field(default_factory=list)
    # Domain checks of a submitted form (``check:`` in a flow's form), beyond the field kinds.
    form_checks: dict[str, FormCheckFn] = field(default_factory=dict)
    # The settings that apply to one person (their workspace's own, over the config file's);
    # None: the configured settings for everyone.
    settings_for: SettingsForFn | None = None
    # Flows for a workspace's admins: their commands make the adapter ask the platform whether
    # the person administers the workspace (``Inbound.admin_of``).
    staff_flows: set[str] = field(default_factory=set)

    def data_file(self, name: str, model: Any) -> None:
        """Declare a data file in flows/ and its pydantic model (checked by ``flows check``)."""
        self.data_files[name] = model

    def uses_messages(self, *keys: str) -> None:
        """Declare the ``_messages.yaml`` keys a behaviour module reads."""
        self.messages.update(keys)

    def add_action(self, name: str, fn: ActionFn, provides: Iterable[str] = ()) -> None:
        if name in self.actions and self.actions[name] is not fn:
            raise ValueError(f"action {name!r} registered twice")
        self.actions[name] = fn
        self.provides[name] = frozenset(provides)

    def add_condition(self, name: str, fn: ConditionFn) -> None:
        if name in self.conditions and self.conditions[name] is not fn:
            raise ValueError(f"condition {name!r} registered twice")
        self.conditions[name] = fn

    def add_options(self, name: str, fn: OptionsFn, provides: Iterable[str] = ()) -> None:
        self.options[name] = fn
        self.provides[f"options:{name}"] = frozenset(provides)

    def add_hook(self, event: str, fn: ActionFn) -> None:
        if fn not in self.hooks.setdefault(event, []):
            self.hooks[event].append(fn)

    def collect(self, module: ModuleType) -> int:
        """Register every function ``module`` defines and marked; returns how many."""
        found = 0
        for value in list(vars(module).values()):
            marks = getattr(value, _MARK, None)
            if not marks or getattr(value, "__module__", None) != module.__name__:
                continue
            for kind, name, provides in marks:
                if kind == "action":
                    self.add_action(name, value, provides)
                elif kind == "condition":
                    self.add_condition(name, value)
                elif kind == "options":
                    self.add_options(name, value, provides)
                elif kind == "form_check":
                    self.form_checks[name] = value
                else:
                    self.add_hook(name, value)
                found += 1
        for name, model in getattr(module, _DATA, {}).items():
            self.data_file(name, model)
        self.uses_messages(*getattr(module, _MESSAGES, ()))
        contribute = getattr(module, "contribute", None)
        if callable(contribute):  # names built in a loop (one condition per reminder kind...)
            contribute(self)
            found += 1
        return found

    def placeholders_of(self, action_names: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for name in action_names:
            out |= self.provides.get(name, frozenset())
        return out


def _marker(kind: str, name: str, provides: Iterable[str] = ()) -> Callable[[Any], Any]:
    def mark(fn: Any) -> Any:
        fn.__dict__.setdefault(_MARK, []).append((kind, name, frozenset(provides)))
        return fn

    return mark


def action(name: str, provides: Iterable[str] = ()) -> Callable[[ActionFn], ActionFn]:
    """Mark a function as the action ``name`` (collected by :meth:`Registry.collect`)."""
    return _marker("action", name, provides)


def condition(name: str) -> Callable[[ConditionFn], ConditionFn]:
    """Mark a function as the condition ``name``."""
    return _marker("condition", name)


def option_provider(name: str, provides: Iterable[str] = ()) -> Callable[[OptionsFn], OptionsFn]:
    """Mark a function as the option provider ``name``."""
    return _marker("options", name, provides)


def form_check(name: str) -> Callable[[FormCheckFn], FormCheckFn]:
    """Mark a function as the form check ``name`` (a flow form's ``check:``)."""
    return _marker("form_check", name)


def on(event: str) -> Callable[[ActionFn], ActionFn]:
    """Mark a function to run when the engine announces ``event``."""
    return _marker("hook", event)


def data_file(name: str, model: Any) -> None:
    """Declare, at module level, a data file in flows/ that this module reads, and its model."""
    caller = sys._getframe(1).f_globals
    caller.setdefault(_DATA, {})[name] = model


def uses_messages(*keys: str) -> None:
    """Declare, at module level, the ``_messages.yaml`` keys this module reads."""
    caller = sys._getframe(1).f_globals
    caller.setdefault(_MESSAGES, []).extend(keys)
