"""Moving through a flow: firing the machine, entering states, and the words that work at
every step (help, pause, back, menu, start over). Part of :class:`~bot.conversation.turn.Turn`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.conversation.flow_spec import HOME_FLOW
from bot.conversation.messages import Reply
from bot.conversation.offers import SUSPENDED_KEY
from bot.conversation.render import render_state

MAX_HOPS = 30
THEN_KEY = "_then"  # a flow asked for before the welcome: where the welcome leads when it ends
HISTORY_LIMIT = 20


class MovesMixin:
    """How a turn moves between states and flows."""

    def _fire(self, trigger: str, **kwargs: Any) -> list[Reply]:
        machine = self.engine.machines[self.flow]
        target = machine.fire(self.ctx, self.state, trigger, **kwargs)
        if target is None:
            return self._reprompt(self.msg["unavailable"])
        return self._enter(target)

    def _enter(self, target: str) -> list[Reply]:
        """Enter ``target`` and keep moving through states that need no answer."""
        for _ in range(MAX_HOPS):
            if target.startswith("@"):
                self.flow = target[1:]
                self.history = []
                target = self.engine.flows[self.flow].start
            spec = self.engine.flows[self.flow].states[target]
            self.state = target
            self.step += 1
            for name in spec.do:
                self.engine.registry.actions[name](self.ctx)
            self.replies.extend(self.ctx.extra)
            self.ctx.extra.clear()
            self.replies.extend(render_state(self.ctx, spec, self.engine.registry, self.token))
            if self.ctx.forgotten:
                return [replace(r, choices=(), token=None) for r in self.replies]
            if self.ctx.pause_requested:
                self.ctx.pause_requested = False
                self.paused = True
                self._emit("paused")
            if spec.waits:
                if not self.history or self.history[-1] != target:
                    self.history = [*self.history, target][-HISTORY_LIMIT:]
                return self.replies
            if spec.end:
                suspended = self.ctx.slots.get(SUSPENDED_KEY)
                then = self.ctx.slots.get(THEN_KEY)
                self.ctx.slots = {}
                if isinstance(suspended, dict):
                    return self._offer_resume(suspended)
                wanted = isinstance(then, str) and then in self.engine.flows and then != self.flow
                target = f"@{then}" if wanted else f"@{HOME_FLOW}"
                continue
            nxt = self.engine.machines[self.flow].fire(self.ctx, target, "advance")
            if nxt is None:
                raise RuntimeError(f"{self.flow}.{target}: no 'next' matched")
            target = nxt
        raise RuntimeError(f"{self.flow}: more than {MAX_HOPS} steps without a question")

    def _global(self, word: str) -> list[Reply]:
        spec = self._spec()
        if word == "help":
            self._say(self._help_text())
            return self._reprompt(self._shortcuts_text())
        if word == "pause":
            self.paused = True
            self._emit("paused")
            return self._say(self.msg["paused"])
        if word == "stop":
            self._say(self.msg["stopped"])
            self.ctx.slots = {}
            return self._enter(f"@{HOME_FLOW}")
        if word == "menu":
            self.ctx.slots = {}
            return self._enter(f"@{HOME_FLOW}")
        if word == "restart":
            start = self.engine.flows[self.flow].start
            self.ctx.slots = {k: v for k, v in self.ctx.slots.items() if k.startswith("_")}
            return self._enter(f"@{self.flow}") if start else self._prompt()
        if word == "back":
            if not spec.back or len(self.history) < 2:
                return self._reprompt(self.msg["cannot_go_back"])
            self.history = self.history[:-1]
            self.state = self.history[-1]
            self.step += 1
            return self._prompt()
        return self._prompt()  # resume
