"""One ``transitions`` machine per flow, built once; conversations are attached per turn.

Building a machine per person per message costs about twice as much as attaching a small
model to a shared one (measured in ``benchmarks/``), so each flow gets one machine at start-up
and a turn does ``add_model(initial=stored state)``, one trigger, ``remove_model``. Attaching with
``initial=`` runs no ``on_enter`` callbacks, so restoring a conversation replays nothing.

Each flow uses three triggers: ``choose`` (a choice or a picked option, told apart by pure
conditions on the event), ``submit`` (text or a form) and ``advance`` (moving on by itself, the
first transition whose named condition holds wins). A target ``@flow`` becomes a pseudo-state
that the engine follows into the other flow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from transitions import EventData, Machine

from bot.conversation.flow_spec import FlowSpec, condition_holds
from bot.conversation.registry import Registry

OPTION_PREFIX = "opt:"


class Attached:
    """The model a machine moves: a state name and the turn's context for conditions."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.state = ""


def _is_choice(choice_id: str) -> Callable[[EventData], bool]:
    return lambda event: event.kwargs.get("choice") == choice_id


def _is_option(event: EventData) -> bool:
    return str(event.kwargs.get("choice", "")).startswith(OPTION_PREFIX)


class FlowMachine:
    """The compiled form of one flow file."""

    def __init__(self, flow: FlowSpec, registry: Registry) -> None:
        self.flow = flow
        self.registry = registry
        jumps = sorted({t for s in flow.states.values() for t in s.targets() if t.startswith("@")})
        self.machine = Machine(
            model=None,
            states=[*flow.states, *jumps],
            initial=flow.start,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=True,
        )
        self._lock = threading.Lock()
        for name, state in flow.states.items():
            for choice in state.choices:
                conditions = [_is_choice(choice.id)]
                if choice.when:
                    conditions.append(self._named(choice.when))
                self.machine.add_transition("choose", name, choice.to, conditions=conditions)
            if state.options:
                self.machine.add_transition(
                    "choose", name, state.options.to, conditions=[_is_option]
                )
            for spec in (state.input, state.form):
                if spec is not None:
                    self.machine.add_transition("submit", name, spec.to)
            for nxt in state.next:
                conds = [self._named(nxt.when)] if nxt.when else []
                self.machine.add_transition("advance", name, nxt.to, conditions=conds)

    def _named(self, name: str) -> Callable[[EventData], bool]:
        registry = self.registry
        return lambda event: condition_holds(name, registry.conditions, event.model.ctx)

    def fire(self, ctx: Any, state: str, trigger: str, **kwargs: Any) -> str | None:
        """Fire ``trigger`` from ``state``; the new state, or None when nothing matched."""
        model = Attached(ctx)
        with self._lock:
            self.machine.add_model(model, initial=state)
        try:
            moved = model.trigger(trigger, **kwargs)  # type: ignore[attr-defined]
            return model.state if moved else None
        finally:
            with self._lock:
                self.machine.remove_model(model)
