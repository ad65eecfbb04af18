"""Crisis screening: one reading of every piece of text a person sends, before anything else.

Two layers, built for recall. The rules (``flows/_safety.yaml``: phrase patterns by category,
with negation, job-search idioms and past stories kept apart) catch what people say plainly
or in the usual euphemisms, slang and spellings. A classifier over the sentence encoder
(``flows/_safety_examples.yaml``) reads each sentence by meaning, so a signal in the last line
of a long message, or in words no list holds, is still read. Each layer says ``crisis`` (a
clear hit: the full crisis reply) or ``check`` (ambiguous: the gentle "are you safe?"); the
screen takes the stronger. A message about someone else in danger is marked ``other``, so the
reply can be worded for a friend.

Nothing here decides what the bot says; the turn does, from the :class:`Screening`.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

import numpy as np

from bot.understanding.encoder import Encoder
from bot.understanding.store import digest, remembered
from bot.understanding.text import normalise
from bot.understanding.text import words as _words

Level = Literal["none", "check", "crisis"]
_RANK = {"none": 0, "check": 1, "crisis": 2}
OTHER = "other_person"
PREPARATION = "preparation"
TIMING = "plan_timing"

# Read at most this much of one message (a pasted email is ~3,000 characters): the rules are
# linear, and the classifier reads only the first ``MAX_SENTENCES`` sentences.
MAX_SCREENED = 20_000
MAX_SENTENCES = 40
WINDOW_WORDS = 24
# The meaning layer reads messages of at least FEWEST_WORDS words; below SURE_WORDS it can
# raise the check (at SHORT_CHECK), never the full reply.
FEWEST_WORDS = 3
SURE_WORDS = 5
SHORT_CHECK = 0.9  # a long run-on sentence is read in windows of this many words

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})
_LEET = str.maketrans({"1": "i", "!": "i", "|": "i", "3": "e", "0": "o", "4": "a", "@": "a",
                       "$": "s", "5": "s", "7": "t", "*": "", "+": "t"})  # fmt: skip
_TOKEN = re.compile(r"\S+")
_LEET_CHARS = frozenset("1!|30@$57*+4")
_NUMBERISH = re.compile(
    r"^[0-9.,:/+\-]*\d(?:st|nd|rd|th|am|pm|k|m|x|h|hrs?|mins?|yrs?|s|ish)?[.,!?]*$"
)
_SPACED = re.compile(r"(?<![a-z])(?:[a-z][ .\-_]){2,}[a-z](?![a-z])")
_BREAKS = re.compile(r"[,;:]+|[.!?]+|\n+|\s+-\s+|\s+—\s+|\s+–\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_SHORTHAND = {
    "im": "i'm", "ive": "i've", "dont": "don't", "didnt": "didn't", "cant": "can't",
    "wont": "won't", "wasnt": "wasn't", "isnt": "isn't", "doesnt": "doesn't",
    "wouldnt": "wouldn't", "couldnt": "couldn't", "shouldnt": "shouldn't", "arent": "aren't",
    "thats": "that's", "whats": "what's", "theres": "there's", "noone": "no one",
    "every1": "everyone", "ppl": "people", "rn": "right now", "tonite": "tonight",
    "2nite": "tonight", "2day": "today", "2morrow": "tomorrow", "tmrw": "tomorrow",
    "tmr": "tomorrow", "b4": "before", "cuz": "because", "coz": "because", "bc": "because",
    "lyf": "life", "ded": "dead", "wanna": "want to", "gonna": "going to", "tryna": "trying to",
    "finna": "going to", "imma": "i'm going to", "ima": "i'm going to", "gunna": "going to",
    "u": "you", "ur": "your", "abt": "about", "rly": "really", "pls": "please",
    "kinda": "kind of", "wna": "want to", "cya": "see you", "mysef": "myself",
    "myslef": "myself", "mysefl": "myself", "myelf": "myself", "mself": "myself",
}  # fmt: skip


@dataclass(frozen=True)
class Screening:
    """What the screen found in one message: a level, whom it is about, and the categories
    that fired (names only, never words: safe to log and count)."""

    level: Level = "none"
    about: Literal["self", "other"] = "self"
    categories: tuple[str, ...] = ()

    @property
    def concerning(self) -> bool:
        return self.level != "none"

    @property
    def crisis(self) -> bool:
        return self.level == "crisis"


NOTHING = Screening()


def stronger(a: Level, b: Level) -> Level:
    return a if _RANK[a] >= _RANK[b] else b


# ---------------------------------------------------------------------------- reading text


def screen_form(text: str) -> str:
    """The text as the rules read it: lower case, emoji named, leet and spaced letters undone,
    clause punctuation as `` | ``, chat shorthand expanded, single spaces."""
    text = unicodedata.normalize("NFKC", text[:MAX_SCREENED]).lower().translate(_APOSTROPHES)
    return text


def _plain(text: str, emoji: Mapping[str, str]) -> str:
    for symbol, name in emoji.items():
        if symbol in text:
            text = text.replace(symbol, f" {name} ")
    text = _TOKEN.sub(_unleet, text)
    text = _SPACED.sub(lambda m: re.sub(r"[ .\-_]", "", m.group(0)), text)
    text = _BREAKS.sub(" | ", text)
    kept = "".join(ch if ch.isalnum() or ch in "'|/-_" or ch.isspace() else " " for ch in text)
    words = [_SHORTHAND.get(w, w) for w in kept.split()]
    return re.sub(r"(?:\| )+\|?", "| ", " ".join(words)).strip(" |")


def _unleet(match: re.Match[str]) -> str:
    """"su1c1d3" -> "suicide", "k!ll" -> "kill"; times and numbers ("4th", "9am") stay."""
    token = match.group(0)
    core = token.strip(".,!?;:'\"()")
    if not core or _NUMBERISH.match(core) or not any(c.isalpha() for c in core):
        return token
    if sum(c.isalpha() for c in core) < 2 or not any(c in _LEET_CHARS for c in core):
        return token
    lead = len(token) - len(token.lstrip(".,!?;:'\"()"))
    tail = len(token.rstrip(".,!?;:'\"()"))
    return token[:lead] + token[lead:tail].translate(_LEET) + token[tail:]


def sentences(text: str) -> list[str]:
    """The message's sentences, long ones in overlapping windows, for the classifier."""
    out: list[str] = []
    for part in _SENTENCE_END.split(text[:MAX_SCREENED]):
        words = part.split()
        if not words:
            continue
        if len(words) <= WINDOW_WORDS:
            out.append(" ".join(words))
            continue
        step = WINDOW_WORDS // 2
        for start in range(0, len(words) - step, step):
            out.append(" ".join(words[start : start + WINDOW_WORDS]))
    return out[:MAX_SENTENCES]


