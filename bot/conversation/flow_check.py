"""Check the flows folder as a whole: every mistake, with its file and state, before anyone sees it.

The models in :mod:`~bot.conversation.flow_spec` already refuse unknown keys and non-text ids
while loading; this module checks what needs more than one key to see: targets that go
nowhere, unreachable states, names of actions and conditions the code doesn't have,
placeholders nobody fills, commands two flows claim (or that a word like ``help`` always wins
over), the system messages, and the data files behaviour reads (``_catalogue.yaml``,
``_reminders.yaml``). A :class:`Problem` with ``level="warning"`` is shown but does not fail
the check: it is a likely mistake (the same example phrase in two flows), not a broken flow.
"""

from __future__ import annotations

import string
from collections import deque
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, RootModel

from bot.conversation.flow_loader import load_flows, load_yaml, read_data_yaml, validate_file
from bot.conversation.flow_spec import (
    ENTRY_FLOW,
    FIELD_KINDS,
    HOME_FLOW,
    FlowSpec,
    Problem,
    StateSpec,
    Variant,
    closest,
    split_condition,
    unwrap,
)
from bot.conversation.inputs import normalise_command
from bot.conversation.registry import Registry
from bot.conversation.words import GLOBAL_WORDS
from bot.understanding.screening import RulesError, SafetyRules

REQUIRED_FLOWS = (HOME_FLOW, ENTRY_FLOW)
MESSAGES_FILE = "_messages.yaml"
# The words chat adapters put around the coaching (a form button, DM notes, an App Home view).
# One list, so an adapter checks for the same keys ``flows check`` requires.
CHAT_CHROME = (
    "open_form",
    "moved_to_dm",
    "dm_blocked",
    "slack_dm_blocked",
    "unknown_command",
    "menu_placeholder",
    "form_time",
    "home_title",
    "home_step",
    "home_paused",
    "home_idle",
    "home_interviews",
    "home_plan",
    "home_reminders",
    "home_none",
    "home_continue",
)
# What the core and the adapters say outside any step. Behaviour modules add the keys they read
# (``Registry.uses_messages``); any other key in the file is reported as unused.
REQUIRED_MESSAGES = (
    "crisis",
    "crisis_other",
    "crisis_talk",
    "welcome_back",
    "crisis_return",
    "paused",
    "stopped",
    "help",
    "help_shortcuts",
    "not_understood",
    "form_hint",
    "too_long",
    "empty",
    "stale",
    "unavailable",
    "cannot_go_back",
    "identity",
    "identity_care",
    "counselling",
    "error",
    "moved",
    "form_errors",
    *CHAT_CHROME,
    "console_other_scheduler",
    # understanding: "did you mean", switching flows and back, the gentle safety check
    "did_you_mean",
    "switch_offer",
    "choice_guess",
    "offer_yes",
    "offer_menu",
    "offer_switch",
    "offer_stay",
    "offer_keep_answer",
    "offer_carry_on",
    "offer_again",
    "resume_offer",
    "resume_with",
    "resume_plain",
    "offer_resume",
    "offer_not_now",
    "safety_check",
    "safety_yes",
    "safety_no",
    "safety_private",
    "safety_glad",
    # a state that asks without words of its own
    "default_prompt",
    # answers that don't fit a field or an input
    "field_required",
    "field_pick_option",
    "number_needed",
    "number_range",
    "date_unreadable",
    "datetime_unreadable",
    "time_unreadable",
    # the terminal
    "console_hello",
    "console_bye",
)


def _suggest(word: str, known: set[str] | frozenset[str]) -> str:
    guess = closest(word, known)
    return f" — did you mean {guess!r}?" if guess else ""


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _texts(state: StateSpec) -> list[str]:
    out: list[str] = []
    for msg in state.say:
        out.extend(msg.texts() if isinstance(msg, Variant) else [msg])
    out.extend(c.label for c in state.choices)
    return out


def _known_slots(flow: FlowSpec, registry: Registry) -> set[str]:
    known = set(flow.slots) | registry.global_placeholders
    for state in flow.states.values():
        known |= registry.placeholders_of(state.do)
        for choice in state.choices:
            known |= set(choice.set)
        if state.input:
            known.add(state.input.slot)
        if state.options:
            known.add(state.options.slot)
            known |= registry.provides.get(f"options:{state.options.source}", frozenset())
        if state.form:
            known |= {f.id for f in state.form.fields}
    return known


def _condition_problem(when: str, registry: Registry) -> str | None:
    name, _negated = split_condition(when)
    if name in registry.conditions:
        return None
    return f"unknown condition {name!r}{_suggest(name, set(registry.conditions))}"


