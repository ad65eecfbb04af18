"""The labelled set in tests/data/understanding/ stays well formed (issue 13 item 9).

Schema only: labels name real flows, states and choices; counts hold; no text sits in both
splits or twice; the measured part is not a near-copy of the tuning part. The accuracy floors
live with the code they measure.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "understanding"
SPLITS = {"tune", "measure"}
# Planned by the lead: an "I'm OK, let's go on" choice on the feelings step.
PLANNED_CHOICES = {("rejection", "feeling", "ok")}
NEAR_COPY = 0.9


def _load(name: str) -> Any:
    return yaml.safe_load((DATA / name).read_text(encoding="utf-8"))


def _flows() -> dict[str, dict[str, Any]]:
    """Flow files as written: BaseLoader keeps `id: yes` a string, as the author meant it."""
    flows = {}
    for path in sorted((ROOT / "flows").glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
        flows[raw["name"]] = raw
    return flows


def _startable() -> set[str]:
    """Flows a person can ask for: those with commands, and the menu itself."""
    return {name for name, raw in _flows().items() if raw.get("commands")} | {"home"}


def _choices() -> set[tuple[str, str, str]]:
    found = set()
    for name, raw in _flows().items():
        for state, spec in (raw.get("states") or {}).items():
            for choice in spec.get("choices") or []:
                found.add((name, state, choice["id"]))
    return found | PLANNED_CHOICES


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip(" .!?")


def _all_sets() -> dict[str, list[dict[str, Any]]]:
    crisis = _load("crisis.yaml")
    sets = {
        "intents": _load("intents.yaml"),
        "choices": _load("choices.yaml"),
        "dates": _load("dates.yaml"),
    }
    for group, items in crisis.items():
        sets[f"crisis.{group}"] = items
    return sets


def _key(name: str, item: dict[str, Any]) -> str:
    if name == "dates":  # one text can mean different dates in different zones
        return f"{_norm(item['text'])}|{item['zone']}|{item['now']}"
    if name == "choices":
        return f"{item['flow']}.{item['state']}|{_norm(item['text'])}"
    return _norm(item["text"])


@pytest.mark.parametrize("name", sorted(_all_sets()))
def test_every_item_has_a_text_and_a_split(name: str) -> None:
    for item in _all_sets()[name]:
        assert isinstance(item.get("text"), str) and item["text"].strip(), item
        assert item.get("split") in SPLITS, item


@pytest.mark.parametrize("name", sorted(_all_sets()))
def test_no_duplicates_and_no_text_in_both_splits(name: str) -> None:
    items = _all_sets()[name]
    keys = Counter(_key(name, item) for item in items)
    assert [k for k, n in keys.items() if n > 1] == []
    tune = {_norm(i["text"]) for i in items if i["split"] == "tune"}
    measure = {_norm(i["text"]) for i in items if i["split"] == "measure"}
    assert tune & measure == set()


@pytest.mark.parametrize("name", sorted(_all_sets()))
def test_measure_is_not_a_near_copy_of_tune(name: str) -> None:
    items = _all_sets()[name]
    tune = [_norm(i["text"]) for i in items if i["split"] == "tune"]
    close = [
        (m, t)
        for m in (_norm(i["text"]) for i in items if i["split"] == "measure")
        if len(m) >= 8
        for t in tune
        if SequenceMatcher(None, m, t).ratio() >= NEAR_COPY
    ]
    assert close == []


@pytest.mark.parametrize("name", sorted(_all_sets()))
def test_about_forty_percent_is_for_tuning(name: str) -> None:
    splits = Counter(i["split"] for i in _all_sets()[name])
    share = splits["tune"] / sum(splits.values())
    assert 0.3 <= share <= 0.5, (name, splits)


def test_crisis_groups_do_not_overlap() -> None:
    crisis = _load("crisis.yaml")
    assert set(crisis) == {"must_catch", "wider", "hard_negative"}
    seen: dict[str, str] = {}
    for group, items in crisis.items():
        for item in items:
            assert seen.setdefault(_norm(item["text"]), group) == group, item


def test_counts() -> None:
    intents, choices, dates = _load("intents.yaml"), _load("choices.yaml"), _load("dates.yaml")
    crisis = _load("crisis.yaml")
    assert len(intents) >= 170
    assert sum(i["intent"] == "none" for i in intents) >= 30
    assert sum(i["intent"] in ("forget", "export") for i in intents) >= 14
    assert len(choices) >= 90
    assert len(dates) >= 70
    assert len(crisis["must_catch"]) >= 25
    assert len(crisis["wider"]) >= 40
    assert len(crisis["hard_negative"]) >= 40
    total = len(intents) + len(choices) + len(dates) + sum(len(v) for v in crisis.values())
    assert total >= 400


def test_intents_name_flows_a_person_can_start() -> None:
    allowed = _startable() | {"none"}
    wrong = [i for i in _load("intents.yaml") if i["intent"] not in allowed]
    assert wrong == []
    assert "welcome" not in allowed and "log_interview" in allowed


def test_the_issues_examples_are_labelled() -> None:
    labels = {_norm(i["text"]): i["intent"] for i in _load("intents.yaml")}
    assert labels[_norm("I got rejected from Stripe today")] == "rejection"
    assert labels[_norm("I have an interview on friday with Monzo for a PM role")] == (
        "log_interview"
    )
    assert labels[_norm("can you help me write a feedback email?")] == "feedback"
    assert labels[_norm("This rejection is killing me")] == "rejection"
    must = {_norm(i["text"]) for i in _load("crisis.yaml")["must_catch"]}
    assert _norm("everyone would be better off without me") in must
    assert _norm("I can't do this anymore") in must


def test_choices_exist_in_the_flows() -> None:
    known = _choices()
    wrong = [
        (c["flow"], c["state"], c["choice"])
        for c in _load("choices.yaml")
        if (c["flow"], c["state"], c["choice"]) not in known
    ]
    assert wrong == []


def test_the_checker_would_catch_a_wrong_label() -> None:
    """The lookups above are not vacuous: a made-up state or id is not known."""
    assert ("rejection", "feeling", "angry") in _choices()
    assert ("rejection", "feeling", "furious") not in _choices()
    assert ("reflect", "nerves", "no") in _choices()  # as written, not YAML's False
    assert "rejected" not in _startable()


def test_date_items_are_well_formed() -> None:
    for item in _load("dates.yaml"):
        datetime.strptime(item["now"], "%Y-%m-%d %H:%M")
        ZoneInfo(item["zone"])
        assert isinstance(item["day_first"], bool)
        expect = item["expect"]
        if expect is not None:
            fmt = "%Y-%m-%dT%H:%M" if "T" in expect else "%Y-%m-%d"
            datetime.strptime(expect, fmt)