# ---------------------------------------------------------------------------- the rules


class RulesError(ValueError):
    """A pattern in the safety file that does not compile (named, for ``flows check``)."""


@dataclass
class _Category:
    name: str
    crisis: list[list[re.Pattern[str]]]
    check: list[list[re.Pattern[str]]]


@dataclass
class RuleHit:
    level: Level = "none"
    categories: set[str] = field(default_factory=set)
    other: bool = False
    negated: bool = False
    # The rules saw the words undone (negated, told as over, "just a joke"): meaning adds
    # nothing to such a message.
    neutralised: bool = False


def _wrap(pattern: str) -> str:
    return rf"(?<![a-z0-9'])(?:{pattern})(?![a-z0-9])"


class SafetyRules:
    """The phrase layer, compiled from the safety file's data."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        macros = {str(k): str(v) for k, v in (raw.get("macros") or {}).items()}
        self.emoji = {str(k): str(v) for k, v in (raw.get("emoji") or {}).items()}

        def expand(pattern: str) -> str:
            for _ in range(3):  # macros may name macros
                pattern = re.sub(
                    r"\{([a-z_]+)\}", lambda m: macros.get(m.group(1), m.group(0)), pattern
                )
            return pattern

        def compile_one(pattern: str, where: str) -> re.Pattern[str]:
            try:
                compiled = re.compile(_wrap(expand(pattern)))
            except re.error as exc:
                raise RulesError(f"{where}: {pattern!r}: {exc}") from exc
            if compiled.fullmatch(""):  # it would match every message
                raise RulesError(f"{where}: {pattern[:60]!r}: matches an empty text")
            return compiled

        def compile_items(items: Iterable[Any], where: str) -> list[list[re.Pattern[str]]]:
            out = []
            for item in items or ():
                parts = item if isinstance(item, list) else [item]
                out.append([compile_one(str(p), where) for p in parts])
            return out

        self.categories: list[_Category] = []
        for name, spec in (raw.get("categories") or {}).items():
            spec = spec or {}
            self.categories.append(
                _Category(
                    str(name),
                    compile_items(spec.get("crisis"), f"categories.{name}.crisis"),
                    compile_items(spec.get("check"), f"categories.{name}.check"),
                )
            )

        def alternation(key: str) -> re.Pattern[str] | None:
            value = raw.get(key)
            if not value:
                return None
            items = value if isinstance(value, list) else [value]
            return compile_one("|".join(f"(?:{expand(str(v))})" for v in items), key)

        def whole(key: str) -> re.Pattern[str] | None:
            value = raw.get(key)
            if not value:
                return None
            try:
                return re.compile(rf"^(?:{expand(str(value))})$")
            except re.error as exc:
                raise RulesError(f"{key}: {exc}") from exc

        self.benign = alternation("benign")
        self.past = alternation("past")
        self.recovered = alternation("recovered")
        self.relapse = alternation("relapse")
        self.media = alternation("media")
        self.context = alternation("context")
        self.departure = alternation("departure")
        self.topics = alternation("topics")
        self.retraction = alternation("retraction")
        self.negator = whole("negation")
        self.negation_scope = whole("negation_scope")
        exc = raw.get("negation_exceptions")
        self.negation_exception = re.compile(rf"^(?:{expand(str(exc))})(?![a-z])") if exc else None
        self.first_person = whole("first_person")
        self.third_person = alternation("third_person")
        swaps = raw.get("perspective") or {}
        self.perspective = [(re.compile(_wrap(str(k))), str(v)) for k, v in swaps.items()]

    def plain(self, text: str) -> str:
        return _plain(screen_form(text), self.emoji)

    def _negated(self, clause_before: str, matched: str) -> bool:
        """A negator just before the match ("I'm not going to hurt myself"): only words that
        carry the negation onto the match may stand between ("going to", "any thoughts of"),
        and not one of the exceptions ("not sure", "no one")."""
        if self.negator is None:
            return False
        words = clause_before.split()[-5:]
        for j in range(len(words) - 1, -1, -1):
            word = words[j]
            if self.negator.match(word):
                rest = " ".join([*words[j:], matched])
                exc = self.negation_exception
                return not (exc is not None and exc.match(rest))
            if self.negation_scope is None or not self.negation_scope.match(word):
                return False
        return False

    def _found(self, parts: list[re.Pattern[str]], sentence: str) -> tuple[bool, bool]:
        """(found unnegated, found only negated) for one item in one sentence."""
        negated_only = False
        for k, pattern in enumerate(parts):
            hit = False
            for m in pattern.finditer(sentence):
                if k == 0 and len(parts) == 1:
                    before = sentence[: m.start()].rsplit("|", 1)[-1]
                    if self._negated(before, m.group(0)):
                        negated_only = True
                        continue
                hit = True
                break
            if not hit:
                return False, negated_only
        return True, False

    def _without_topics(self, sentence: str) -> str:
        """Topic words (suicide, self-harm...) named as a subject of work or study, not as
        the person's own: blanked unless a first-person word stands just before them."""
        if self.topics is None:
            return sentence

        def blank(m: re.Match[str]) -> str:
            before = sentence[: m.start()].split()[-3:]
            if self.first_person is not None and any(self.first_person.match(w) for w in before):
                return m.group(0)
            return " "

        return self.topics.sub(blank, sentence)

    def _levels(self, units: list[str], hit: RuleHit) -> tuple[Level, Level]:
        """(about the person, about someone else) over the sentences.

        In a sentence about a film or a song, a hit is worth the check at most; in one about
        work or study (a patient, a caller, a role play), only what the person says of
        themselves counts, and topic words are not theirs; in one about an ordinary departure
        (a move abroad, a last day at work), preparations and plans are about that."""
        self_level: Level = "none"
        other_level: Level = "none"
        checked_besides_timing = False
        for sentence in units:
            in_media = bool(self.media and self.media.search(sentence))
            at_work = bool(self.context and self.context.search(sentence))
            leaving = bool(self.departure and self.departure.search(sentence))
            if in_media or at_work:
                sentence = self._without_topics(sentence)
            for cat in self.categories:
                if leaving and cat.name in (PREPARATION, TIMING):
                    continue
                for level, items in (("crisis", cat.crisis), ("check", cat.check)):
                    for parts in items:
                        found, negated = self._found(parts, sentence)
                        hit.negated |= negated
                        if not found:
                            continue
                        got: Level = level  # type: ignore[assignment]
                        if (in_media or at_work) and not self._own(parts[0], sentence):
                            if cat.name == OTHER:
                                continue
                            got = "none" if at_work and not in_media else "check"
                        if in_media and got == "crisis":
                            got = "check"
                        if got == "none":
                            continue
                        hit.categories.add(cat.name)
                        if cat.name == OTHER:
                            other_level = stronger(other_level, got)
                        else:
                            self_level = stronger(self_level, got)
                            checked_besides_timing |= cat.name != TIMING
                        break  # one item is enough for this category and level
        # A plan or a time beside an ambiguous signal makes it clear.
        if self_level == "check" and TIMING in hit.categories and checked_besides_timing:
            self_level = "crisis"
        return self_level, other_level

    def _own(self, pattern: re.Pattern[str], sentence: str) -> bool:
        """Does the person speak of themselves where ``pattern`` matched (a first-person word
        in the match or just before it)?"""
        m = pattern.search(sentence)
        if m is None or self.first_person is None:
            return False
        around = sentence[: m.start()].split()[-4:] + m.group(0).split()
        return any(self.first_person.match(w) for w in around)

    def read(self, text: str) -> RuleHit:
        units = [s.strip(" |") for s in _sentence_units(text, self)]
        if self.benign is not None:
            units = [self.benign.sub(" ", s) for s in units]
        units = [u for u in units if u.strip(" |")]
        whole = " | ".join(units)
        result = RuleHit()
        self_level, other_level = self._levels(units, result)
        named = self.third_person is not None and self.third_person.search(whole)
        if self_level == "none" and named:
            # "my brother says he wants to end it": read again as if he had written it.
            swapped = RuleHit()
            as_own, _ = self._levels([self._swap(u) for u in units], swapped)
            if as_own != "none":
                other_level = stronger(other_level, as_own)
                result.categories.add(OTHER)
        if self._past_story(whole):
            self_level = other_level = "none"
            result.categories.clear()
            result.neutralised = True
        if self.retraction is not None and self.retraction.search(whole):
            result.neutralised = True
            if self_level == "crisis":
                self_level = "check"  # "when I say I want to die it's a joke": ask, don't alarm
        if result.negated and self_level == "none":
            result.neutralised = True
        if self_level != "none":
            result.level = self_level
        elif other_level != "none":
            result.level, result.other = other_level, True
        return result

    def _swap(self, sentence: str) -> str:
        for pattern, replacement in self.perspective:
            sentence = pattern.sub(replacement, sentence)
        return sentence

    def past_story(self, text: str) -> bool:
        return self._past_story(self.plain(text))

    def _past_story(self, plain: str) -> bool:
        """Something told as over: a time long ago and a way out of it, and nothing of now."""
        if self.past is None or self.recovered is None:
            return False
        if not (self.past.search(plain) and self.recovered.search(plain)):
            return False
        return not (self.relapse is not None and self.relapse.search(plain))


