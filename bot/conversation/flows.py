"""Flow files: load the YAML in ``flows/`` into specs and check them for mistakes.

A flow is a small graph of named states. Each state says something (``say``), may run named
actions on entry (``do``), and then waits for one kind of answer: a choice, a line of text
(``input``), a form, or nothing (``next`` moves on by itself, optionally under a named
condition). ``end: true`` closes the flow and returns the person to the menu. A target written
``"@other_flow"`` starts another flow. See ``flows/README.md`` for the full format.

:func:`check_flows` reports every problem with its file and state, so a careers adviser who
edits the wording or adds a choice sees exactly what to fix.
"""

from __future__ import annotations

import re
import string
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.conversation.messages import Choice, Field, FieldKind
from bot.conversation.registry import Registry

HOME_FLOW = "home"
ENTRY_FLOW = "welcome"
FIELD_KINDS: set[str] = {"text", "long_text", "date", "datetime", "number", "choice"}
_STATE_KEYS = {
    "say", "do", "choices", "options", "input", "form", "next", "end", "back", "note", "skip",
}  # fmt: skip


# libyaml's C loader when available (several times faster); both are the safe loader.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FlowError(Exception):
    """A flow file could not be read at all (bad YAML, not a mapping)."""


@dataclass(frozen=True)
class Problem:
    file: str
    state: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}" + (f" [{self.state}]" if self.state else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Variant:
    """Text picked by a slot's value: ``{by: feeling, cases: {angry: ...}, default: ...}``."""

    by: str
    cases: dict[str, str]
    default: str

    def texts(self) -> list[str]:
        return [*self.cases.values(), self.default]


Message = str | Variant


@dataclass(frozen=True)
class ChoiceSpec:
    id: str
    label: str
    to: str
    when: str | None = None
    set: dict[str, Any] = field(default_factory=dict)
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnderstandSpec:
    """How a flow is recognised from a sentence: a label for "did you mean", examples."""

    label: str = ""
    examples: tuple[str, ...] = ()
    confirm: bool = False
    # News from an employer (a rejection, an offer): may interrupt a free-text answer elsewhere.
    news: bool = False
    # Free-text answers here are expected to talk about the news: they never interrupt.
    quiet: bool = False


@dataclass(frozen=True)
class OptionsSpec:
    """Choices computed at run time by a named provider (e.g. the person's open interviews)."""

    source: str
    slot: str
    to: str


@dataclass(frozen=True)
class InputSpec:
    slot: str
    to: str
    kind: FieldKind = "text"
    max_length: int = 2000
    min: float | None = None
    max: float | None = None
    optional: bool = False


@dataclass(frozen=True)
class FormSpec:
    id: str
    title: str
    fields: tuple[Field, ...]
    to: str
    submit_label: str = "Save"


@dataclass(frozen=True)
class NextSpec:
    to: str
    when: str | None = None


@dataclass(frozen=True)
class StateSpec:
    name: str
    say: tuple[Message, ...] = ()
    do: tuple[str, ...] = ()
    choices: tuple[ChoiceSpec, ...] = ()
    options: OptionsSpec | None = None
    input: InputSpec | None = None
    form: FormSpec | None = None
    next: tuple[NextSpec, ...] = ()
    end: bool = False
    back: bool = True
    # Where typing "skip" (or "pass", "can we skip this?") goes from a choice step.
    skip: str | None = None
    unknown_keys: tuple[str, ...] = ()

    @property
    def waits(self) -> bool:
        """True when the state stops and waits for the person."""
        return bool(self.choices or self.options or self.input or self.form)

    def static_choices(self) -> tuple[Choice, ...]:
        return tuple(Choice(c.id, c.label) for c in self.choices)

    def targets(self) -> list[str]:
        out = [c.to for c in self.choices] + [n.to for n in self.next]
        if self.skip:
            out.append(self.skip)
        for spec in (self.options, self.input, self.form):
            if spec is not None:
                out.append(spec.to)
        return out


@dataclass(frozen=True)
class FlowSpec:
    name: str
    file: str
    title: str
    start: str
    states: dict[str, StateSpec]
    commands: tuple[str, ...] = ()
    slots: tuple[str, ...] = ()
    renamed: dict[str, str] = field(default_factory=dict)
    description: str = ""
    understand: UnderstandSpec | None = None


# --------------------------------------------------------------------------- loading


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


_SOFT_BREAK = re.compile(r"(?<!\n)\n(?!\n|- |• )")


def unwrap(text: str) -> str:
    """Join hard-wrapped lines; keep blank lines and list items. Chat apps wrap by themselves."""
    return _SOFT_BREAK.sub(" ", str(text).strip())


