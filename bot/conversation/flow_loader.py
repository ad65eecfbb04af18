"""Reading ``flows/*.yaml`` into :mod:`~bot.conversation.flow_spec` models.

YAML 1.1 reads ``yes``, ``no``, ``on`` and ``off`` as booleans, so ``- {id: no, ...}`` used to
become the id ``False``: typing "no" matched nothing and typing "true" picked it. Our loader
only knows ``true`` and ``false`` as booleans (as YAML 1.2 does); every other bare word stays
text. Whatever is still not text where an id belongs (``id: true``, ``id: 3``) is a problem
reported with its file and state, never silently turned into a string.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bot.conversation.flow_spec import FlowError, FlowSpec, Problem

# libyaml's C loader when available (several times faster); both are the safe loader.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOOL = "tag:yaml.org,2002:bool"


class TextLoader(_Base):  # type: ignore[valid-type,misc]
    """The safe loader, with YAML 1.2 booleans: only true/false, never yes/no/on/off."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
        for first, resolvers in _Base.yaml_implicit_resolvers.items()
    }


TextLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file under the flows' rules. Raises ``OSError`` / ``yaml.YAMLError``."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=TextLoader)


def read_data_yaml(path: Path) -> Any:
    """A large plain data file (thousands of example sentences), read with libyaml's C loader
    where it is installed: 17x faster than the pure-Python one, which every engine start
    would otherwise pay."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


def _where(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if item in ("text", "variant"):  # which shape of ``say`` entry: not a place in the file
            continue
        if isinstance(item, int):
            parts.append(f"#{item + 1}")
        else:
            parts.append(str(item))
    return " ".join(parts)


def _describe(err: dict[str, Any]) -> list[str]:
    kind, path = err["type"], _where(tuple(err["loc"]))
    if kind == "unknown_key":
        messages = [str(err["msg"])]
    elif kind == "string_type":
        got = err["input"]
        hint = " (put it in quotes)" if isinstance(got, bool | int | float) else ""
        messages = [f"must be text, got {got!r}{hint}"]
    elif kind == "bool_type":
        messages = [f"must be true or false, got {err['input']!r}"]
    elif kind == "missing":
        messages = ["missing (required)"]
    else:
        messages = [str(err["msg"]).removeprefix("Value error, ")]
    return [f"{path}: {m}" if path else m for m in messages]


def validation_problems(
    file: str, exc: ValidationError, state_of: tuple[str, ...] | None = ("states",)
) -> list[Problem]:
    """One problem per mistake, with the state it sits in when there is one.

    ``state_of`` names the mappings whose keys are states (``states`` in a flow); None means
    the file itself is such a mapping (``_catalogue.yaml``: the entry is the "state").
    """
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        state = None
        if state_of is None and loc:
            state, loc = str(loc[0]), loc[1:]
        elif state_of and len(loc) >= 2 and loc[0] in state_of:
            state, loc = str(loc[1]), loc[2:]
        for message in _describe({**err, "loc": loc}):
            out.append(Problem(file, state, message))
    return out


def validate_file(
    model: type[BaseModel], file: str, raw: Any, state_of: tuple[str, ...] | None = ()
) -> tuple[Any, list[Problem]]:
    """Validate ``raw`` against ``model``: the model, or None and the problems."""
    try:
        return model.model_validate(raw), []
    except ValidationError as exc:
        return None, validation_problems(file, exc, state_of)


def read_flow(path: Path) -> tuple[FlowSpec | None, list[Problem]]:
    """Parse one flow file: the flow, or None and every problem found in it."""
    try:
        raw = load_yaml(path)
    except (OSError, yaml.YAMLError) as exc:
        return None, [Problem(path.name, None, f"not valid YAML: {exc}")]
    if not isinstance(raw, dict) or not isinstance(raw.get("states"), dict):
        message = "a flow needs 'name', 'start' and a 'states' mapping"
        return None, [Problem(path.name, None, message)]
    raw = {"name": path.stem, "title": path.stem, **raw, "file": path.name}
    return validate_file(FlowSpec, path.name, raw, ("states",))


def load_flow(path: Path) -> FlowSpec:
    """Parse one flow file. Raises :class:`FlowError` with the file name on malformed input."""
    flow, problems = read_flow(path)
    if flow is None:
        raise FlowError("\n".join(str(p) for p in problems))
    return flow


def load_flows(directory: Path) -> tuple[dict[str, FlowSpec], list[Problem]]:
    """Load every ``*.yaml`` flow in a directory; unreadable files become problems."""
    flows: dict[str, FlowSpec] = {}
    problems: list[Problem] = []
    for path in sorted(p for p in directory.glob("*.yaml") if not p.name.startswith("_")):
        flow, found = read_flow(path)
        problems.extend(found)
        if flow is None:
            continue
        if flow.name in flows:
            problems.append(Problem(path.name, None, f"flow name {flow.name!r} used twice"))
        flows[flow.name] = flow
    return flows, problems