def _sentence_units(text: str, rules: SafetyRules) -> list[str]:
    return [rules.plain(s) for s in _SENTENCE_END.split(text[:MAX_SCREENED]) if s.strip()]


# ---------------------------------------------------------------------------- the classifier

FEATURE_DIM = 4096  # hashed word and character n-grams, each


def text_features(texts: Sequence[str]) -> np.ndarray:
    """Hashed words and word pairs, and character 3-5-grams, log-scaled and unit length.

    The words catch what the sentence encoder blurs ("unalive", "sewerslide", a method named
    in passing); the character grams catch the same words misspelt."""
    words_part = np.zeros((len(texts), FEATURE_DIM), np.float32)
    chars_part = np.zeros((len(texts), FEATURE_DIM), np.float32)
    for row, text in enumerate(texts):
        norm = normalise(text)
        for clause in norm.split("|"):
            ws = _words(clause)
            for feature in (*ws, *(f"{a} {b}" for a, b in pairwise(ws))):
                words_part[row, zlib.crc32(feature.encode("utf-8")) % FEATURE_DIM] += 1.0
        spaced = " " + " ".join(_words(norm)) + " "
        for k in (3, 4, 5):
            for i in range(len(spaced) - k + 1):
                gram = "c" + spaced[i : i + k]
                chars_part[row, zlib.crc32(gram.encode("utf-8")) % FEATURE_DIM] += 1.0
    out = []
    for part in (words_part, chars_part):
        part = np.log1p(part)
        part /= np.maximum(np.linalg.norm(part, axis=1, keepdims=True), np.float32(1e-9))
        out.append(part)
    return np.hstack(out)


