"""Accuracy floors on the labelled set's measure split (tests/data/understanding).

The numbers come from benchmarks/understanding.py, which runs the same ``decide`` the turn
runs. The floors are issue 13's targets, which the encoder + words now reach (benchmarks/README.md
has the figures), so a change that makes understanding worse than promised fails here.
Safety floors are absolute: every must-catch phrase reaches
the crisis reply or the gentle check, and no hard negative gets the full crisis reply.
"""

from __future__ import annotations

import pytest

from benchmarks import understanding as u
from bot.conversation.interpret import Interpreter, shared_encoder

pytestmark = pytest.mark.skipif(shared_encoder() is None, reason="the model package is missing")


@pytest.fixture(scope="module")
def built() -> tuple[Interpreter, dict]:  # type: ignore[type-arg]
    return u.build(shared_encoder())


def test_intents_at_the_menu(built) -> None:  # type: ignore[no-untyped-def]
    score = u.intents(*built, "measure")
    assert score.rate() >= 0.90, "\n".join(score.misses)
    assert score.rate(score.acted_wrong) <= 0.02, "\n".join(score.misses)


def test_forget_and_export_are_never_started_on_a_guess(built) -> None:  # type: ignore[no-untyped-def]
    interp, flows = built
    started = []
    for split in ("tune", "measure"):
        score = u.intents(interp, flows, split)
        started += [m for m in score.misses if "start:forget" in m or "start:export" in m]
    commands = {c for f in ("forget", "export") for c in flows[f].commands}
    for item in u.load_set("intents"):
        if item["intent"] in ("forget", "export") and item["text"].lower() not in commands:
            d = u.decide(
                interp, interp.read(item["text"]), "home", flows["home"].states["menu"],
                [], home="home", can_skip=False,
            )  # fmt: skip
            assert d.kind != "start", item["text"]
    assert started == []


def test_free_text_answers_to_choices(built) -> None:  # type: ignore[no-untyped-def]
    score = u.choices(*built, "measure")
    assert score.rate() >= 0.85, "\n".join(score.misses)
    assert score.rate(score.acted_wrong) <= 0.02, "\n".join(score.misses)


def test_crisis_layers(built) -> None:  # type: ignore[no-untyped-def]
    interp, _ = built
    groups = u.crisis(interp, "measure")
    assert groups["must_catch"].rate() == 1.0, groups["must_catch"].misses
    assert groups["wider"].rate() >= 0.95, groups["wider"].misses
    negatives = groups["hard_negative"]
    assert negatives.outcomes["crisis"] / negatives.n <= 0.03, negatives.misses


def test_every_must_catch_phrase_in_both_splits(built) -> None:  # type: ignore[no-untyped-def]
    interp, _ = built
    assert u.crisis(interp, "all")["must_catch"].misses == []