def _message(raw: Any, where: str) -> Message:
    if isinstance(raw, str):
        return unwrap(raw)
    if isinstance(raw, dict) and "by" in raw:
        cases = {str(k): unwrap(v) for k, v in (raw.get("cases") or {}).items()}
        return Variant(by=str(raw["by"]), cases=cases, default=unwrap(raw.get("default", "")))
    raise FlowError(f"{where}: 'say' entries are text or {{by, cases, default}}")


def _field(raw: dict[str, Any], where: str) -> Field:
    kind = raw.get("kind", "text")
    options = tuple(Choice(str(o["id"]), str(o["label"])) for o in raw.get("options", []))
    return Field(
        id=str(raw["id"]),
        label=str(raw.get("label", raw["id"])),
        kind=kind,
        required=bool(raw.get("required", True)),
        placeholder=str(raw.get("placeholder", "")),
        max_length=int(raw.get("max_length", 500)),
        options=options,
    )


def _state(name: str, raw: dict[str, Any], where: str) -> StateSpec:
    if not isinstance(raw, dict):
        raise FlowError(f"{where}: state must be a mapping")
    choices = tuple(
        ChoiceSpec(
            id=str(c["id"]),
            label=str(c.get("label", c["id"])),
            to=str(c.get("to", name)),
            when=c.get("when"),
            set=dict(c.get("set") or {}),
            synonyms=tuple(str(x) for x in _as_list(c.get("synonyms"))),
        )
        for c in _as_list(raw.get("choices"))
    )
    options = None
    if opt := raw.get("options"):
        options = OptionsSpec(source=str(opt["from"]), slot=str(opt["slot"]), to=str(opt["to"]))
    inp = None
    if spec := raw.get("input"):
        inp = InputSpec(
            slot=str(spec["slot"]),
            to=str(spec["to"]),
            kind=spec.get("kind", "text"),
            max_length=int(spec.get("max_length", 2000)),
            min=spec.get("min"),
            max=spec.get("max"),
            optional=bool(spec.get("optional", False)),
        )
    form = None
    if spec := raw.get("form"):
        form = FormSpec(
            id=str(spec.get("id", name)),
            title=str(spec.get("title", name)),
            fields=tuple(_field(f, where) for f in spec.get("fields", [])),
            to=str(spec["to"]),
            submit_label=str(spec.get("submit", "Save")),
        )
    nexts = tuple(
        NextSpec(to=n, when=None)
        if isinstance(n, str)
        else NextSpec(to=n["to"], when=n.get("when"))
        for n in _as_list(raw.get("next"))
    )
    return StateSpec(
        name=name,
        say=tuple(_message(m, where) for m in _as_list(raw.get("say"))),
        do=tuple(str(a) for a in _as_list(raw.get("do"))),
        choices=choices,
        options=options,
        input=inp,
        form=form,
        next=nexts,
        end=bool(raw.get("end", False)),
        back=bool(raw.get("back", True)),
        skip=str(raw["skip"]) if raw.get("skip") else None,
        unknown_keys=tuple(sorted(str(k) for k in raw if k not in _STATE_KEYS)),
    )


