"""Crisis screening (issue 22): the labelled set, its floors, and what a person meets.

The floors are asserted on the measure split of tests/data/safety, which is never used to
write a pattern, choose a threshold or train the classifier (the tune files are). The numbers
come from benchmarks/safety.py, which calls the same ``Interpreter.screen`` every turn calls.
"""

from __future__ import annotations

import logging
from collections import Counter
from difflib import SequenceMatcher
from pathlib import Path

import pytest
import yaml

from benchmarks import safety as bench
from bot.conversation.engine import Engine
from bot.conversation.flow_check import check_safety
from bot.conversation.interpret import Interpreter, shared_encoder
from bot.conversation.messages import UserKey
from bot.conversation.registry import Registry
from bot.storage.models import CommunitySettings, User

from .conftest import FLOWS, Clock, EngineDriver, copy_system_files
from .test_safety_everywhere import CRISIS_MARK, said, stored

needs_model = pytest.mark.skipif(shared_encoder() is None, reason="the model package is missing")
CATEGORIES = {"direct", "euphemism", "plan_timing", "method_means", "preparation", "slang",
              "hopelessness_burden", "self_harm", "other_person"}  # fmt: skip
NEGATIVE_KINDS = {"idiom", "negation", "past_recovery", "quote_media", "complaint", "sadness"}
# The measure split's floors, a little under what the screen reads on it now (issue 22's targets
# are 97% / 85% / 3% / 10%; benchmarks/README.md has where each stands and why). Raise them as
# the screen improves; never lower them to let a change through.
FLOOR_ANY = 0.95
FLOOR_FULL = 0.78
CEILING_FULL = 0.045
CEILING_CHECK = 0.13


def _key(text: str) -> str:
    return " ".join(str(text).lower().split()).strip(" .!?")


# ------------------------------------------------------------------ the labelled set


def test_the_set_is_large_varied_and_split() -> None:
    crisis = [*bench.load("crisis", "tune")["items"], *bench.load("crisis", "measure")["items"]]
    negatives = [
        *bench.load("negatives", "tune")["items"], *bench.load("negatives", "measure")["items"]
    ]  # fmt: skip
    assert len(crisis) >= 400 and len(negatives) >= 400
    per_category = Counter(i["category"] for i in crisis)
    assert set(per_category) == CATEGORIES
    assert min(per_category.values()) >= 30, per_category
    for split in ("tune", "measure"):
        kinds = Counter(i["category"] for i in bench.load("negatives", split)["items"])
        assert set(kinds) >= NEGATIVE_KINDS, (split, kinds)
        assert len(bench.load("crisis", split)["must_catch"]) >= 30
    long_ones = [i for i in crisis if len(i["text"].split()) >= 60]
    assert len(long_ones) >= 30  # rambling messages with the signal inside


def test_no_text_twice_and_none_in_both_splits() -> None:
    seen: Counter[str] = Counter()
    split_of: dict[str, set[str]] = {}
    for kind in ("crisis", "negatives"):
        for split in ("tune", "measure"):
            data = bench.load(kind, split)
            for text in [i["text"] for i in data["items"]] + data["must_catch"]:
                seen[_key(text)] += 1
                split_of.setdefault(_key(text), set()).add(split)
    assert [t for t, n in seen.items() if n > 1] == []
    assert [t for t, s in split_of.items() if len(s) > 1] == []


def test_measure_is_not_a_near_copy_of_tune() -> None:
    tune = [
        _key(i["text"]) for k in ("crisis", "negatives") for i in bench.load(k, "tune")["items"]
    ]
    close = []
    for kind in ("crisis", "negatives"):
        for item in bench.load(kind, "measure")["items"]:
            m = _key(item["text"])
            for t in tune:
                if abs(len(m) - len(t)) > 0.2 * max(len(m), len(t)):
                    continue  # a ratio of 0.9 needs lengths within a fifth of each other
                matcher = SequenceMatcher(None, m, t)
                if matcher.quick_ratio() >= 0.9 and matcher.ratio() >= 0.9:
                    close.append((m, t))
    assert close == []


def test_the_classifier_never_learns_from_the_measure_split() -> None:
    examples = yaml.safe_load((FLOWS / "_safety_examples.yaml").read_text(encoding="utf-8"))
    taught = {_key(t) for side in examples.values() for t in side}
    measure = {_key(i["text"]) for k in ("crisis", "negatives")
               for i in bench.load(k, "measure")["items"]}  # fmt: skip
    measure |= {_key(t) for t in bench.load("crisis", "measure")["must_catch"]}
    assert taught & measure == set()
    tune = {_key(i["text"]) for i in bench.load("crisis", "tune")["items"]}
    assert tune <= taught  # and every crisis item of the tune split is taught


