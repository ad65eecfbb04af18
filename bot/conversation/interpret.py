"""The core's side of understanding: what the flows declare, turned into the layers' inputs.

The turn asks three questions of a typed message — which offered option it means, which flow it
asks for, and whether it suggests distress — and gets back guesses with a confidence level.
It is the turn, following the flows, that decides what to do with a guess; nothing a model
produces is ever shown to the person.

The encoder loads in a background thread when the engine is built, so the first prompt is not
held up; the first typed message that needs it waits for the load to finish. Buttons, numbers
and exact words never touch it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bot.conversation.flow_loader import read_data_yaml
from bot.conversation.flow_spec import FlowSpec, Problem, StateSpec
from bot.conversation.inputs import normalise_command
from bot.conversation.messages import Choice
from bot.conversation.words import GLOBAL_WORDS
from bot.understanding.dates import find_when
from bot.understanding.details import Details, details_in
from bot.understanding.encoder import CACHE_MAX_CHARS, Encoder, load_encoder
from bot.understanding.intents import Guess, IntentRouter, IntentSpec
from bot.understanding.options import OptionMatcher, OptionSpec
from bot.understanding.screening import MeaningLayer, SafetyRules, Screener, Screening

log = logging.getLogger(__name__)
DATA_FILE = "_understanding.yaml"
SAFETY_FILE = "_safety.yaml"
SAFETY_EXAMPLES_FILE = "_safety_examples.yaml"
MIDFLOW_GUESS = 0.5
SCREEN_WAIT = 180.0  # seconds: see Interpreter.screen
# OptionMatcher scores a words-only match at 0.5 unless meaning agrees more strongly.
WORDS_SCORE = 1.0
EncoderSource = Encoder | Callable[[], Encoder | None] | None


@dataclass
class Reading:
    """One typed message, encoded at most once however many layers look at it."""

    text: str
    _encoder: Encoder | None
    _vector: np.ndarray | None = field(default=None, init=False)
    _done: bool = field(default=False, init=False)

    @property
    def vector(self) -> np.ndarray | None:
        if not self._done:
            self._done = True
            if self._encoder is not None and self.text.strip():
                self._vector = self._encoder.encode([self.text])[0]
        return self._vector


@cache
def shared_encoder() -> Encoder | None:
    """One encoder per process, however many engines: the model and its cache are shared."""
    return load_encoder()


@dataclass(frozen=True)
class Decision:
    """What a typed message at a step comes to: the turn carries it out, flows permitting.

    ``kind``: ``check`` (gentle safety check), ``skip``, ``choose`` / ``confirm_choice`` (an
    offered option), ``start`` / ``switch`` / ``guess`` (another flow), or ``none``.
    """

    kind: str
    target: str | None = None


def decide(
    interp: Interpreter,
    reading: Reading,
    flow: str,
    spec: StateSpec,
    offered: list[Choice],
    *,
    home: str,
    can_skip: bool,
) -> Decision:
    """The order of reading a message that matched nothing exactly (README, "How a turn
    works"): skip, the offered options, then another flow. Crisis screening came before this,
    on every message (:meth:`Interpreter.screen`). Kept apart from the turn so the labelled set
    measures exactly what people get."""
    at_home = flow == home
    # At the menu every option is a flow: the intents, with their examples, read it better.
    option = interp.option(reading, spec, offered) if offered and not at_home else None
    if option is not None and interp.risky(spec, str(option.name)):
        option = None  # a destructive or private step is only ever answered with its buttons
    if can_skip:
        return Decision("skip", spec.skip)
    if option is not None and option.level == "act" and not at_home:
        return Decision("choose", option.name)
    intent = interp.intent(reading)
    if at_home and intent.name == home and intent.level != "none":
        return Decision("home", home)
    target = intent.name if intent.name and intent.name != flow else None
    # News that one of this step's own options leads to ("they went with someone else" when
    # asked what the company said) is that option, not a reason to leave the step.
    via = interp.option_leading_to(flow, spec, offered, target) if target and not at_home else None
    if via is not None and intent.level in ("act", "confirm"):
        return Decision("choose" if intent.level == "act" else "confirm_choice", via)
    if target and intent.level == "act":
        return Decision("start" if at_home else "switch", target)
    if option is not None and option.level == "act":
        return Decision("choose", option.name)
    if option is not None and option.level != "none":
        return Decision("confirm_choice", option.name)
    # Mid-flow a wrong "did you mean" costs more (it interrupts), so it needs a firmer guess.
    if target and intent.level == "confirm" and (at_home or intent.score >= MIDFLOW_GUESS):
        return Decision("guess", target)
    return Decision("none")


def close_examples(
    flows: dict[str, FlowSpec], encoder: Encoder, threshold: float = 0.9
) -> list[Problem]:
    """Warnings for examples of two different flows that mean nearly the same: the router
    cannot tell those flows apart on such a message, so one of them should be reworded."""
    pairs = [(i.name, e) for i in intents_of(flows.values()) for e in i.examples]
    if not pairs:
        return []
    vectors = encoder.encode([e for _, e in pairs])
    sims = vectors @ vectors.T
    out: list[Problem] = []
    for a in range(len(pairs)):
        for b in range(a + 1, len(pairs)):
            (fa, ea), (fb, eb) = pairs[a], pairs[b]
            if fa != fb and sims[a, b] >= threshold:
                message = f"example {ea!r} means nearly the same as {fb}'s {eb!r}"
                out.append(Problem(flows[fa].file, None, message, "warning"))
    return out


def load_understanding_data(flows_dir: Path) -> dict[str, list[str]]:
    """Small talk and distress anchors: data beside the flows, editable like them."""
    path = flows_dir / DATA_FILE
    if not path.exists():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): [str(x) for x in (v or [])] for k, v in raw.items()}


def load_safety_data(flows_dir: Path) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The screening rules and the classifier's examples (flows/_safety*.yaml)."""
    rules_path, examples_path = flows_dir / SAFETY_FILE, flows_dir / SAFETY_EXAMPLES_FILE
    rules = read_data_yaml(rules_path) if rules_path.exists() else {}
    raw = read_data_yaml(examples_path) if examples_path.exists() else {}
    examples = {str(k): [str(x) for x in (v or [])] for k, v in (raw or {}).items()}
    return rules or {}, examples


def compile_answers(raw: dict[str, Any]) -> dict[str, re.Pattern[str]]:
    """``answers:`` of the safety file: phrases by answer (safe, unsafe, private)."""
    out = {}
    for key, phrases in raw.items():
        items = [str(p) for p in phrases or ()]
        if items:
            alternation = "|".join(items)
            out[str(key)] = re.compile(rf"(?<![a-z0-9'])(?:{alternation})(?![a-z0-9])")
    return out


def intents_of(flows: Iterable[FlowSpec]) -> list[IntentSpec]:
    out = []
    for flow in flows:
        understand = getattr(flow, "understand", None)
        if understand is None or not understand.examples:
            continue
        out.append(
            IntentSpec(
                name=flow.name,
                label=understand.label or flow.title,
                examples=tuple(understand.examples),
                commands=tuple(flow.commands),
                confirm=bool(understand.confirm),
            )
        )
    return out


class Interpreter:
    def __init__(
        self,
        flows: dict[str, FlowSpec],
        data: dict[str, list[str]],
        encoder: EncoderSource = None,
        safety: tuple[dict[str, Any], dict[str, list[str]]] | None = None,
    ) -> None:
        self.flows = flows
        self.data = data
        rules, self.safety_examples = safety or ({}, {})
        # What the crisis reply offers (a flow to reach a person) and how a typed answer to
        # the gentle check is read: both declared in the safety file.
        self.safety_reply: dict[str, Any] | None = rules.get("talk_to_a_person") or None
        self.safety_answers = compile_answers(rules.get("answers") or {})
        # The phrase layer works from the first message, before the encoder has loaded.
        self.screener = Screener(SafetyRules(rules))
        # The steps of flows that must never start on a guess (by identity: looked up per turn).
        self._confirm_first_states = {
            id(state)
            for flow in flows.values()
            if self._confirm_first_of(flow)
            for state in flow.states.values()
        }
        self._ready = threading.Event()
        self._recent = threading.local()
        self._lock = threading.Lock()
        self._exact: set[str] | None = None
        self.encoder: Encoder | None = None
        self._build(None)
        if callable(encoder) and not hasattr(encoder, "encode"):
            thread = threading.Thread(target=self._load, args=(encoder,), daemon=True)
            thread.start()
        else:
            if encoder is not None:
                self._build(encoder)  # type: ignore[arg-type]
            self._ready.set()

    def _load(self, loader: Callable[[], Encoder | None]) -> None:
        try:
            encoder = loader()
            if encoder is not None:
                self._build(encoder)
        except Exception:
            log.exception("the sentence encoder failed to load; using word matching only")
        finally:
            self._ready.set()

    def _build(self, encoder: Encoder | None) -> None:
        preload = getattr(encoder, "preload", None)
        if preload is not None:  # the real encoder: examples read back from the last start
            intents = intents_of(self.flows.values())
            preload([
                *(t for i in intents for t in (*i.examples, *i.commands, i.label)),
                *self.data.get("small_talk", ()),
                *(t for v in self.safety_examples.values() for t in v),
            ])  # fmt: skip
        router = IntentRouter(
            intents_of(self.flows.values()), encoder, small_talk=self.data.get("small_talk", ())
        )
        meaning = MeaningLayer(
            encoder,
            concern=self.safety_examples.get("concern", ()),
            ordinary=[
                *self.safety_examples.get("ordinary", ()),
                *self.data.get("small_talk", ()),
                *(e for i in intents_of(self.flows.values()) for e in i.examples),
            ],
        )
        with self._lock:
            self.encoder = encoder
            self.router = router
            self.screener = Screener(self.screener.rules, meaning if meaning.ready else None)
            self.matcher = OptionMatcher(encoder)

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until the encoder is loaded (or failed to load); True when it is usable."""
        self._ready.wait(timeout)
        return self.encoder is not None

    def warm(self, texts: Sequence[str]) -> int:
        """Encode several waiting messages in one batch, so their turns find the vectors in the
        encoder's cache: one forward pass over a batch streams the weights once, not once per
        message. Only what a turn could ask the encoder for is encoded: never a number, a
        global or command word, or an option label (those are matched exactly and never reach
        the encoder), nor a text too long to be cached. Returns how many were encoded."""
        encoder = self.encoder
        if encoder is None or not getattr(encoder, "caches", False):
            return 0  # without a cache the turns would encode them again
        wanted = list(dict.fromkeys(t for t in texts if self._worth_encoding(t)))
        if len(wanted) < 2:
            return 0  # one message: its own turn encodes it, batching buys nothing
        encoder.encode(wanted)
        return len(wanted)

    def _worth_encoding(self, text: str) -> bool:
        if not text or len(text) > CACHE_MAX_CHARS:
            return False
        plain = normalise_command(text)
        if not plain or plain.replace(".", "").replace(",", "").isdigit():
            return False
        if self._exact is None:
            self._exact = {w for w in GLOBAL_WORDS} | {
                normalise_command(word)
                for flow in self.flows.values()
                for word in (
                    *flow.commands,
                    *(c.label for st in flow.states.values() for c in st.choices),
                    *(s for st in flow.states.values() for c in st.choices
                      for s in (getattr(c, "synonyms", ()) or ())),
                )
            }  # fmt: skip
        return plain not in self._exact

    # ------------------------------------------------------------------ questions

    def read(self, text: str) -> Reading:
        """The message, encoded at most once: the screen and the turn's later questions about
        the same text (on this thread, so one turn) share one reading."""
        self.wait()
        last = getattr(self._recent, "reading", None)
        if last is not None and last.text == text and last._encoder is self.encoder:
            return last
        reading = Reading(text, self.encoder)
        self._recent.reading = reading
        return reading

    def intent(self, reading: Reading) -> Guess:
        """The flow a message asks for, with how sure the router is."""
        return self.router.route(reading.text, reading.vector)

    def option(self, reading: Reading, spec: StateSpec, offered: list[Choice]) -> Guess:
        synonyms: dict[str, tuple[str, ...]] = {
            c.id: tuple(getattr(c, "synonyms", ()) or ()) for c in spec.choices
        }
        options = [OptionSpec(c.id, c.label, synonyms.get(c.id, ())) for c in offered]
        return self.matcher.match(reading.text, reading.vector, options)

    def risky(self, spec: StateSpec, choice_id: str) -> bool:
        """Options that must never be taken on a guess: those of a confirm-first flow's
        steps, and those that lead into one (``forget``, ``export``)."""
        for choice in spec.choices:
            if choice.id == choice_id and choice.to.startswith("@"):
                return self._confirm_first(choice.to[1:])
            if choice.id == choice_id and choice.synonyms:
                return False  # the flow's author listed words for it: safe to take from text
        return id(spec) in self._confirm_first_states

    def _confirm_first(self, flow: str) -> bool:
        return self._confirm_first_of(self.flows.get(flow))

    @staticmethod
    def _confirm_first_of(spec: FlowSpec | None) -> bool:
        understand = getattr(spec, "understand", None)
        return bool(understand and understand.confirm)

    def screen(self, text: str) -> Screening:
        """Crisis screening of one piece of text the person sent: the rules at once, the
        meaning layer when the encoder is loaded (waited for, like any typed message)."""
        # Safety outranks speed: on a cold start (the classifier's examples encoded and trained
        # for the first time) wait longer than for understanding, rather than screen by rules
        # alone.
        self.wait(SCREEN_WAIT)
        reading = self.read(text)
        # A button's label or a command is the bot's own words: the rules read it, the encoder
        # is not woken for it.
        own = not self._worth_encoding(text) and len(text) <= CACHE_MAX_CHARS
        return self.screener.screen(text, lambda: reading.vector, meaning_allowed=not own)

    def option_leading_to(
        self, flow: str, spec: StateSpec, offered: list[Choice], target: str
    ) -> str | None:
        """The one offered option whose path (through steps that ask nothing) starts
        ``target``, e.g. outcome's "It's a no" leads to the rejection flow."""
        states = self.flows[flow].states
        ids = {c.id for c in offered}
        found = []
        for choice in spec.choices:
            if choice.id not in ids:
                continue
            to, hops = choice.to, 0
            while not to.startswith("@") and to in states and hops < 5:
                nxt = states[to]
                if nxt.waits or not nxt.next:
                    break
                to, hops = nxt.next[-1].to, hops + 1
            if to == f"@{target}":
                found.append(choice.id)
        return found[0] if len(found) == 1 else None

    @staticmethod
    def details(text: str) -> Details:
        return details_in(text)

    @staticmethod
    def when(text: str, now_local: datetime, day_first: bool = True) -> str | None:
        """A date (and time) named in the sentence, as a form field's starting value."""
        found = find_when(text, now_local, day_first=day_first)
        if found is None:
            return None
        return f"{found.at:%Y-%m-%d %H:%M}" if found.has_time else f"{found.at:%Y-%m-%d}"

    def interrupts(self, news_flow: str, current: str) -> bool:
        """May a free-text answer in ``current`` be read as ``news_flow``'s news?

        Only news (a rejection, an offer) interrupts an answer, and never in flows whose
        answers are about that news anyway (reflecting on a rejection mentions the rejection).
        """
        if news_flow not in self.flows or current not in self.flows:
            return False
        news = getattr(self.flows[news_flow], "understand", None)
        here = getattr(self.flows[current], "understand", None)
        return bool(news and news.news) and not (here and here.quiet)

    def describe(self, flow: str) -> str:
        spec = self.flows[flow]
        understand = getattr(spec, "understand", None)
        return (understand.label if understand and understand.label else spec.title) or flow


def as_slots(details: Details) -> dict[str, Any]:
    return details.as_slots()
