"""Safety in the turn: every piece of text is screened before anything else happens.

The screen (:mod:`bot.understanding.screening`) reads the typed message and every field of a
submitted form. What it finds decides the turn before the text is stored, interpreted or
answered:

- a clear signal: the full crisis reply (coaching on hold, reminders held until they write
  again), with a button to reach a person at the careers service where the workspace has one;
- an ambiguous one: the gentle "are you safe?" check. Only "yes, I'm safe" lets the coaching
  go on (with the support list, once); "no", "I'd rather not say" and anything that is not an
  answer get the full reply. For a week after a "yes", any further signal gets the full reply;
- someone else in danger: the same lines, worded for a friend, and the question again.

Part of :class:`~bot.conversation.turn.Turn`. The words it sends live in ``flows/``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from bot.conversation.flow_spec import ENTRY_FLOW
from bot.conversation.messages import Reply
from bot.conversation.offers import OFFER_KEY, Offer
from bot.understanding.screening import NOTHING, Screening, stronger
from bot.understanding.text import normalise

log = logging.getLogger(__name__)

# After "I'm safe" at the check, further signals this soon get the full reply.
CHECK_WINDOW = timedelta(days=7)
SAFETY_OFFER = "safety"
CRISIS_OFFER = "crisis"
TALK = "~talk"


class SafetyMixin:
    """How a turn screens what the person sent and answers what it finds."""

    def _screen_inbound(self, text: str | None) -> Screening:
        """The strongest reading over the message and each submitted field on its own."""
        inbound = self.ctx.inbound
        pieces = [text] if text else []
        form = self._spec().form if self.flow and inbound.form else None
        unscreened = {f.id for f in form.field_specs if not f.screen} if form else set()
        pieces += [
            str(v) for k, v in (inbound.form or {}).items()
            if isinstance(v, str) and v and k not in unscreened
        ]  # fmt: skip
        found = NOTHING
        interp = self.engine.interpreter
        for piece in pieces:
            screening = interp.screen(piece)
            if screening.level != "none" and (
                found.level == "none" or stronger(screening.level, found.level) != found.level
                or (screening.about == "self" and found.about == "other")
            ):
                found = screening
        if found.concerning:  # names of categories only: never the words
            log.info(
                "screening: %s about %s (%s)", found.level, found.about, ",".join(found.categories)
            )
        return found

    def _safety_first(self, screening: Screening, text: str | None) -> list[Reply] | None:
        """Replies when safety decides this turn; None to carry on as usual."""
        offer = Offer.load(self.ctx.slots.get(OFFER_KEY))
        inbound = self.ctx.inbound
        if offer is not None and offer.kind == SAFETY_OFFER:
            if not text and inbound.choice is None and inbound.form is None:
                return None  # an empty message leaves the check open (asked again)
            self.ctx.slots.pop(OFFER_KEY, None)
            picked = self._safety_answer(offer, text)
            if picked == "~safe" and not screening.concerning:
                return self._safe_said()
            return self._crisis()
        if offer is not None and offer.kind == CRISIS_OFFER and inbound.choice == TALK:
            self.ctx.slots.pop(OFFER_KEY, None)
            if inbound.token == self.token and not screening.concerning:
                return self._talk_to_a_person()
        if not screening.concerning:
            return None
        self.ctx.slots.pop(OFFER_KEY, None)
        if screening.about == "other":
            return self._someone_else()
        if screening.crisis or self._recently_checked():
            return self._crisis()
        return self._safety_check()

    # ------------------------------------------------------------------ the replies

    def _crisis(self) -> list[Reply]:
        user = self.ctx.user
        user.crisis_at = self.ctx.now
        self.paused = True
        self._emit("crisis")
        text = self.msg["crisis"].format(resources=self._resources())
        talk = self._talk_option()
        if talk is None:
            return self._say(text)
        offer = Offer(CRISIS_OFFER, [(TALK, self.msg["crisis_talk"])], {})
        return self._make_offer(offer, text)

    def _safety_check(self) -> list[Reply]:
        """The gentle check. Reminders are held until it is answered: no answer is a no."""
        self.ctx.user.crisis_at = self.ctx.now
        choices = [
            ("~safe", self.msg["safety_yes"]),
            ("~unsafe", self.msg["safety_no"]),
            ("~private", self.msg["safety_private"]),
        ]
        offer = Offer(SAFETY_OFFER, choices, {"state": self.state})
        return self._make_offer(offer, self.msg["safety_check"])

    def _safe_said(self) -> list[Reply]:
        user = self.ctx.user
        user.safe_said_at = self.ctx.now
        user.crisis_at = None
        self.paused = False
        self._say(self.msg["safety_glad"].format(support=self._support()))
        if self.fresh:
            return self._enter(f"@{ENTRY_FLOW}")
        return self._prompt()

    def _someone_else(self) -> list[Reply]:
        """A friend in danger: the lines to call, for them; the coaching carries on."""
        self._say(self.msg["crisis_other"].format(resources=self._resources()))
        if self.fresh:
            return self._enter(f"@{ENTRY_FLOW}")
        return self._prompt()

    def _talk_to_a_person(self) -> list[Reply]:
        talk = self._talk_option()
        self.ctx.user.crisis_at = None
        if talk is None:
            return self._crisis()
        flow, slots = talk
        return self.start(flow, dict(slots), None)

    # ------------------------------------------------------------------ helpers

    def _talk_option(self) -> tuple[str, dict[str, Any]] | None:
        """The flow that puts the person in touch with someone (``talk_to_a_person`` in the
        safety file), when its condition holds for this person's workspace."""
        spec = self.engine.interpreter.safety_reply
        if not spec or spec.get("flow") not in self.engine.flows:
            return None
        when = self.engine.registry.conditions.get(str(spec.get("when") or ""))
        if spec.get("when") and (when is None or not when(self.ctx)):
            return None
        return str(spec["flow"]), dict(spec.get("slots") or {})

    def _recently_checked(self) -> bool:
        said = self.ctx.user.safe_said_at
        return said is not None and self.ctx.now - said < CHECK_WINDOW

    def _safety_answer(self, offer: Offer, text: str | None) -> str | None:
        inbound = self.ctx.inbound
        if inbound.choice is not None:
            ok = inbound.token == self.token and inbound.choice in offer.ids()
            return inbound.choice if ok else None
        if not text:
            return None
        answers = self.engine.interpreter.safety_answers
        norm = normalise(text)
        if norm.isdecimal() and 1 <= int(norm) <= len(offer.choices):
            return offer.choices[int(norm) - 1][0]
        for cid, label in offer.choices:
            if norm == normalise(label):
                return cid
        for key in ("unsafe", "private", "safe"):  # a "no" inside a "yes" wins
            pattern = answers.get(key)
            if pattern is not None and pattern.search(norm):
                return f"~{key}"
        return None

    def _resources(self) -> str:
        resources = self.ctx.settings.crisis_resources_for(self.ctx.user.workspace)
        return "\n".join(f"• {r}" for r in resources)

    def _support(self) -> str:
        resources = self.ctx.settings.support_resources_for(self.ctx.user.workspace)
        return "\n".join(f"• {r}" for r in resources)