def load_flow(path: Path) -> FlowSpec:
    """Parse one flow file. Raises :class:`FlowError` with the file name on malformed input."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as exc:
        raise FlowError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("states"), dict):
        raise FlowError(f"{path.name}: a flow needs 'name', 'start' and a 'states' mapping")
    states: dict[str, StateSpec] = {}
    try:
        for name, body in raw["states"].items():
            states[str(name)] = _state(str(name), body, f"{path.name} [{name}]")
    except (KeyError, TypeError, ValueError) as exc:
        raise FlowError(f"{path.name}: malformed state ({exc!r})") from None
    return FlowSpec(
        name=str(raw.get("name", path.stem)),
        file=path.name,
        title=str(raw.get("title", path.stem)),
        start=str(raw.get("start", next(iter(states), ""))),
        states=states,
        commands=tuple(str(c).lower() for c in _as_list(raw.get("commands"))),
        slots=tuple(str(s) for s in _as_list(raw.get("slots"))),
        renamed={str(k): str(v) for k, v in (raw.get("renamed") or {}).items()},
        description=str(raw.get("description", "")),
        understand=_understand(raw.get("understand")),
    )


def _understand(raw: Any) -> UnderstandSpec | None:
    if not isinstance(raw, dict):
        return None
    return UnderstandSpec(
        label=str(raw.get("label", "")),
        examples=tuple(str(x) for x in _as_list(raw.get("examples"))),
        confirm=bool(raw.get("confirm", False)),
        news=bool(raw.get("news", False)),
        quiet=bool(raw.get("quiet", False)),
    )


def load_flows(directory: Path) -> tuple[dict[str, FlowSpec], list[Problem]]:
    """Load every ``*.yaml`` flow in a directory; unreadable files become problems."""
    flows: dict[str, FlowSpec] = {}
    problems: list[Problem] = []
    for path in sorted(p for p in directory.glob("*.yaml") if not p.name.startswith("_")):
        try:
            flow = load_flow(path)
        except FlowError as exc:
            problems.append(Problem(path.name, None, str(exc).split(": ", 1)[-1]))
            continue
        if flow.name in flows:
            problems.append(Problem(path.name, None, f"flow name {flow.name!r} used twice"))
        flows[flow.name] = flow
    return flows, problems


# --------------------------------------------------------------------------- checking


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


def check_flow(flow: FlowSpec, registry: Registry, flow_names: set[str]) -> list[Problem]:
    """Every mistake in one flow, each tied to its file and state."""
    problems: list[Problem] = []

    def add(state: str | None, message: str) -> None:
        problems.append(Problem(flow.file, state, message))

    if flow.start not in flow.states:
        add(None, f"start state {flow.start!r} does not exist")
    known = _known_slots(flow, registry)
    for name, state in flow.states.items():
        for target in state.targets():
            if target.startswith("@"):
                if target[1:] not in flow_names:
                    add(name, f"unknown flow {target[1:]!r} in target {target!r}")
            elif target not in flow.states:
                add(name, f"unknown target state {target!r}")
        for key in state.unknown_keys:
            add(name, f"unknown key {key!r} (known: {', '.join(sorted(_STATE_KEYS))})")
        if not state.waits and not state.next and not state.end:
            add(name, "dead end: no choices, input, form, next or end")
        if state.waits and not state.say:
            add(name, "asks for an answer but says nothing")
        if state.end and (state.waits or state.next):
            add(name, "an end state cannot also wait for an answer or move on")
        seen: set[str] = set()
        for choice in state.choices:
            if choice.id in seen:
                add(name, f"duplicate choice id {choice.id!r}")
            seen.add(choice.id)
            if choice.when and choice.when not in registry.conditions:
                add(name, f"unknown condition {choice.when!r}")
        for nxt in state.next:
            if nxt.when and nxt.when not in registry.conditions:
                add(name, f"unknown condition {nxt.when!r}")
        if state.next and state.next[-1].when is not None:
            add(name, "the last 'next' needs no 'when', so the flow always moves on")
        for act in state.do:
            if act not in registry.actions:
                add(name, f"unknown action {act!r}")
        if state.options and state.options.source not in registry.options:
            add(name, f"unknown options provider {state.options.source!r}")
        if state.input and state.input.kind not in FIELD_KINDS:
            add(name, f"unknown input kind {state.input.kind!r}")
        if state.form:
            for fld in state.form.fields:
                if fld.kind not in FIELD_KINDS:
                    add(name, f"unknown field kind {fld.kind!r} in form")
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


def check_flows(
    flows: dict[str, FlowSpec], registry: Registry, required: tuple[str, ...] = ()
) -> list[Problem]:
    problems: list[Problem] = []
    names = set(flows)
    for flow in flows.values():
        problems.extend(check_flow(flow, registry, names))
    commands: dict[str, str] = {}
    for flow in flows.values():
        for command in flow.commands:
            if command in commands:
                problems.append(
                    Problem(
                        flow.file, None, f"command {command!r} also used by {commands[command]}"
                    )
                )
            commands[command] = flow.file
    for name in required:
        if name not in flows:
            problems.append(Problem("flows", None, f"required flow {name!r} is missing"))
    return problems


def mermaid(flow: FlowSpec) -> str:
    """A Mermaid state diagram of one flow, for docs and reviews."""
    lines = ["stateDiagram-v2", f"    [*] --> {flow.start}"]
    for name, state in flow.states.items():
        for choice in state.choices:
            label = choice.label.replace(":", " ").replace('"', "'")
            lines.append(f"    {name} --> {_node(choice.to)}: {label}")
        if state.options:
            lines.append(
                f"    {name} --> {_node(state.options.to)}: pick from {state.options.source}"
            )
        for spec, what in ((state.input, "answer"), (state.form, "form")):
            if spec is not None:
                lines.append(f"    {name} --> {_node(spec.to)}: {what}")
        for nxt in state.next:
            lines.append(
                f"    {name} --> {_node(nxt.to)}" + (f": if {nxt.when}" if nxt.when else "")
            )
        if state.end:
            lines.append(f"    {name} --> [*]")
    return "\n".join(lines) + "\n"


def _node(target: str) -> str:
    return f"flow_{target[1:]}" if target.startswith("@") else target
