"""What happens in one turn: safety first, then global words, then the answer to the current step.

The order matters and is the product's promise: a message that suggests crisis stops everything,
whatever step the person is on; words like ``help``, ``pause`` and ``back`` work everywhere;
only then is the message read as an answer. Anything that fits nothing gets a helpful reply and
the current question again, never silence.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from bot.conversation import inputs
from bot.conversation.context import TurnContext
from bot.conversation.flow_spec import ENTRY_FLOW, HOME_FLOW, StateSpec
from bot.conversation.interpret import decide
from bot.conversation.machine import OPTION_PREFIX
from bot.conversation.messages import Choice, Inbound, Reply
from bot.conversation.offers import OFFER_KEY, SUSPENDED_KEY, Offer, typed_choice, yes_or_no
from bot.conversation.render import choices_for, fill, render_state, template_values
from bot.conversation.safety import asks_what_bot_is, suggests_crisis
from bot.conversation.words import GLOBAL_WORDS
from bot.storage.models import Conversation, User

if TYPE_CHECKING:
    from bot.conversation.engine import Engine

MAX_HOPS = 30
MAX_KEPT = 2000
# How sure the intent router must be that a free-text answer is really news from an employer
# before offering to switch (tuned on the labelled set's tune split; only ever an offer).
INTERRUPT_MIN = 0.6
_SKIP = ("skip", "-", "none", "n/a", "pass", "skip it", "skip this", "skip this one", "next",
         "next question", "rather not say", "i'd rather not say", "no comment", "nothing",
         "skip please", "can we skip this", "can we skip", "nah skip")  # fmt: skip


def wants_skip(text: str) -> bool:
    """The person asks to skip this question ("skip", "pass", "can we skip this one?")."""
    word = inputs.normalise_command(text)
    return word in _SKIP or word.startswith(("skip ", "can we skip", "let's skip", "lets skip"))

HISTORY_LIMIT = 20


class Turn:
    """One person's turn: reads the stored conversation, decides, and writes it back."""

    def __init__(
        self,
        engine: Engine,
        session: Session,
        user: User,
        conversation: Conversation | None,
        inbound: Inbound,
    ) -> None:
        self.engine = engine
        self.msg = engine.messages
        # A crisis reply on someone's very first message saves a conversation with no flow yet:
        # that person is still new, so their next message gets the welcome, not "moved".
        self.fresh = conversation is None or not conversation.flow
        if conversation is None:
            conversation = Conversation(
                user_id=user.id, flow="", state="", slots={}, history=[], step=0,
                updated_at=engine.clock(),
            )  # fmt: skip
            session.add(conversation)
        self.conv = conversation
        self.ctx = TurnContext(
            session=session,
            user=user,
            conversation=conversation,
            inbound=inbound,
            now=engine.clock(),
            settings=engine.settings,
            slots=dict(conversation.slots or {}),
            messages=engine.messages,
        )
        self.flow = conversation.flow
        self.state = conversation.state
        self.history: list[str] = list(conversation.history or [])
        self.step = conversation.step or 0
        self.paused = conversation.paused_at is not None
        self.replies: list[Reply] = []
        self.welcome_back = False
        self._restore_position()

    # ------------------------------------------------------------------ entry points

    def run(self) -> list[Reply]:
        inbound = self.ctx.inbound
        text = inputs.clean_text(inbound.text) if inbound.text is not None else None
        if text is not None and len(text) > inputs.MAX_TEXT:
            return self._reprompt(self.msg["too_long"].format(limit=inputs.MAX_TEXT))
        form_text = " ".join(str(v) for v in (inbound.form or {}).values() if v)
        if suggests_crisis(" ".join(filter(None, [text, form_text]))):
            return self._crisis()
        if self.ctx.user.crisis_at is not None:
            # The note comes first; the message itself is still read and acted on.
            self.ctx.user.crisis_at = None
            self.paused = False
            self._emit("resumed")
            self._say(self.msg["crisis_return"])
            if not self.fresh and not text and inbound.choice is None and inbound.form is None:
                return self._prompt()
        if self.fresh:
            return self._enter(f"@{ENTRY_FLOW}")
        if text and asks_what_bot_is(text):
            return self._reprompt(self.msg["identity"])
        offer = Offer.load(self.ctx.slots.pop(OFFER_KEY, None))
        if offer is not None and not text and inbound.choice is None and inbound.form is None:
            self.ctx.slots[OFFER_KEY] = offer.dump()  # an empty message leaves the question open
            return self._reprompt_offer(offer)
        if offer is not None:
            answered = self._answer_offer(offer, text)
            if answered is not None:
                return answered
        if (inbound.choice or inbound.form is not None) and inbound.token != self.token:
            return self._reprompt(self.msg["stale"])
        word = inputs.normalise_command(text) if text else ""
        self.welcome_back = False
        if self.paused and inbound.choice is None and inbound.form is None:
            self.paused = False
            if word not in GLOBAL_WORDS and word not in self.engine.commands:
                self._emit("resumed")
                self.welcome_back = True
        self.paused = False
        if word and not self._matches_choice(word):
            if word in GLOBAL_WORDS:
                return self._global(GLOBAL_WORDS[word])
            if word in self.engine.commands:
                return self.start(self.engine.commands[word], {}, None)
        return self._answer(text)

    def resume(self) -> list[Reply]:
        if self.fresh:
            return self._enter(f"@{ENTRY_FLOW}")
        return self._prompt()

    def start(self, flow: str, slots: dict[str, Any], intro: str | None) -> list[Reply]:
        """Leave whatever step the person was on and begin ``flow`` with the given slots."""
        self.paused = False
        kept = self.ctx.slots.get(SUSPENDED_KEY)
        self.ctx.slots = dict(slots)
        if kept is not None and self.ctx.slots.get(SUSPENDED_KEY) is None and slots:
            self.ctx.slots[SUSPENDED_KEY] = kept
        if intro:
            self._say(intro)
        return self._enter(f"@{flow}")

    # ------------------------------------------------------------------ answering

    def _answer(self, text: str | None) -> list[Reply]:
        inbound = self.ctx.inbound
        spec = self._spec()
        if inbound.form is not None:
            return self._submit_form(spec, inbound.form)
        if inbound.choice is not None:
            return self._choose(spec, inbound.choice)
        if not text:
            return self._reprompt(self.msg["empty"])
        if spec.input is not None:
            return self._submit_text(spec, text)
        if spec.form is not None:
            return self._understand(spec, text, at_form=True)
        choice = self._match_text(spec, text)
        if choice is not None:
            return self._choose(spec, choice.id)
        return self._understand(spec, text)

    def _matches_choice(self, word: str) -> bool:
        spec = self._spec()
        return bool(spec.choices) and any(
            word in (inputs.normalise_command(c.id), inputs.normalise_command(c.label))
            for c in choices_for(self.ctx, spec, self.engine.registry)
        )

    def _match_text(self, spec: StateSpec, text: str) -> Choice | None:
        choices = choices_for(self.ctx, spec, self.engine.registry)
        word = inputs.normalise_command(text)
        if word.isdigit() and 1 <= int(word) <= len(choices):
            return choices[int(word) - 1]
        for choice in choices:
            if word in (inputs.normalise_command(choice.label), choice.id.lower()):
                return choice
        if len(word) >= 3:
            starts = [c for c in choices if inputs.normalise_command(c.label).startswith(word)]
            if len(starts) == 1:
                return starts[0]
        return None

    def _choose(self, spec: StateSpec, choice_id: str) -> list[Reply]:
        offered = {c.id for c in choices_for(self.ctx, spec, self.engine.registry)}
        if choice_id not in offered:
            return self._reprompt(self.msg["unavailable"])
        if choice_id.startswith(OPTION_PREFIX) and spec.options:
            self.ctx.slots[spec.options.slot] = choice_id.removeprefix(OPTION_PREFIX)
        for choice in spec.choices:
            if choice.id == choice_id:
                self.ctx.slots.update(choice.set)
        return self._fire("choose", choice=choice_id)

    def _submit_text(self, spec: StateSpec, text: str, *, as_answer: bool = False) -> list[Reply]:
        """A typed answer to an input step. Free text is only checked for distress and for
        news that belongs to another flow (offered, never taken on a guess); numbers and dates
        go to their parsers, and only an answer that doesn't parse is read any further."""
        assert spec.input is not None
        inp = spec.input
        if inp.optional and wants_skip(text):
            self.ctx.slots[inp.slot] = None
            return self._fire("submit")
        value, why = self._parse(inp.kind, text, inp.max_length, inp.min, inp.max)
        free_text = inp.kind in ("text", "long_text")
        if not as_answer and (why or free_text or self.welcome_back):
            reading = self.engine.interpreter.read(text)
            if self.engine.interpreter.distress(reading):
                return self._safety_check(answer=text if not why else None)
            guess = self.engine.interpreter.intent(reading)
            # A free-text answer is only ever *offered* a switch, and only for news (a
            # rejection, an offer): "No, that's my answer" keeps it as typed.
            news = free_text and self.engine.interpreter.interrupts(str(guess.name), self.flow)
            if (
                guess.name
                and guess.name != self.flow
                and (guess.level == "act" or (news and guess.score >= INTERRUPT_MIN))
                and (not free_text or news)
            ):
                return self._offer_switch(guess.name, text, answer=not why)
            if self.welcome_back:
                return self._reprompt(self.msg["welcome_back"])
        if why:
            return self._reprompt(why)
        self.ctx.slots[inp.slot] = value
        return self._fire("submit")

    # ------------------------------------------------------------------ understanding

    def _understand(self, spec: StateSpec, text: str, at_form: bool = False) -> list[Reply]:
        """A typed message that matched nothing exactly: ask the understanding layers.

        Order (docs: README "How a turn works"): distress, then the best of the offered
        options, then another flow's intent; each either acts, asks first, or gives up.
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
        if kind == "check":
            return self._safety_check()
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

    def _safety_check(self, answer: str | None = None) -> list[Reply]:
        """The gentle check. ``answer``: a typed answer that raised it, kept so that once the
        person says they are safe it is still taken as their answer."""
        choices = [
            ("~safe", self.msg["safety_yes"]),
            ("~unsafe", self.msg["safety_no"]),
            ("~private", self.msg["safety_private"]),
        ]
        data: dict[str, Any] = {"yes": "~safe", "no": "~unsafe", "state": self.state}
        if answer is not None:
            data["answer"] = answer[:MAX_KEPT]
        offer = Offer("safety", choices, data)
        return self._make_offer(offer, self.msg["safety_check"])

    def _answer_offer(self, offer: Offer, text: str | None) -> list[Reply] | None:
        """The person's answer to an offer, or None to read the message as usual."""
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
        if offer.kind == "safety":
            if picked == "~unsafe":
                return self._crisis()
            key = "safety_later" if picked == "~private" else "safety_glad"
            self._say(self.msg[key].format(resources=self._resources()))
            spec = self._spec()
            answer = data.get("answer")
            if answer and spec.input is not None and data.get("state") == self.state:
                return self._submit_text(spec, str(answer), as_answer=True)
            return self._prompt()
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
        slots = {k: _jsonable(v) for k, v in self.ctx.slots.items() if not k.startswith("__")}
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

    def _resources(self) -> str:
        resources = self.engine.settings.crisis_resources_for(self.ctx.user.workspace)
        return "\n".join(f"• {r}" for r in resources)

    def _submit_form(self, spec: StateSpec, form: dict[str, Any]) -> list[Reply]:
        if spec.form is None or not isinstance(form, dict):
            return self._reprompt(self.msg["unavailable"])
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for fld in spec.form.fields:
            raw = form.get(fld.id)
            text = inputs.clean_text(str(raw)) if raw is not None else ""
            if not text:
                if fld.required:
                    errors[fld.id] = self.msg["field_required"]
                values[fld.id] = None
                continue
            if fld.kind == "choice":
                ids = {o.id for o in fld.options}
                value, why = (text, None) if text in ids else (None, self.msg["field_pick_option"])
            else:
                value, why = self._parse(fld.kind, text, fld.max_length, None, None)
            if why:
                errors[fld.id] = why
            values[fld.id] = value
        if errors:
            details = " ".join(f"{self._label(spec, k)}: {v}" for k, v in errors.items())
            self._say(self.msg["form_errors"].format(details=details))
            self._prompt()
            self.replies[-1] = replace(self.replies[-1], errors=errors)
            return self.replies
        self.ctx.slots.update(values)
        return self._fire("submit")

    @staticmethod
    def _label(spec: StateSpec, field_id: str) -> str:
        assert spec.form is not None
        return next((f.label for f in spec.form.fields if f.id == field_id), field_id)

    def _parse(
        self, kind: str, text: str, max_length: int, low: float | None, high: float | None
    ) -> tuple[Any, str | None]:
        if len(text) > max_length:
            return None, self.msg["too_long"].format(limit=max_length)
        if kind == "number":
            return inputs.parse_number(text, low, high, self.msg)
        if kind == "date":
            day_first = inputs.day_first_for(inputs.zone_name(self.ctx.zone))
            day, why = inputs.parse_date(text, self.ctx.today, self.msg, day_first=day_first)
            return (day.isoformat() if day else None), why
        if kind == "datetime":
            when, why = inputs.parse_datetime(text, self.ctx.local_now, self.ctx.zone, self.msg)
            return (when.isoformat() if when else None), why
        return text, None

    # ------------------------------------------------------------------ moving

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
                self.ctx.slots = {}
                if isinstance(suspended, dict):
                    return self._offer_resume(suspended)
                target = f"@{HOME_FLOW}"
                continue
            nxt = self.engine.machines[self.flow].fire(self.ctx, target, "advance")
            if nxt is None:
                raise RuntimeError(f"{self.flow}.{target}: no 'next' matched")
            target = nxt
        raise RuntimeError(f"{self.flow}: more than {MAX_HOPS} steps without a question")

    def _global(self, word: str) -> list[Reply]:
        spec = self._spec()
        if word == "help":
            return self._reprompt(self._help_text())
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

    def _crisis(self) -> list[Reply]:
        user = self.ctx.user
        user.crisis_at = self.ctx.now
        self.paused = True
        self._emit("crisis")
        return self._say(self.msg["crisis"].format(resources=self._resources()))

    # ------------------------------------------------------------------ helpers

    @property
    def token(self) -> str:
        return f"{self.flow}.{self.state}.{self.step}"

    def _spec(self) -> StateSpec:
        return self.engine.flows[self.flow].states[self.state]

    def _say(self, text: str) -> list[Reply]:
        self.replies.append(Reply(text=fill(text, template_values(self.ctx))))
        return self.replies

    def _reprompt(self, text: str) -> list[Reply]:
        """Say why the answer didn't fit, then ask the current question again."""
        self._say(text)
        return self._prompt()

    def _prompt(self) -> list[Reply]:
        """Show the current question again, without running its actions a second time."""
        spec = self._spec()
        rendered = render_state(self.ctx, spec, self.engine.registry, self.token)
        self.replies.extend(rendered[-1:] if spec.waits else rendered)
        return self.replies

    def _help_text(self) -> str:
        commands = sorted(self.engine.commands)
        return self.msg["help"].format(commands=", ".join(commands))

    def _emit(self, event: str) -> None:
        for hook in self.engine.registry.hooks.get(event, []):
            hook(self.ctx)

    def _restore_position(self) -> None:
        """A flow file may have changed since this conversation was saved: never strand anyone."""
        if self.fresh:
            return
        flows = self.engine.flows
        if self.flow not in flows:
            self.flow, self.state, self.history = HOME_FLOW, flows[HOME_FLOW].start, []
            self._say(self.msg["moved"])
            return
        flow = flows[self.flow]
        if self.state not in flow.states:
            renamed = flow.renamed.get(self.state)
            self.state = renamed if renamed in flow.states else flow.start
            self.history = [h for h in self.history if h in flow.states]
            if not renamed:
                self._say(self.msg["moved"])

    def save(self) -> None:
        if self.ctx.forgotten:
            return
        conv = self.conv
        conv.flow, conv.state, conv.step = self.flow, self.state, self.step
        conv.slots = {k: _jsonable(v) for k, v in self.ctx.slots.items()}
        conv.history = list(self.history)
        conv.paused_at = (conv.paused_at or self.ctx.now) if self.paused else None
        conv.updated_at = self.ctx.now


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