def _state_problems(
    name: str, state: StateSpec, registry: Registry, flow: FlowSpec, flow_names: set[str]
) -> list[str]:
    out: list[str] = []
    for target in state.targets():
        if target.startswith("@"):
            if target[1:] not in flow_names:
                out.append(f"unknown flow {target[1:]!r} in target {target!r}")
        elif target not in flow.states:
            out.append(f"unknown target state {target!r}{_suggest(target, set(flow.states))}")
    if not state.waits and not state.next and not state.end:
        out.append("dead end: no choices, input, form, next or end")
    if state.waits and not state.say:
        out.append("asks for an answer but says nothing")
    if state.end and (state.waits or state.next):
        out.append("an end state cannot also wait for an answer or move on")
    seen: set[str] = set()
    for choice in state.choices:
        if choice.id in seen:
            out.append(f"duplicate choice id {choice.id!r}")
        seen.add(choice.id)
    whens = [c.when for c in state.choices] + [n.when for n in state.next]
    out.extend(p for w in whens if w for p in [_condition_problem(w, registry)] if p)
    if state.next and state.next[-1].when is not None:
        out.append("the last 'next' needs no 'when', so the flow always moves on")
    for act in state.do:
        if act not in registry.actions:
            out.append(f"unknown action {act!r}{_suggest(act, set(registry.actions))}")
    if state.options and state.options.source not in registry.options:
        source = state.options.source
        out.append(f"unknown options provider {source!r}{_suggest(source, set(registry.options))}")
    if state.input and state.input.kind not in FIELD_KINDS - {"choice"}:
        out.append(
            f"unknown input kind {state.input.kind!r}{_suggest(state.input.kind, FIELD_KINDS)}"
        )
    if state.form:
        for fld in state.form.fields:
            if fld.kind not in FIELD_KINDS:
                out.append(
                    f"unknown field kind {fld.kind!r} in form{_suggest(fld.kind, FIELD_KINDS)}"
                )
            if fld.kind == "choice" and not fld.options:
                out.append(f"form field {fld.id!r} is a choice with no options")
        check = state.form.check
        if check is not None and check not in registry.form_checks:
            out.append(f"unknown form check {check!r}{_suggest(check, set(registry.form_checks))}")
    return out


def check_flow(flow: FlowSpec, registry: Registry, flow_names: set[str]) -> list[Problem]:
    """Every mistake in one flow, each tied to its file and state."""
    problems: list[Problem] = []

    def add(state: str | None, message: str, level: str = "error") -> None:
        problems.append(Problem(flow.file, state, message, level))  # type: ignore[arg-type]

    if flow.start not in flow.states:
        add(None, f"start state {flow.start!r} does not exist")
    known = _known_slots(flow, registry)
    for name, state in flow.states.items():
        for message in _state_problems(name, state, registry, flow, flow_names):
            add(name, message)
        for msg in state.say:
            if isinstance(msg, Variant) and msg.by not in known:
                add(name, f"text varies by unknown slot {msg.by!r}")
        for text in _texts(state):
            try:
                missing = placeholders(text) - known
            except ValueError as exc:
                add(name, f"malformed text template ({exc})")
                continue
            for ph in sorted(missing):
                add(name, f"unknown placeholder {{{ph}}}")
        synonyms: dict[str, str] = {}
        for choice in state.choices:
            for word in {normalise_command(s) for s in choice.synonyms}:
                if word in synonyms and synonyms[word] != choice.id:
                    add(
                        name,
                        f"synonym {word!r} means both {synonyms[word]!r} and {choice.id!r}",
                        "warning",
                    )
                synonyms.setdefault(word, choice.id)
    for old, new in flow.renamed.items():
        if new not in flow.states:
            add(None, f"renamed state {old!r} points to unknown state {new!r}")
    problems.extend(_reachability(flow))
    return problems


def _reachability(flow: FlowSpec) -> list[Problem]:
    if flow.start not in flow.states:
        return []
    problems: list[Problem] = []
    reached = {flow.start}
    queue = deque([flow.start])
    while queue:
        for target in flow.states[queue.popleft()].targets():
            if target in flow.states and target not in reached:
                reached.add(target)
                queue.append(target)
    for name in flow.states:
        if name not in reached:
            problems.append(Problem(flow.file, name, "unreachable from the start state"))
    # A state from which no end (or jump to another flow) can be reached traps the person.
    exits = {
        n for n, s in flow.states.items() if s.end or any(t.startswith("@") for t in s.targets())
    }
    can_exit = set(exits)
    changed = True
    while changed:
        changed = False
        for name, state in flow.states.items():
            if name not in can_exit and any(t in can_exit for t in state.targets()):
                can_exit.add(name)
                changed = True
    for name in flow.states:
        # The home flow is where every flow returns to: it needs no exit of its own.
        if flow.name != HOME_FLOW and name in reached and name not in can_exit:
            problems.append(Problem(flow.file, name, "no way out: no path to an end state"))
    return problems