def train_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1e-4, steps: int = 600, rate: float = 0.05
) -> tuple[np.ndarray, float]:
    """Binary logistic regression, classes weighted equally, fitted with Adam. Deterministic;
    a few seconds on ~2,000 examples, and read back from the last start (store.py)."""
    w = np.zeros(x.shape[1], np.float32)
    bias = 0.0
    m, v = np.zeros_like(w), np.zeros_like(w)
    mb = vb = 0.0
    positive = float(y.mean())
    weight = np.where(y == 1, 0.5 / positive, 0.5 / (1 - positive)).astype(np.float32)
    for t in range(1, steps + 1):
        p = 1.0 / (1.0 + np.exp(-(x @ w + bias)))
        g = (p - y) * weight / len(y)
        gw = x.T @ g + l2 * w
        gb = float(g.sum())
        m, v = 0.9 * m + 0.1 * gw, 0.999 * v + 0.001 * gw * gw
        mb, vb = 0.9 * mb + 0.1 * gb, 0.999 * vb + 0.001 * gb * gb
        w -= rate * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        bias -= float(rate * (mb / (1 - 0.9**t)) / (np.sqrt(vb / (1 - 0.999**t)) + 1e-8))
    return w, bias


@dataclass(frozen=True)
class ClassifierThresholds:
    """Chosen by 5-fold cross-validation on the tune split (benchmarks/README.md)."""

    crisis: float = 0.97  # alone, with nothing from the rules: the full reply
    check: float = 0.65  # alone: the gentle check
    upgrade: float = 0.97  # beside an ambiguous rule hit: the full reply
    encoder_weight: float = 2.0