# ------------------------------------------------------------------ the floors


@pytest.fixture(scope="module")
def interp() -> Interpreter:
    return bench.build(shared_encoder())


@needs_model
def test_floors_on_the_measure_split(interp: Interpreter) -> None:
    results = bench.measure(interp, "measure")
    must, crisis, negatives = results["must_catch"], results["crisis"], results["negatives"]
    assert must.rate("crisis") == 1.0, must.misses
    assert crisis.rate("crisis", "check") >= FLOOR_ANY, crisis.misses
    assert crisis.rate("crisis") >= FLOOR_FULL, crisis.misses
    assert negatives.rate("crisis") <= CEILING_FULL, negatives.misses
    assert negatives.rate("check") <= CEILING_CHECK, negatives.misses


@needs_model
def test_every_must_catch_message_of_both_splits_gets_the_full_reply(interp: Interpreter) -> None:
    for split in ("tune", "measure"):
        results = bench.measure(interp, split)
        assert results["must_catch"].misses == [], split


def test_the_rules_alone_catch_every_must_catch_message() -> None:
    """Without the model package (the encoder failed to load) nothing on the list is missed."""
    words_only = bench.build(None)
    for split in ("tune", "measure"):
        must = bench.measure(words_only, split)["must_catch"]
        assert must.rate("crisis") == 1.0, must.misses


ISSUE_EXAMPLES = [
    "this weekend I'm going to finish it for good",
    "gonna unalive myself lol",
    "I've left notes for my mum and my sister",
    "standing on the platform thinking about the next train",
    "after friday nobody will have to deal with me anymore",
    "s*icide is all I think about",
    "k i l l myself tonight",
    "su1c1de thoughts again",
]
HARMLESS = [
    "not in any danger, just fed up",
    "taking that offer would be career suicide",
    "dying to hear back from them",
    "the group exercise was murder",
    "I killed it in the first round",
    "in 2 wks",
    "Stripe",
    "I'm not suicidal, just really disappointed",
]


@pytest.mark.parametrize("text", ISSUE_EXAMPLES)
def test_the_issue_s_examples_get_the_full_reply(interp: Interpreter, text: str) -> None:
    assert interp.screen(text).level == "crisis"


@pytest.mark.parametrize("text", HARMLESS)
def test_idioms_and_negations_are_left_alone(interp: Interpreter, text: str) -> None:
    assert interp.screen(text).level == "none"


def test_a_signal_at_the_end_of_a_long_message_is_read(interp: Interpreter) -> None:
    opening = (
        "The interview was on Tuesday and the panel was three people from the data team. "
        "They asked about my dissertation, a case study on churn, and why I left retail. "
    )
    assert interp.screen(opening * 4).level == "none"
    assert interp.screen(opening * 4 + "Anyway I've written the notes for my family.").crisis


def test_someone_else_in_danger_is_marked_as_such(interp: Interpreter) -> None:
    found = interp.screen("my friend says she wants to die")
    assert found.concerning and found.about == "other"


# ------------------------------------------------------------------ what a person meets


@pytest.fixture
def sam(engine: Engine, clock: Clock) -> EngineDriver:
    chat = EngineDriver(engine, UserKey("terminal", "local", "sam"), clock)
    chat.text("hi")
    chat.press("Yes, that's right")
    return chat


CHECK_LEVEL = "I'm in a really dark place right now"


def _person(engine: Engine, name: str = "sam") -> User:
    from sqlalchemy import select

    with engine.db.transaction() as s:
        return s.scalars(select(User).where(User.external_id == name)).one()


def test_the_gentle_check_keeps_nothing_and_one_yes_does_not_close_the_door(
    engine: Engine, sam: EngineDriver, clock: Clock
) -> None:
    assert engine.interpreter.screen(CHECK_LEVEL).level == "check"
    sam.text("plan")
    sam.press("Something of my own")
    asked = sam.text(CHECK_LEVEL)
    assert "Are you safe right now?" in said(asked)
    assert _person(engine).crisis_at is not None  # reminders held until it is answered
    back = sam.press("Yes, I'm safe")
    assert "there to listen" in said(back) and "What's the action?" in said(back)
    assert _person(engine).crisis_at is None
    assert "dark place" not in stored(engine)
    # Within a week any further signal gets the full reply, not the question again.
    clock.advance(days=3)
    again = sam.text("honestly I feel completely hopeless")
    assert CRISIS_MARK in said(again) and "Are you safe" not in said(again)
    # A week on, the check is asked again.
    clock.advance(days=8)
    sam.text("ok")
    later = sam.text(CHECK_LEVEL)
    assert "Are you safe right now?" in said(later)


