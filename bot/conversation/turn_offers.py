"""Understanding in the turn: what a typed message that matched nothing exactly comes to.

:func:`~bot.conversation.interpret.decide` says what it means; this carries it out, asking
first wherever the flows require (offers: "did you mean", switch and come back, the gentle
see :mod:`bot.conversation.offers`). Part of :class:`~bot.conversation.turn.Turn`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bot.conversation.flow_spec import HOME_FLOW, StateSpec
from bot.conversation.interpret import decide
from bot.conversation.messages import Choice, Reply
from bot.conversation.offers import OFFER_KEY, SUSPENDED_KEY, Offer, typed_choice, yes_or_no
from bot.conversation.render import choices_for, fill, template_values
from bot.conversation.turn_answers import MAX_KEPT, wants_skip


def jsonable(value: Any) -> Any:
    """Slots are stored as JSON: dates and times become ISO text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


class OffersMixin:
    """How a turn acts on understood free text, and answers its own offers."""

    def _understand(self, spec: StateSpec, text: str, at_form: bool = False) -> list[Reply]:
        """A typed message that matched nothing exactly: ask the understanding layers.

        Order (docs: README "How a turn works"): the best of the offered options, then
        another flow's intent; each either acts, asks first, or gives up. (Crisis screening
        came first, in :meth:`~bot.conversation.turn_safety.SafetyMixin._safety_first`.)
        """
        interp = self.engine.interpreter
        offered = [] if at_form else choices_for(self.ctx, spec, self.engine.registry)
        decision = decide(
            interp,
            interp.read(text),
            self.flow,
            spec,
            offered,
            home=HOME_FLOW,
            can_skip=bool(spec.skip) and wants_skip(text),
        )
        kind, target = decision.kind, str(decision.target)
        if kind == "skip":
            return self._enter(target)
        if kind == "home":
            return self._prompt()
        if kind == "choose":
            return self._choose_understood(spec, target, text)
        if kind == "start":
            return self._start_understood(target, text)
        if kind in ("switch", "guess"):
            return self._offer_switch(target, text, guess=kind == "guess")
        if kind == "confirm_choice":
            return self._offer_choice(spec, target, text)
        if self.welcome_back:
            return self._reprompt(self.msg["welcome_back"])
        return self._reprompt(self.msg["form_hint" if at_form else "not_understood"])

    def _choose_understood(self, spec: StateSpec, choice_id: str, text: str) -> list[Reply]:
        """Take an option read from free text, keeping the person's own words as evidence."""
        said = dict(self.ctx.slots.get("_said") or {})
        said[self.state] = text[:500]
        self.ctx.slots["_said"] = said
        return self._choose(spec, choice_id)

    def _start_understood(self, flow: str, text: str) -> list[Reply]:
        """Start a flow asked for in a sentence, with the details the sentence gave."""
        slots = self.engine.interpreter.details(text).as_slots()
        when = self.engine.interpreter.when(text, self.ctx.local_now)
        if when is not None:
            slots["when"] = when
        keep = {k: v for k, v in self.ctx.slots.items() if k == SUSPENDED_KEY}
        return self.start(flow, {**keep, **slots}, None)

    def _make_offer(self, offer: Offer, text: str, with_state: bool = False) -> list[Reply]:
        self.step += 1
        self.ctx.slots[OFFER_KEY] = offer.dump()
        choices = tuple(Choice(cid, label) for cid, label in offer.choices)
        if with_state:
            choices = tuple(choices_for(self.ctx, self._spec(), self.engine.registry))
        values = template_values(self.ctx)
        self.replies.append(Reply(text=fill(text, values), choices=choices, token=self.token))
        return self.replies

    def _offer_switch(
        self, flow: str, text: str, *, guess: bool = False, answer: bool = False
    ) -> list[Reply]:
        """Another flow's news mid-way (or a guess at the menu): ask before moving."""
        label = self.engine.interpreter.describe(flow)
        at_home = self.flow == HOME_FLOW
        yes = ("~switch", self.msg["offer_yes" if at_home else "offer_switch"])
        if at_home:
            no = ("~menu", self.msg["offer_menu"])
        elif answer:
            no = ("~answer", self.msg["offer_keep_answer"])
        else:
            no = ("~stay", self.msg["offer_stay"])
        key = "did_you_mean" if at_home or guess else "switch_offer"
        offer = Offer("switch", [yes, no], {"flow": flow, "text": text[:MAX_KEPT]})
        return self._make_offer(offer, self.msg[key].format(label=label))

    def _offer_choice(self, spec: StateSpec, choice_id: str, text: str) -> list[Reply]:
        offered = {c.id: c.label for c in choices_for(self.ctx, spec, self.engine.registry)}
        offer = Offer("choice", [], {"guess": choice_id, "state": self.state, "text": text[:500]})
        line = self.msg["choice_guess"].format(label=offered.get(choice_id, choice_id))
        return self._make_offer(offer, line, with_state=True)

    def _answer_offer(self, offer: Offer, text: str | None) -> list[Reply] | None:
        """The person's answer to an offer, or None to read the message as usual."""
        if offer.kind == "crisis":
            return None  # its one button was handled first (turn_safety); anything else is news
        inbound = self.ctx.inbound
        if inbound.choice is not None:
            if inbound.token != self.token or inbound.choice not in offer.ids():
                return None
            picked: str | None = inbound.choice
        elif text and offer.kind == "choice":
            picked = "~guess" if yes_or_no(text) else None
        elif text:
            picked = typed_choice(offer, text)
        else:
            return None
        if picked is None:
            return None
        data = offer.data
        if offer.kind == "choice":
            if data.get("state") != self.state:
                return None
            return self._choose_understood(self._spec(), str(data.get("guess")), data["text"])
        if offer.kind == "resume":
            if picked == "~resume":
                return self._restore_suspended(offer.data)
            return self._prompt()
        flow = str(data.get("flow"))
        if picked == "~switch" and flow in self.engine.flows:
            if self.flow != HOME_FLOW:
                self._suspend()
            return self._start_understood(flow, str(data.get("text") or ""))
        if picked == "~answer" and self._spec().input is not None:
            return self._submit_text(self._spec(), str(data.get("text") or ""), as_answer=True)
        if picked == "~menu":
            return self._enter(f"@{HOME_FLOW}")
        return self._reprompt(self.msg["offer_carry_on"])

    def _reprompt_offer(self, offer: Offer) -> list[Reply]:
        """The offer's question again, with its own buttons, after an empty message."""
        self._say(self.msg["empty"])
        if offer.kind == "choice":
            return self._prompt()
        choices = tuple(Choice(cid, label) for cid, label in offer.choices)
        self.replies.append(Reply(text=self.msg["offer_again"], choices=choices, token=self.token))
        return self.replies

    def _suspend(self) -> None:
        """Keep the half-done flow, so it can be offered back when the new one is over."""
        slots = {k: jsonable(v) for k, v in self.ctx.slots.items() if not k.startswith("__")}
        self.ctx.slots[SUSPENDED_KEY] = {
            "flow": self.flow, "state": self.state, "history": list(self.history), "slots": slots,
        }  # fmt: skip

    def _offer_resume(self, suspended: dict[str, Any]) -> list[Reply]:
        flow = self.engine.flows.get(str(suspended.get("flow")))
        if flow is None or str(suspended.get("state")) not in flow.states:
            return self._enter(f"@{HOME_FLOW}")
        self.flow, self.state, self.history = HOME_FLOW, self.engine.flows[HOME_FLOW].start, []
        company = (suspended.get("slots") or {}).get("company")
        what = self.msg["resume_with" if company else "resume_plain"].format(
            title=flow.title, company=company or ""
        )
        offer = Offer(
            "resume",
            [("~resume", self.msg["offer_resume"]), ("~drop", self.msg["offer_not_now"])],
            dict(suspended),
        )
        return self._make_offer(offer, self.msg["resume_offer"].format(what=what))

    def _restore_suspended(self, suspended: dict[str, Any]) -> list[Reply]:
        flow = self.engine.flows.get(str(suspended.get("flow")))
        state = str(suspended.get("state"))
        if flow is None or state not in flow.states:
            return self._enter(f"@{HOME_FLOW}")
        self.flow, self.state = flow.name, state
        self.history = [h for h in suspended.get("history") or [] if h in flow.states]
        self.ctx.slots = dict(suspended.get("slots") or {})
        self.step += 1
        return self._prompt()