class MeaningLayer:
    """A logistic regression over the sentence encoder and hashed n-grams, trained on the
    examples file: concern (crisis messages of every category) against ordinary (hard
    negatives, form answers, small talk, the flows' own examples)."""

    def __init__(
        self,
        encoder: Encoder | None,
        concern: Sequence[str],
        ordinary: Sequence[str],
        thresholds: ClassifierThresholds | None = None,
    ) -> None:
        self.encoder = encoder
        self.t = thresholds or ClassifierThresholds()
        self._model: tuple[np.ndarray, float] | None = None
        if encoder is not None and concern and ordinary:
            texts = [*concern, *ordinary]
            y = np.array([1.0] * len(concern) + [0.0] * len(ordinary), np.float32)
            key = digest([*texts, f"{len(concern)} {self.t.encoder_weight} v1"])

            def make() -> dict[str, np.ndarray]:
                x = self.features(texts, encoder.encode(texts))
                weights, bias = train_logistic(x, y)
                return {"weights": weights, "bias": np.array([bias], np.float32)}

            model = remembered("safety", key, make)
            self._model = (model["weights"], float(model["bias"][0]))

    @property
    def ready(self) -> bool:
        return self._model is not None

    def features(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        return np.hstack([vectors * self.t.encoder_weight, text_features(texts)])

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        if self._model is None or not len(texts):
            return np.zeros(len(texts))
        weights, bias = self._model
        z = self.features(texts, vectors) @ weights + bias
        return 1.0 / (1.0 + np.exp(-z))

    def level(self, p: float, ruled: Level = "none") -> Level:
        """What a probability comes to, given what the rules found (``none`` or ``check``)."""
        if ruled == "check":
            return "crisis" if p >= self.t.upgrade else "check"
        if p >= self.t.crisis:
            return "crisis"
        if p >= self.t.check:
            return "check"
        return "none"


# ---------------------------------------------------------------------------- the screen


class Screener:
    """Rules, then meaning, on one message. Build once; ``screen`` is cheap."""

    def __init__(self, rules: SafetyRules, meaning: MeaningLayer | None = None) -> None:
        self.rules = rules
        self.meaning = meaning

    def screen(
        self,
        text: str,
        vector: Callable[[], np.ndarray | None] | np.ndarray | None = None,
        meaning_allowed: bool = True,
    ) -> Screening:
        """``vector``: the whole message's encoding when the turn already has it (or a
        function that makes it), reused for a one-sentence message. ``meaning_allowed``
        False: the text is one of the bot's own words (a button's label, a command), read by
        the rules only.

        The rules speak first. Where they find nothing, the meaning layer can raise the check
        or, when it is very sure, the full reply; where they find only an ambiguous signal, a
        likely reading by meaning makes it clear. Where the rules saw the words undone (a
        negation, a story told as over, "it's a joke"), meaning adds nothing."""
        if not text or not text.strip():
            return NOTHING
        hit = self.rules.read(text)
        level: Level = hit.level
        about: Literal["self", "other"] = "other" if hit.other else "self"
        categories = set(hit.categories)
        words = len(text.split())
        if (
            level != "crisis" and not hit.neutralised and self.meaning is not None
            and words >= FEWEST_WORDS and meaning_allowed
        ):  # fmt: skip
            p = self._meaning(text, vector)
            by_meaning = self.meaning.level(p, ruled=level)
            if words < SURE_WORDS and level == "none":
                # A few words ("in 2 wks", a name) are too little to be sure of: the check at
                # most, and only on a clear reading.
                by_meaning = "check" if p >= SHORT_CHECK else "none"
            if _RANK[by_meaning] > _RANK[level]:
                if level == "none":
                    about = "self"
                level = by_meaning
                categories.add("meaning")
        return Screening(level, about, tuple(sorted(categories))) if level != "none" else NOTHING

    def _meaning(
        self, text: str, vector: Callable[[], np.ndarray | None] | np.ndarray | None
    ) -> float:
        assert self.meaning is not None and self.meaning.encoder is not None
        parts = sentences(text)
        if not parts:
            return 0.0
        if len(parts) == 1:
            whole = vector() if callable(vector) else vector
            if whole is not None:
                return float(self.meaning.probabilities([text], whole.reshape(1, -1))[0])
        vectors = self.meaning.encoder.encode(parts)
        return float(self.meaning.probabilities(parts, vectors).max())