@pytest.mark.parametrize("answer", ["I'd rather not say", "No, I'm not", "whatever", "idk"])
def test_anything_but_yes_at_the_check_gets_the_full_reply(
    engine: Engine, sam: EngineDriver, answer: str
) -> None:
    sam.text(CHECK_LEVEL)
    last = sam.last
    labels = [c.label for r in last for c in r.choices]
    reply = sam.press(answer) if answer in labels else sam.text(answer)
    assert CRISIS_MARK in said(reply)
    assert _person(engine).crisis_at is not None


def test_a_typed_yes_is_read_as_yes(engine: Engine, sam: EngineDriver) -> None:
    sam.text(CHECK_LEVEL)
    reply = sam.text("yeah I'm safe, thanks")
    assert CRISIS_MARK not in said(reply) and "there to listen" in said(reply)


def test_a_friend_in_danger_gets_the_lines_for_them_and_the_coaching_goes_on(
    engine: Engine, sam: EngineDriver
) -> None:
    reply = sam.text("my flatmate keeps saying he wants to kill himself")
    assert "it matters that you noticed" in said(reply)
    assert "988" in said(reply) and "What would you like to do?" in said(reply)
    assert _person(engine).crisis_at is None
    assert "flatmate" not in stored(engine)


def test_the_full_reply_offers_a_person_where_the_workspace_has_one(
    engine: Engine, clock: Clock
) -> None:
    with engine.db.transaction() as s:
        booking = {"booking_url": "https://careers.example/book"}
        s.add(CommunitySettings(platform="terminal", workspace="local", values=booking))
    chat = EngineDriver(engine, UserKey("terminal", "local", "kim"), clock)
    chat.text("hi")
    chat.press("Yes, that's right")
    reply = chat.text("I want to end my life")
    assert CRISIS_MARK in said(reply)
    assert "Talk to someone at the careers service" in [c.label for r in reply for c in r.choices]
    handed = chat.press("Talk to someone at the careers service")
    assert "https://careers.example/book" in said(handed)
    assert "end my life" not in stored(engine)


def test_after_the_full_reply_a_yes_is_read_as_usual(engine: Engine, clock: Clock) -> None:
    with engine.db.transaction() as s:
        booking = {"booking_url": "https://careers.example/book"}
        s.add(CommunitySettings(platform="terminal", workspace="local", values=booking))
    chat = EngineDriver(engine, UserKey("terminal", "local", "lee"), clock)
    chat.text("hi")
    chat.press("Yes, that's right")
    chat.text("I want to end my life")
    reply = chat.text("yes")
    assert "glad you wrote again" in said(reply)
    assert "https://careers.example/book" not in said(reply)  # no hand-off on a guess


def test_without_a_booking_link_or_staff_channel_no_button_is_offered(sam: EngineDriver) -> None:
    reply = sam.text("I want to end my life")
    assert CRISIS_MARK in said(reply)
    assert [c for r in reply for c in r.choices] == []


def test_the_log_holds_the_outcome_never_the_words(
    sam: EngineDriver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        sam.text("I keep thinking about the bridge near the station")
    screening = [r.getMessage() for r in caplog.records if "screening" in r.getMessage()]
    assert screening and "crisis" in screening[0] and "method_means" in screening[0]
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert "bridge" not in everything and "station" not in everything


@pytest.mark.parametrize(
    ("where", "pattern", "said"),
    [("crisis", "(unclosed", "(unclosed"), ("crisis", "maybe|\\w*", "matches an empty text"),
     ("departure", "moving|x*", "matches an empty text")],
)
def test_flows_check_names_a_broken_pattern(
    tmp_path: Path, where: str, pattern: str, said: str
) -> None:
    """A pattern that does not compile, or one that would match every message (an empty
    alternative blanks every sentence or flags every message), stops the bot from starting."""
    copy_system_files(tmp_path)
    raw = yaml.safe_load((tmp_path / "_safety.yaml").read_text(encoding="utf-8"))
    if where == "crisis":
        raw["categories"]["direct"]["crisis"].append(pattern)
    else:
        raw[where] = [*raw[where], pattern]
    (tmp_path / "_safety.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    problems = check_safety(tmp_path, {}, Registry())
    assert any("does not compile" in str(p) and said in str(p) for p in problems), problems


def test_the_screen_is_quick_to_find_nothing_in_an_everyday_answer(interp: Interpreter) -> None:
    """Not a timing: the rules read a 2,000-word paste without the classifier's help."""
    text = "We went with a candidate whose experience matched the role more closely. " * 200
    assert interp.screener.rules.read(text).level == "none"
