"""What happens in one turn: safety first, then global words, then the answer to the current step.

The order matters and is the product's promise: every piece of text is screened for crisis
before anything else, and a message that suggests crisis stops everything, whatever step the
person is on (:mod:`~bot.conversation.turn_safety`); words like ``help``, ``pause`` and
``back`` work everywhere; only then is the message read as an answer. Anything that fits
nothing gets a helpful reply and the current question again, never silence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from bot.conversation import inputs
from bot.conversation.context import TurnContext
from bot.conversation.flow_spec import ENTRY_FLOW, HOME_FLOW, StateSpec
from bot.conversation.messages import Inbound, Reply
from bot.conversation.offers import OFFER_KEY, SUSPENDED_KEY, Offer
from bot.conversation.render import fill, render_state, template_values
from bot.conversation.safety import (
    asks_for_counselling,
    asks_if_bot_is_a_professional,
    asks_what_bot_is,
)
from bot.conversation.turn_answers import AnswersMixin, wants_skip
from bot.conversation.turn_moves import THEN_KEY, MovesMixin
from bot.conversation.turn_offers import OffersMixin, jsonable
from bot.conversation.turn_safety import SafetyMixin
from bot.conversation.words import GLOBAL_WORDS
from bot.storage.models import Conversation, User

__all__ = ["Turn", "wants_skip"]

if TYPE_CHECKING:
    from bot.conversation.engine import Engine


class Turn(SafetyMixin, AnswersMixin, OffersMixin, MovesMixin):
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
        settings_for = engine.registry.settings_for
        settings = settings_for(session, user, engine.settings) if settings_for else None
        self.ctx = TurnContext(
            session=session,
            user=user,
            conversation=conversation,
            inbound=inbound,
            now=engine.clock(),
            # The person's workspace's own settings over the config file's, resolved once.
            settings=settings or engine.settings,
            slots=dict(conversation.slots or {}),
            messages=engine.messages,
            posters=engine.posters,
            base_settings=engine.settings,
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
        # Safety first: every word, in every prompt, before it is stored or interpreted.
        decided = self._safety_first(self._screen_inbound(text), text)
        if decided is not None:
            return decided
        if text is not None and len(text) > inputs.MAX_TEXT:
            too_long = self.msg["too_long"].format(limit=inputs.MAX_TEXT)
            if self.fresh:  # no step to ask again yet: the reason, then the first hello
                self._say(too_long)
                return self._enter(f"@{ENTRY_FLOW}")
            return self._reprompt(too_long)
        if self.ctx.user.crisis_at is not None:
            # The note comes first; the message itself is still read and acted on.
            self.ctx.user.crisis_at = None
            self.paused = False
            self._emit("resumed")
            self._say(self.msg["crisis_return"])
            if not self.fresh and not text and inbound.choice is None and inbound.form is None:
                return self._prompt()
        if self.fresh:
            # A first message that is a command ("log", ``/rebound log``) is kept through the
            # welcome, which then leads into that flow rather than the menu.
            word = inputs.normalise_command(text) if text else ""
            if word in self.engine.commands:
                self.ctx.slots[THEN_KEY] = self.engine.commands[word]
            return self._enter(f"@{ENTRY_FLOW}")
        if text and asks_if_bot_is_a_professional(text):
            return self._reprompt(self.msg["identity_care"].format(resources=self._counselling()))
        if text and asks_what_bot_is(text):
            return self._reprompt(self.msg["identity"])
        if text and asks_for_counselling(text):
            return self._reprompt(self.msg["counselling"].format(resources=self._counselling()))
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

    def _counselling(self) -> str:
        resources = self.engine.settings.counselling_resources_for(self.ctx.user.workspace)
        return "\n".join(f"• {r}" for r in resources)

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
        return self.msg["help"]

    def _shortcuts_text(self) -> str:
        """One word per conversation (its first command), not every synonym: short enough to
        read, and each one works."""
        first = sorted({f.commands[0] for f in self.engine.flows.values() if f.commands})
        return self.msg["help_shortcuts"].format(commands=", ".join(first))

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
        conv.slots = {k: jsonable(v) for k, v in self.ctx.slots.items()}
        conv.history = list(self.history)
        conv.paused_at = (conv.paused_at or self.ctx.now) if self.paused else None
        conv.updated_at = self.ctx.now
