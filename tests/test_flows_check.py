"""`rebound flows check` passes on the shipped flows and catches each kind of mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.conversation.engine import load_checked
from bot.conversation.flows import load_flow, mermaid
from tests.behaviour import production as load_behaviour

from .conftest import FLOWS

GOOD_HOME = """
name: home
start: menu
states:
  menu:
    say: "Hi"
    choices:
      - {id: a, label: A, to: "@welcome"}
"""

GOOD_WELCOME = """
name: welcome
start: hello
states:
  hello:
    say: "Hello {name}"
    choices:
      - {id: ok, label: OK, to: done}
  done:
    say: "Bye"
    end: true
"""


def _dir(tmp_path: Path, welcome: str) -> Path:
    shutil.copy(FLOWS / "_messages.yaml", tmp_path / "_messages.yaml")
    (tmp_path / "home.yaml").write_text(GOOD_HOME)
    (tmp_path / "welcome.yaml").write_text(welcome)
    return tmp_path


def _problems(tmp_path: Path, welcome: str) -> list[str]:
    _, _, problems = load_checked(_dir(tmp_path, welcome), load_behaviour())
    return [str(p) for p in problems]


def test_shipped_flows_are_valid() -> None:
    flows, _messages, problems = load_checked(FLOWS, load_behaviour())
    assert problems == []
    assert {"home", "welcome"} <= set(flows)


def test_minimal_valid_directory_has_no_problems(tmp_path: Path) -> None:
    assert _problems(tmp_path, GOOD_WELCOME) == []


BROKEN = {
    "unknown target state 'nowhere'": GOOD_WELCOME.replace("to: done", "to: nowhere"),
    "[orphan]: unreachable": GOOD_WELCOME + "  orphan:\n    say: x\n    end: true\n",
    "[hello]: dead end": GOOD_WELCOME.replace(
        "    choices:\n      - {id: ok, label: OK, to: done}\n", ""
    ).replace('  done:\n    say: "Bye"\n    end: true\n', ""),
    "unknown action 'no_such_action'": GOOD_WELCOME.replace(
        '    say: "Bye"', '    say: "Bye"\n    do: [no_such_action]'
    ),
    "unknown placeholder {nickname}": GOOD_WELCOME.replace("Hello {name}", "Hello {nickname}"),
    "duplicate choice id 'ok'": GOOD_WELCOME.replace(
        "      - {id: ok, label: OK, to: done}",
        "      - {id: ok, label: OK, to: done}\n      - {id: ok, label: Again, to: done}",
    ),
    "unknown condition 'is_tuesday'": GOOD_WELCOME.replace(
        "label: OK, to: done}", "label: OK, to: done, when: is_tuesday}"
    ),
    "[loop]: no way out": GOOD_WELCOME.replace(
        "      - {id: ok, label: OK, to: done}",
        "      - {id: ok, label: OK, to: done}\n      - {id: l, label: L, to: loop}",
    )
    + "  loop:\n    say: round\n    choices:\n      - {id: again, label: Again, to: loop}\n",
    "unknown flow 'nope'": GOOD_WELCOME.replace("to: done", 'to: "@nope"'),
    "unknown key 'choises'": GOOD_WELCOME.replace("    choices:", "    choises: []\n    choices:"),
    "not valid YAML": "name: welcome\nstates: [unclosed",
    "start state 'missing' does not exist": GOOD_WELCOME.replace("start: hello", "start: missing"),
}


@pytest.mark.parametrize("expected", sorted(BROKEN))
def test_each_mistake_is_reported_with_file_and_state(tmp_path: Path, expected: str) -> None:
    problems = _problems(tmp_path, BROKEN[expected])
    assert any(expected in p and p.startswith("welcome.yaml") for p in problems), problems


def test_missing_system_message_is_reported(tmp_path: Path) -> None:
    _dir(tmp_path, GOOD_WELCOME)
    text = (tmp_path / "_messages.yaml").read_text()
    (tmp_path / "_messages.yaml").write_text(text.replace("stale:", "stale_renamed:"))
    _, _, problems = load_checked(tmp_path, load_behaviour())
    assert any("_messages.yaml [stale]" in str(p) for p in problems)


def test_cli_check_exits_1_and_names_problem(tmp_path: Path) -> None:
    _dir(tmp_path, BROKEN["unknown target state 'nowhere'"])
    result = CliRunner().invoke(main, ["flows", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert "welcome.yaml [hello]: unknown target state 'nowhere'" in result.output


def test_cli_check_passes_on_shipped_flows() -> None:
    result = CliRunner().invoke(main, ["flows", "check", str(FLOWS)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok:")


def test_graph_prints_mermaid(tmp_path: Path) -> None:
    flow = load_flow(_dir(tmp_path, GOOD_WELCOME) / "welcome.yaml")
    text = mermaid(flow)
    assert text.startswith("stateDiagram-v2")
    assert "hello --> done: OK" in text and "done --> [*]" in text
    result = CliRunner().invoke(main, ["flows", "graph", "welcome"])
    assert result.exit_code == 0 and "[*] --> hello" in result.output
