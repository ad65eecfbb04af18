"""Reading an answer to the current step: a pressed choice, a typed line, a submitted form.

Exact first (a button, a number, an option's words), then parsing for inputs (numbers, dates);
what matches nothing exactly goes to :mod:`bot.conversation.turn_offers`. Part of
:class:`~bot.conversation.turn.Turn`, kept apart so each file holds one job.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.conversation import inputs
from bot.conversation.flow_spec import StateSpec
from bot.conversation.machine import OPTION_PREFIX
from bot.conversation.messages import Choice, Reply
from bot.conversation.render import FORM_DRAFT_KEY, choices_for

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


class AnswersMixin:
    """How a turn reads the answer to the step the person is on."""

    def _answer(self, text: str | None) -> list[Reply]:
        inbound = self.ctx.inbound
        spec = self._spec()
        if inbound.form is not None:
            return self._submit_form(spec, inbound.form)
        if inbound.choice is not None:
            if spec.input is not None and spec.input.kind == "number" and not spec.choices:
                # A pressed number of a scale (``Reply.scale``): read as if typed.
                return self._submit_text(spec, inbound.choice, as_answer=True)
            return self._choose(spec, inbound.choice)
        if not text:
            return self._reprompt(self.msg["empty"])
        if spec.input is not None:
            # A step that takes typed words and also offers buttons ("type a name, or use
            # this one"): the number or the exact words of a button mean that button.
            picked = self._exact_choice(spec, text) if spec.choices or spec.options else None
            if picked is not None:
                return self._choose(spec, picked.id)
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
        if word.isdecimal() and 1 <= int(word) <= len(choices):  # "²" is a digit, not a number
            return choices[int(word) - 1]
        for choice in choices:
            if word in (inputs.normalise_command(choice.label), choice.id.lower()):
                return choice
        if len(word) >= 3:
            starts = [c for c in choices if inputs.normalise_command(c.label).startswith(word)]
            if len(starts) == 1:
                return starts[0]
        return None

    def _exact_choice(self, spec: StateSpec, text: str) -> Choice | None:
        """A button named exactly (its number, id or label); never a guess from a prefix."""
        choices = choices_for(self.ctx, spec, self.engine.registry)
        word = inputs.normalise_command(text)
        if word.isdecimal() and 1 <= int(word) <= len(choices):
            return choices[int(word) - 1]
        for choice in choices:
            if word in (inputs.normalise_command(choice.label), choice.id.lower()):
                return choice
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
        """A typed answer to an input step (already screened for crisis). Free text is only
        checked for news that belongs to another flow (offered, never taken on a guess);
        numbers and dates go to their parsers, and only an answer that doesn't parse is read
        any further."""
        assert spec.input is not None
        inp = spec.input
        if inp.optional and wants_skip(text):
            self.ctx.slots[inp.slot] = None
            return self._fire("submit")
        value, why = self._parse(inp.kind, text, inp.max_length, inp.min, inp.max)
        free_text = inp.kind in ("text", "long_text")
        if not as_answer and (why or free_text or self.welcome_back):
            reading = self.engine.interpreter.read(text)
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
        check = spec.form.check and self.engine.registry.form_checks.get(spec.form.check)
        if not errors and check:
            errors = {k: v for k, v in check(self.ctx, values).items() if v}
        if errors:
            typed = {
                f.id: inputs.clean_text(str(form[f.id]))[: f.max_length]
                for f in spec.form.fields
                if form.get(f.id) not in (None, "")
            }
            self.ctx.slots[FORM_DRAFT_KEY] = {"form": spec.form.id, "values": typed}
            details = " ".join(f"{self._label(spec, k)}: {v}" for k, v in errors.items())
            self._say(self.msg["form_errors"].format(details=details))
            self._prompt()
            self.replies[-1] = replace(self.replies[-1], errors=errors)
            return self.replies
        self.ctx.slots.pop(FORM_DRAFT_KEY, None)
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