def _across_flows(flows: dict[str, FlowSpec]) -> list[Problem]:
    """Commands two flows claim, commands a global word hides, examples two flows share."""
    problems: list[Problem] = []
    commands: dict[str, str] = {}
    examples: dict[str, str] = {}
    for flow in flows.values():
        for command in flow.commands:
            if command in commands:
                message = f"command {command!r} also used by {commands[command]}"
                problems.append(Problem(flow.file, None, message))
            if normalise_command(command) in GLOBAL_WORDS:
                message = (
                    f"command {command!r} is a word that works at every step "
                    f"({GLOBAL_WORDS[normalise_command(command)]}), so it would never start "
                    "this flow: pick another"
                )
                problems.append(Problem(flow.file, None, message))
            commands[command] = flow.file
        understand = flow.understand
        for example in {normalise_command(e) for e in (understand.examples if understand else ())}:
            if example in examples and examples[example] != flow.file:
                message = f"example {example!r} also used by {examples[example]}"
                problems.append(Problem(flow.file, None, message, "warning"))
            examples.setdefault(example, flow.file)
    return problems


def check_flows(
    flows: dict[str, FlowSpec], registry: Registry, required: tuple[str, ...] = ()
) -> list[Problem]:
    problems: list[Problem] = []
    names = set(flows)
    for flow in flows.values():
        problems.extend(check_flow(flow, registry, names))
    problems.extend(_across_flows(flows))
    for name in required:
        if name not in flows:
            problems.append(Problem("flows", None, f"required flow {name!r} is missing"))
    return problems


# --------------------------------------------------------------------------- other files


COMMAND_DESCRIPTION_LIMIT = 100  # Discord's limit for a (sub)command description
COMMAND_PREFIX = "command_"


def slash_commands(flows: dict[str, FlowSpec]) -> list[str]:
    """The platform subcommands the flows give (``/rebound log``): each flow's first
    ``commands:`` word, spaces as dashes (command names are single words), then ``help``."""
    out = [f.commands[0].replace(" ", "-") for f in flows.values() if f.commands]
    return list(dict.fromkeys([*out, "help"]))


def command_message_key(subcommand: str) -> str:
    """Where a subcommand's description lives in ``_messages.yaml``: ``command_feedback_reply``."""
    return COMMAND_PREFIX + subcommand.replace("-", "_").replace(" ", "_")


def check_command_descriptions(
    flows: dict[str, FlowSpec], messages: dict[str, str]
) -> list[Problem]:
    """Every subcommand is described for the platforms' command pickers, which everyone in a
    server sees: missing, the flow's title is shown instead (a warning); too long, an error."""
    problems: list[Problem] = []
    for sub in slash_commands(flows):
        key = command_message_key(sub)
        text = messages.get(key)
        if text is None:
            why = f"/rebound {sub} has no description (its flow's title is shown instead)"
            problems.append(Problem(MESSAGES_FILE, key, why, "warning"))
        elif not text.strip() or len(text) > COMMAND_DESCRIPTION_LIMIT:
            why = f"a command description takes 1 to {COMMAND_DESCRIPTION_LIMIT} characters"
            problems.append(Problem(MESSAGES_FILE, key, why))
    return problems


class _Messages(RootModel[dict[str, str]]):
    """``_messages.yaml``: key -> text (with ``{placeholders}``)."""


def load_messages(
    flows_dir: Path, used: set[str] | frozenset[str] = frozenset()
) -> tuple[dict[str, str], list[Problem]]:
    """The system messages, and what is wrong with them: missing, not text, or unused."""
    try:
        raw = load_yaml(flows_dir / MESSAGES_FILE) or {}
    except (OSError, yaml.YAMLError) as exc:
        return {}, [Problem(MESSAGES_FILE, None, f"cannot read system messages: {exc}")]
    model, problems = validate_file(_Messages, MESSAGES_FILE, raw, None)
    if model is None:
        return {}, problems
    messages = {k: unwrap(v) for k, v in model.root.items()}
    problems += [
        Problem(MESSAGES_FILE, key, "required message is missing")
        for key in REQUIRED_MESSAGES
        if key not in messages
    ]
    known = set(REQUIRED_MESSAGES) | set(used)
    for key in messages:
        # A description of a subcommand this folder's flows lack (a test's subset of flows, a
        # flow being renamed) is harmless: only missing ones are reported.
        if key not in known and not key.startswith(COMMAND_PREFIX):
            message = f"message {key!r} is not used by anything{_suggest(key, known)}"
            problems.append(Problem(MESSAGES_FILE, key, message, "warning"))
        else:
            try:
                placeholders(messages[key])
            except ValueError as exc:
                problems.append(Problem(MESSAGES_FILE, key, f"malformed text template ({exc})"))
    return messages, problems


