"""Accuracy of each understanding layer on the labelled set (tests/data/understanding).

Run: ``python -m benchmarks.understanding [--split tune|measure|all] [--no-encoder]``.
Every number comes from :func:`bot.conversation.interpret.decide`, the same function the turn
uses, so what is measured is what people get. ``tests/test_understanding_floors.py`` asserts
the floors on the measure split with the same functions.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.conversation.flow_loader import load_flows
from bot.conversation.flow_spec import FlowSpec
from bot.conversation.interpret import (
    Interpreter,
    decide,
    load_safety_data,
    load_understanding_data,
)
from bot.conversation.messages import Choice
from bot.conversation.turn import wants_skip
from bot.conversation.words import GLOBAL_WORDS
from bot.understanding.encoder import Encoder

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "understanding"
FLOWS = ROOT / "flows"
HOME = "home"


def load_set(name: str) -> Any:
    return yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))


def build(encoder: Encoder | None) -> tuple[Interpreter, dict[str, FlowSpec]]:
    flows, problems = load_flows(FLOWS)
    assert not problems, problems
    safety = load_safety_data(FLOWS)
    return Interpreter(flows, load_understanding_data(FLOWS), encoder, safety=safety), flows


def _exact(spec: Any, text: str) -> str | None:
    """The turn's no-model path: a number or an option's exact words (see Turn._match_text)."""
    from bot.conversation.inputs import normalise_command

    word = normalise_command(text)
    choices = list(spec.choices)
    if word.isdigit() and 1 <= int(word) <= len(choices):
        return choices[int(word) - 1].id
    for c in choices:
        if word in (normalise_command(c.label), c.id.lower()):
            return c.id
    return None


@dataclass
class Score:
    n: int = 0
    right: int = 0
    acted_wrong: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)

    def rate(self, part: int | None = None) -> float:
        return (self.right if part is None else part) / self.n if self.n else 0.0


def intents(interp: Interpreter, flows: dict[str, FlowSpec], split: str) -> Score:
    """At the menu. Right: the labelled flow is started or offered ("did you mean"), or for
    ``none`` nothing is started. Acted wrong: a flow started that isn't the label."""
    from bot.conversation.inputs import normalise_command

    home = flows[HOME]
    spec = home.states[home.start]
    offered = [Choice(c.id, c.label) for c in spec.choices]
    to_flow = {c.id: c.to.lstrip("@") for c in spec.choices}
    commands = {cmd: f.name for f in flows.values() for cmd in f.commands}
    score = Score()
    for item in load_set("intents"):
        if split != "all" and item["split"] != split:
            continue
        score.n += 1
        label = item["intent"]
        text = item["text"]
        word = normalise_command(text)
        if word in GLOBAL_WORDS:
            got, kind = HOME, "start"
        elif word in commands:
            got, kind = commands[word], "start"
        elif (choice := _exact(spec, text)) is not None:
            got, kind = to_flow.get(choice, HOME), "start"
        else:
            d = decide(interp, interp.read(text), HOME, spec, offered, home=HOME, can_skip=False)
            kind = d.kind
            got = to_flow.get(str(d.target), str(d.target)) if kind == "choose" else d.target
            if kind in ("choose", "home"):
                kind = "start"
            if kind == "confirm_choice":
                kind, got = "guess", to_flow.get(str(d.target), str(d.target))
        if kind in ("none", "check"):
            got = "none" if kind == "none" else "check"
        score.outcomes[kind] += 1
        ok = got == label
        if label == "none":
            ok = kind in ("none", "check")
        if ok:
            score.right += 1
        else:
            score.misses.append(f"{label:14} <- {kind}:{got} :: {text}")
        if kind == "start" and got != label:
            score.acted_wrong += 1
    return score


def choices(interp: Interpreter, flows: dict[str, FlowSpec], split: str) -> Score:
    """At a choice step. Right: the labelled option is taken, or offered for confirmation."""
    score = Score()
    for item in load_set("choices"):
        if split != "all" and item["split"] != split:
            continue
        score.n += 1
        spec = flows[item["flow"]].states[item["state"]]
        offered = [Choice(c.id, c.label) for c in spec.choices]
        text, label = item["text"], str(item["choice"])
        exact = _exact(spec, text)
        if exact is not None:
            kind, got = "choose", exact
        else:
            d = decide(
                interp,
                interp.read(text),
                item["flow"],
                spec,
                offered,
                home=HOME,
                can_skip=bool(spec.skip) and wants_skip(text),
            )
            kind, got = d.kind, str(d.target)
            if kind == "skip":
                # The state's skip target is the "ok"/skip path where the flow offers one.
                got = next((c.id for c in spec.choices if c.to == d.target), "skip")
        score.outcomes[kind] += 1
        if kind in ("choose", "confirm_choice", "skip") and got == label:
            score.right += 1
        else:
            score.misses.append(f"{item['flow']}.{item['state']}:{label} <- {kind}:{got} :: {text}")
            if kind == "choose":
                score.acted_wrong += 1
    return score


def crisis(interp: Interpreter, split: str) -> dict[str, Score]:
    """``crisis`` = the full crisis reply; ``check`` = the gentle safety check (the screen)."""
    out: dict[str, Score] = {}
    data = load_set("crisis")
    for group in ("must_catch", "wider", "hard_negative"):
        score = Score()
        for item in data[group]:
            if split != "all" and item["split"] != split and group != "must_catch":
                continue
            score.n += 1
            text = item["text"]
            kind = interp.screen(text).level
            score.outcomes[kind] += 1
            caught = kind != "none"
            if (group != "hard_negative") == caught:
                score.right += 1
            else:
                score.misses.append(f"{group} <- {kind} :: {text}")
        out[group] = score
    return out


def report(encoder: Encoder | None, split: str, verbose: bool) -> None:
    interp, flows = build(encoder)
    name = "encoder + words" if encoder is not None else "words only"
    print(f"## {name}, split={split}")
    i = intents(interp, flows, split)
    print(f"intents   top-1 {i.rate():.1%} of {i.n}; acted and wrong {i.rate(i.acted_wrong):.1%};"
          f" outcomes {dict(i.outcomes)}")  # fmt: skip
    c = choices(interp, flows, split)
    print(f"choices   right option {c.rate():.1%} of {c.n}; taken and wrong "
          f"{c.rate(c.acted_wrong):.1%}; outcomes {dict(c.outcomes)}")  # fmt: skip
    for group, s in crisis(interp, split).items():
        print(f"crisis    {group:13} right {s.rate():.1%} of {s.n}; {dict(s.outcomes)}")
        if verbose:
            print("\n".join("    " + m for m in s.misses))
    if verbose:
        print("\n".join("    " + m for m in i.misses + c.misses))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", default="tune", choices=["tune", "measure", "all"])
    parser.add_argument("--no-encoder", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    from bot.understanding.encoder import load_encoder

    encoder = None if args.no_encoder else load_encoder()
    report(encoder, args.split, args.verbose)


if __name__ == "__main__":
    main()
