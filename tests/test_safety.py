"""Crisis phrases (the screen's rules, no model): never a silent miss on the obvious ones, no
alarm on plain negations."""

from __future__ import annotations

import pytest

from benchmarks.safety import build
from bot.conversation.safety import asks_what_bot_is

_RULES = build(None)


def suggests_crisis(text: str) -> bool:
    return _RULES.screen(text).level == "crisis"

CRISIS = [
    "I want to die",
    "i just want to kill myself",
    "I'm thinking about suicide",
    "honestly feeling suicidal tonight",
    "I don't want to live anymore",
    "I want to end it all",
    "maybe I should end my life",
    "I’ve been hurting myself again",
    "there's no reason to live",
    "everyone would be better off if I was gone, I'm better off dead",
    "I can't go on like this",
    "thinking of self-harm",
    "I KILL MYSELF",
    "I don't want to wake up tomorrow",
]

NOT_CRISIS = [
    "I'm not suicidal, just really disappointed",
    "no thoughts of suicide, don't worry",
    "I never want to hurt myself",
    "I killed it in the first round though",
    "dying to know what they thought",
    "I feel awful and angry",
    "the interview was a disaster",
    "",
]


@pytest.mark.parametrize("text", CRISIS)
def test_crisis_phrases_are_caught(text: str) -> None:
    assert suggests_crisis(text)


@pytest.mark.parametrize("text", NOT_CRISIS)
def test_negated_or_benign_phrases_are_not(text: str) -> None:
    assert not suggests_crisis(text)


def test_negation_in_an_earlier_sentence_does_not_hide_crisis() -> None:
    assert suggests_crisis("I'm not sure. I want to die.")


@pytest.mark.parametrize("text", ["are you a therapist?", "Are you a real person", "who are you"])
def test_identity_questions(text: str) -> None:
    assert asks_what_bot_is(text)