def check_data_files(flows_dir: Path, registry: Registry) -> list[Problem]:
    """Validate each data file behaviour declared (``Registry.data_file``) against its model."""
    problems: list[Problem] = []
    for name, model in sorted(registry.data_files.items()):
        try:
            raw: Any = load_yaml(flows_dir / name)
        except (OSError, yaml.YAMLError) as exc:
            problems.append(Problem(name, None, f"cannot read: {exc}"))
            continue
        problems.extend(validate_file(model, name, raw, None)[1])
    return problems


SAFETY_FILE = "_safety.yaml"
SAFETY_EXAMPLES_FILE = "_safety_examples.yaml"
SAFETY_CATEGORIES = frozenset({
    "direct", "euphemism", "plan_timing", "method_means", "preparation", "slang",
    "hopelessness_burden", "self_harm", "other_person",
})  # fmt: skip


class _SafetyCategory(BaseModel, extra="forbid"):
    crisis: list[str | list[str]] = []
    check: list[str | list[str]] = []


class _TalkToAPerson(BaseModel, extra="forbid"):
    flow: str
    when: str | None = None
    slots: dict[str, Any] = {}


class _SafetyFile(BaseModel, extra="allow"):
    macros: dict[str, str] = {}
    emoji: dict[str, str] = {}
    categories: dict[str, _SafetyCategory]
    answers: dict[str, list[str]] = {}
    talk_to_a_person: _TalkToAPerson | None = None


class _SafetyExamples(BaseModel, extra="forbid"):
    concern: list[str]
    ordinary: list[str]


def check_safety(flows_dir: Path, flows: dict[str, FlowSpec], registry: Registry) -> list[Problem]:
    """The screening files: every pattern compiles, every category the screen relies on is
    there, the hand-off it offers names a real flow and condition, the examples are lists."""
    problems: list[Problem] = []
    try:
        raw: Any = read_data_yaml(flows_dir / SAFETY_FILE)
        examples: Any = read_data_yaml(flows_dir / SAFETY_EXAMPLES_FILE)
    except (OSError, yaml.YAMLError) as exc:
        return [Problem(SAFETY_FILE, None, f"cannot read: {exc}")]
    parsed, found = validate_file(_SafetyFile, SAFETY_FILE, raw, None)
    problems += found
    problems += validate_file(_SafetyExamples, SAFETY_EXAMPLES_FILE, examples, None)[1]
    if parsed is None:
        return problems
    missing = SAFETY_CATEGORIES - set(parsed.categories)
    if missing:
        problems.append(Problem(SAFETY_FILE, None, f"missing categories: {sorted(missing)}"))
    unknown = set(parsed.answers) - {"safe", "unsafe", "private"}
    if unknown:
        problems.append(Problem(SAFETY_FILE, None, f"unknown answers: {sorted(unknown)}"))
    talk = parsed.talk_to_a_person
    # No such flow (a trimmed flows folder) only means no button under the crisis reply.
    known = registry.conditions
    if talk is not None and talk.flow in flows and talk.when and talk.when not in known:
        message = f"talk_to_a_person: no condition {talk.when!r}"
        problems.append(Problem(SAFETY_FILE, None, message))
    try:
        SafetyRules(raw)
    except RulesError as exc:
        problems.append(Problem(SAFETY_FILE, None, f"pattern does not compile: {exc}"))
    return problems


def load_checked(
    flows_dir: Path, registry: Registry
) -> tuple[dict[str, FlowSpec], dict[str, str], list[Problem]]:
    """Load flows, system messages and data files and check them all (``rebound flows check``).

    The problems include warnings; callers refuse to start only on errors.
    """
    flows, problems = load_flows(flows_dir)
    problems += check_flows(flows, registry, REQUIRED_FLOWS)
    messages, msg_problems = load_messages(flows_dir, registry.messages)
    msg_problems += check_command_descriptions(flows, messages)
    problems += check_data_files(flows_dir, registry)
    problems += check_safety(flows_dir, flows, registry)
    return flows, messages, problems + msg_problems


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]
