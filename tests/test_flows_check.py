"""`rebound flows check` passes on the shipped flows and catches each kind of mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.conversation.flow_check import load_checked
from bot.conversation.flow_graph import mermaid
from bot.conversation.flow_loader import load_flow, load_flows
from bot.conversation.flow_spec import Problem
from tests.behaviour import production as load_behaviour

from .conftest import FLOWS, copy_system_files

FIXTURE_FLOWS = Path(__file__).resolve().parent / "fixtures" / "flows"

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
    copy_system_files(tmp_path)
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


# --------------------------------------------------------------------------- strict keys

INPUT_WELCOME = (
    GOOD_WELCOME.replace(
        "      - {id: ok, label: OK, to: done}",
        "      - {id: ok, label: OK, to: how_many}",
    )
    + '  how_many:\n    say: "How many?"\n    input: {slot: n, kind: number, min: 1, to: done}\n'
)

TYPOS = {
    "comands": (
        GOOD_WELCOME.replace("start: hello", "start: hello\ncomands: [hi]"),
        "welcome.yaml: unknown key 'comands' — did you mean 'commands'?",
    ),
    "lable": (
        GOOD_WELCOME.replace("{id: ok, label: OK,", "{id: ok, lable: OK,"),
        "welcome.yaml [hello]: choices #1: unknown key 'lable' — did you mean 'label'?",
    ),
    "minimum": (
        INPUT_WELCOME.replace("min: 1,", "minimum: 1,"),
        "welcome.yaml [how_many]: input: unknown key 'minimum' — did you mean 'min'?",
    ),
    "state key": (
        GOOD_WELCOME.replace("    choices:", "    choises: []\n    choices:", 1),
        "welcome.yaml [hello]: unknown key 'choises' — did you mean 'choices'?",
    ),
    "form field": (
        GOOD_WELCOME.replace(
            "      - {id: ok, label: OK, to: done}",
            "      - {id: ok, label: OK, to: ask}",
        )
        + '  ask:\n    say: "Tell me"\n    form:\n      fields:\n'
        + "        - {id: what, lable: What}\n      to: done\n",
        "welcome.yaml [ask]: form fields #1: unknown key 'lable' — did you mean 'label'?",
    ),
    "variant": (
        GOOD_WELCOME.replace(
            '    say: "Bye"',
            "    say:\n      - {by: name, case: {a: b}, default: Bye}",
        ),
        "welcome.yaml [done]: say #1: unknown key 'case' — did you mean 'cases'?",
    ),
}


@pytest.mark.parametrize("typo", sorted(TYPOS))
def test_typos_name_file_state_and_closest_key(tmp_path: Path, typo: str) -> None:
    text, expected = TYPOS[typo]
    assert expected in _problems(tmp_path, text)


def test_a_typo_fails_the_cli_with_the_suggestion(tmp_path: Path) -> None:
    _dir(tmp_path, TYPOS["comands"][0])
    result = CliRunner().invoke(main, ["flows", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert "did you mean 'commands'?" in result.output


NON_TEXT = {
    "boolean choice id": ("{id: ok,", "{id: true,", "choices #1 id: must be text, got True"),
    "number choice id": ("{id: ok,", "{id: 3,", "choices #1 id: must be text, got 3"),
    "boolean command": ("start: hello", "start: hello\ncommands: [false]", "commands #1"),
    "set key": ("to: done}", "to: done, set: {1: x}}", "set"),
    "yes as a flag": ('    say: "Bye"\n    end: true', '    say: "Bye"\n    end: yes', "end"),
}


@pytest.mark.parametrize("case", sorted(NON_TEXT))
def test_ids_must_be_text(tmp_path: Path, case: str) -> None:
    old, new, expected = NON_TEXT[case]
    problems = _problems(tmp_path, GOOD_WELCOME.replace(old, new, 1))
    assert any(p.startswith("welcome.yaml") and expected in p for p in problems), problems


def test_yes_and_no_are_words_not_booleans(tmp_path: Path) -> None:
    text = GOOD_WELCOME.replace(
        "      - {id: ok, label: OK, to: done}",
        "      - {id: yes, label: Sure, to: done}\n      - {id: no, label: Nope, to: done}"
        "\n      - {id: off, label: Off, to: done, set: {on: on}}",
    )
    (tmp_path / "welcome.yaml").write_text(text)
    flow = load_flow(tmp_path / "welcome.yaml")
    choices = flow.states["hello"].choices
    assert [c.id for c in choices] == ["yes", "no", "off"]
    assert choices[2].set == {"on": "on"}


def test_shipped_flows_have_only_text_ids() -> None:
    flows, _ = load_flows(FLOWS)
    for flow in flows.values():
        assert all(isinstance(c, str) for c in flow.commands)
        for state in flow.states.values():
            for choice in state.choices:
                assert isinstance(choice.id, str), (flow.file, state.name, choice.id)
                assert all(isinstance(k, str) for k in choice.set)


# --------------------------------------------------------------------------- across flows


def test_command_that_is_a_global_word_is_reported(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path, GOOD_WELCOME.replace("start: hello", "start: hello\ncommands: [Help]")
    )
    assert any(
        p.startswith("welcome.yaml:") and "command 'help' is a word that works at every step" in p
        for p in problems
    ), problems


def test_negated_condition_is_checked_by_its_name(tmp_path: Path) -> None:
    ok = GOOD_WELCOME.replace("to: done}", "to: done, when: not has_open_plan}")
    assert _problems(tmp_path, ok) == []
    bad = GOOD_WELCOME.replace("to: done}", "to: done, when: not has_open_plans}")
    assert (
        "welcome.yaml [hello]: unknown condition 'has_open_plans' — did you mean 'has_open_plan'?"
        in _problems(tmp_path, bad)
    )


# --------------------------------------------------------------------------- other files


def _edit(tmp_path: Path, name: str, old: str, new: str) -> list[str]:
    _dir(tmp_path, GOOD_WELCOME)
    path = tmp_path / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    _, _, problems = load_checked(tmp_path, load_behaviour())
    return [str(p) for p in problems]


def test_catalogue_theme_and_key_typos(tmp_path: Path) -> None:
    problems = _edit(
        tmp_path, "_catalogue.yaml", "themes: [nerves]", "themes: [nervse]\n  always: true"
    )
    assert any(
        p.startswith("_catalogue.yaml [nerves_techniques]") and "always" in p for p in problems
    )
    _dir(tmp_path, GOOD_WELCOME)
    problems = _edit(tmp_path, "_catalogue.yaml", "themes: [nerves]", "themes: [nervse]")
    where = "_catalogue.yaml [nerves_techniques]: themes #1: "
    assert f"{where}unknown theme 'nervse' — did you mean 'nerves'?" in problems


def test_reminder_titles_need_known_kinds_and_placeholders(tmp_path: Path) -> None:
    problems = _edit(tmp_path, "_reminders.yaml", "  debrief:", "  debreif:")
    assert any(
        p.startswith("_reminders.yaml [titles]") and "'debreif' — did you mean 'debrief'?" in p
        for p in problems
    ), problems
    problems = _edit(tmp_path, "_reminders.yaml", "Plan: {action_title}", "Plan: {action}")
    assert any("unknown placeholder {action}" in p for p in problems), problems


def test_email_template_placeholders_are_checked(tmp_path: Path) -> None:
    problems = _edit(tmp_path, "_templates.yaml", "{company}, and for", "{employer}, and for")
    assert any(
        p.startswith("_templates.yaml [feedback_first]") and "{employer}" in p for p in problems
    ), problems


def test_unused_message_is_a_warning_that_does_not_fail_the_check(tmp_path: Path) -> None:
    _edit(tmp_path, "_messages.yaml", "stale:", "stael: x\nstale:")
    result = CliRunner().invoke(main, ["flows", "check", str(tmp_path)])
    assert (
        "_messages.yaml [stael]: warning: message 'stael' is not used by anything" in result.output
    )
    assert "did you mean 'stale'?" in result.output
    assert result.exit_code == 0, result.output


def test_subcommands_need_a_short_written_description(tmp_path: Path) -> None:
    """Slack and Discord show each /rebound subcommand's description to everyone in a server:
    a missing one is named (the flow's title would be shown), one over 100 characters fails."""
    problems = _edit(tmp_path, "_messages.yaml", "command_help:", "command_helps:")
    assert any(
        p.startswith("_messages.yaml [command_help]: warning: /rebound help has no description")
        for p in problems
    ), problems
    long = "x" * 101
    problems = _edit(tmp_path, "_messages.yaml", 'command_help: "', f'command_help: "{long}')
    assert any(p.startswith("_messages.yaml [command_help]: a command") for p in problems)


def test_message_that_is_not_text_is_an_error(tmp_path: Path) -> None:
    problems = _edit(
        tmp_path, "_messages.yaml", 'stopped: "No problem', 'stopped: [1]\nstopped_old: "No problem'
    )
    assert any(p.startswith("_messages.yaml [stopped]") for p in problems), problems


# --------------------------------------------------------------------------- understanding


def _fixture_dir(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE_FLOWS, tmp_path, dirs_exist_ok=True)
    copy_system_files(tmp_path)
    return tmp_path


def _fixture_problems(folder: Path) -> list[Problem]:
    from tests.behaviour import demo

    return load_checked(folder, demo())[2]


def test_understanding_keys_load_from_fixture_flows(tmp_path: Path) -> None:
    folder = _fixture_dir(tmp_path)
    # the fixture flows' commands (demo, tick) have no picker description: only warned
    undescribed = "has no description"
    assert [p for p in _fixture_problems(folder) if undescribed not in p.message] == []
    demo = load_flow(folder / "demo.yaml")
    assert demo.understand is not None and demo.understand.label == "try the demo"
    assert "show me the demo" in demo.understand.examples and not demo.understand.confirm
    assert demo.states["pick"].choices[0].synonyms == ("scarlet", "crimson")
    tick = load_flow(folder / "tick.yaml").understand
    assert tick is not None and tick.confirm is True
    assert load_flow(folder / "home.yaml").understand is None


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('examples: ["add one', 'examples: [3, "add one', "understand examples #1: must be text"),
        ('examples: ["add one', 'examples: ["  ", "add one', "must be non-empty text"),
        ('label: "count a tick"', "label: ''", "understand label: must be non-empty text"),
        ("confirm: true", "confirm: yes", "understand confirm: must be true or false"),
        ("confirm: true", "confirm: true\n  synonyms: [x]", "unknown key 'synonyms'"),
    ],
)
def test_understanding_values_are_checked(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    folder = _fixture_dir(tmp_path)
    path = folder / "tick.yaml"
    path.write_text(path.read_text().replace(old, new, 1))
    problems = [str(p) for p in _fixture_problems(folder)]
    assert any(p.startswith("tick.yaml:") and expected in p for p in problems), problems


def test_synonym_list_must_hold_text(tmp_path: Path) -> None:
    folder = _fixture_dir(tmp_path)
    path = folder / "demo.yaml"
    path.write_text(path.read_text().replace("synonyms: [navy]", "synonyms: [navy, 7]"))
    problems = [str(p) for p in _fixture_problems(folder)]
    assert any("demo.yaml [pick]: choices #2 synonyms #2: must be text" in p for p in problems)


def test_shared_example_and_shared_synonym_are_warnings(tmp_path: Path) -> None:
    folder = _fixture_dir(tmp_path)
    tick = folder / "tick.yaml"
    tick.write_text(tick.read_text().replace("add one to the counter", "Show me the demo!"))
    demo = folder / "demo.yaml"
    demo.write_text(demo.read_text().replace("synonyms: [navy]", "synonyms: [navy, Crimson]"))
    problems = _fixture_problems(folder)
    found = {str(p) for p in problems}
    assert "tick.yaml: warning: example 'show me the demo' also used by demo.yaml" in found
    assert "demo.yaml [pick]: warning: synonym 'crimson' means both 'red' and 'blue'" in found
    assert all(p.level == "warning" for p in problems)
    # The command says so and still passes (on the shipped flows: it runs production behaviour).
    shipped = tmp_path / "shipped"
    shutil.copytree(FLOWS, shipped)
    plan = shipped / "plan.yaml"
    plan.write_text(plan.read_text().replace("what should I work on next", "I got the job!"))
    result = CliRunner().invoke(main, ["flows", "check", str(shipped)])
    assert result.exit_code == 0 and "warning:" in result.output, result.output


def test_not_turns_a_condition_around() -> None:
    from bot.conversation.flow_spec import condition_holds

    conditions = {"is_on": lambda ctx: ctx["on"]}
    assert condition_holds("is_on", conditions, {"on": True})
    assert not condition_holds("not is_on", conditions, {"on": True})
    assert condition_holds("not is_on", conditions, {"on": False})
