"""The flow format as typed models: what a flow file may say, and nothing else.

A flow is a small graph of named states. Each state says something (``say``), may run named
actions on entry (``do``), and then waits for one kind of answer: a choice, a line of text
(``input``), a form, or nothing (``next`` moves on by itself, optionally under a named
condition, or its negation ``not name``). ``end: true`` closes the flow and returns the person
to the menu. A target written ``"@other_flow"`` starts another flow. See ``flows/README.md``.

Every model is frozen and strict: an unknown key anywhere (``comands``, ``lable``, ``minimum``)
is an error naming the closest valid key, and ids are text, never numbers or booleans, so a
choice written ``no`` is the word "no" (see :mod:`bot.conversation.flow_loader`). Reading the
YAML lives in ``flow_loader``; checks across states and flows live in ``flow_check``.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    ModelWrapValidatorHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from bot.conversation import messages as neutral

HOME_FLOW = "home"
ENTRY_FLOW = "welcome"
FIELD_KINDS: frozenset[str] = frozenset(
    {"text", "long_text", "date", "datetime", "number", "choice"}
)


class FlowError(Exception):
    """A flow file could not be read at all (bad YAML, not a mapping)."""


@dataclass(frozen=True)
class Problem:
    """One mistake in the flows folder, tied to its file and (when known) its state.

    ``level`` is ``"error"`` (``rebound flows check`` exits 1) or ``"warning"`` (shown, but the
    flows still load and run: a likely mistake rather than a broken flow).
    """

    file: str
    state: str | None
    message: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}" + (f" [{self.state}]" if self.state else "")
        prefix = "warning: " if self.level == "warning" else ""
        return f"{where}: {prefix}{self.message}"

    @property
    def is_error(self) -> bool:
        return self.level == "error"


# A line that starts with a list mark or a {placeholder} (a list filled in at run time) keeps
# its line break.
_SOFT_BREAK = re.compile(r"(?<!\n)\n(?!\n|- |• |\{)")


def unwrap(text: str) -> str:
    """Join hard-wrapped lines; keep blank lines and list items. Chat apps wrap by themselves."""
    return _SOFT_BREAK.sub(" ", str(text).strip())


def closest(word: str, known: set[str] | frozenset[str]) -> str | None:
    """The known word a typo most likely meant (``comands`` -> ``commands``), or None."""
    found = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_key_message(key: str, known: set[str] | frozenset[str]) -> str:
    guess = closest(key, known)
    if guess:
        return f"unknown key {key!r} — did you mean {guess!r}?"
    return f"unknown key {key!r} (known: {', '.join(sorted(known))})"


def _non_empty(text: str) -> str:
    if not text.strip():
        raise PydanticCustomError("empty_text", "must be non-empty text")
    return text


def template(*names: str) -> AfterValidator:
    """Text whose ``{placeholders}`` may only be ``names`` (for the data files' templates)."""

    def check(text: str) -> str:
        try:
            used = {n for _, n, _, _ in string.Formatter().parse(text) if n}
        except ValueError as exc:
            why = {"why": str(exc)}
            raise PydanticCustomError("template", "malformed template ({why})", why) from None
        for bad in sorted(used - set(names)):
            known = ", ".join(names) or "none"
            raise PydanticCustomError(
                "template",
                "unknown placeholder {bad} (this text can use: {known})",
                {"bad": "{" + bad + "}", "known": known},
            )
        return text

    return AfterValidator(check)


def one_of(known: Collection[str], what: str) -> AfterValidator:
    """A name that must be in ``known`` (a theme, a reminder kind), with the closest suggested."""

    def check(name: str) -> str:
        if name not in known:
            guess = closest(name, set(known))
            hint = f" — did you mean {guess!r}?" if guess else f" (known: {', '.join(known)})"
            raise PydanticCustomError(
                "unknown_name",
                "unknown {what} {name}{hint}",
                {"what": what, "name": repr(name), "hint": hint},
            )
        return name

    return AfterValidator(check)


Text = StrictStr
NonEmpty = Annotated[StrictStr, AfterValidator(_non_empty)]
Prose = Annotated[StrictStr, AfterValidator(unwrap)]


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class Strict(BaseModel):
    """Frozen, and no key the format does not know (with the closest valid key suggested)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    # Keys the loader fills in itself: accepted, never suggested.
    _internal: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def yaml_keys(cls) -> frozenset[str]:
        keys = {f.alias or name for name, f in cls.model_fields.items()}
        return frozenset(keys - cls._internal)

    @model_validator(mode="wrap")
    @classmethod
    def _no_unknown_keys(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """Report every unknown key (with the closest known one) and every other mistake.

        The known keys are validated as usual; the unknown ones become errors of their own,
        so one typo does not hide the mistakes next to it.
        """
        if not isinstance(data, dict):
            return handler(data)
        known = cls.yaml_keys()
        bad = [k for k in data if not isinstance(k, str) or k not in known | cls._internal]
        if not bad:
            return handler(data)
        errors = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "unknown_key",
                    unknown_key_message(k, known)
                    if isinstance(k, str)
                    else f"key {k!r} must be text",
                ),
                loc=(),
                input=data[k],
            )
            for k in bad
        ]
        try:
            handler({k: v for k, v in data.items() if k not in bad})
        except ValidationError as exc:
            errors += [_again(e) for e in exc.errors(include_url=False)]
        raise ValidationError.from_exception_data(cls.__name__, errors)


def _again(err: Any) -> InitErrorDetails:
    """A nested error, re-raised with the unknown-key errors of its parent."""
    return InitErrorDetails(
        type=PydanticCustomError(err["type"], err["msg"]), loc=err["loc"], input=err["input"]
    )


class Variant(Strict):
    """Text picked by a slot's value: ``{by: feeling, cases: {angry: ...}, default: ...}``."""

    by: Text
    cases: dict[Text, Prose] = Field(default_factory=dict)
    default: Prose = ""

    def texts(self) -> list[str]:
        return [*self.cases.values(), self.default]


def _say_kind(value: Any) -> str:
    return "variant" if isinstance(value, dict) else "text"


Message = Annotated[
    Annotated[Prose, Tag("text")] | Annotated[Variant, Tag("variant")], Discriminator(_say_kind)
]


def split_condition(when: str) -> tuple[str, bool]:
    """``"not has_x"`` -> ``("has_x", True)``; ``"has_x"`` -> ``("has_x", False)``."""
    words = when.split()
    if len(words) == 2 and words[0] == "not":
        return words[1], True
    return when.strip(), False


def condition_holds(when: str, conditions: Mapping[str, Callable[[Any], bool]], ctx: Any) -> bool:
    """Evaluate a ``when:`` (a registered condition or ``not`` one) for this turn."""
    name, negated = split_condition(when)
    return bool(conditions[name](ctx)) != negated


class ChoiceSpec(Strict):
    id: Text
    label: Text = ""
    to: Text
    when: Text | None = None
    set: dict[Text, Any] = Field(default_factory=dict)
    # Other words that mean this choice ("nope" for "no"); read by the understanding step.
    synonyms: tuple[NonEmpty, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _label_defaults_to_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "label" not in data and isinstance(data.get("id"), str):
            data = {**data, "label": data["id"]}
        return data


class OptionsSpec(Strict):
    """Choices computed at run time by a named provider (e.g. the person's open interviews)."""

    source: Text = Field(alias="from")
    slot: Text
    to: Text


Number = StrictInt | StrictFloat


class InputSpec(Strict):
    slot: Text
    to: Text
    kind: Text = "text"
    max_length: Annotated[int, Field(strict=True, gt=0)] = 2000
    min: Number | None = None
    max: Number | None = None
    optional: StrictBool = False


class FieldOption(Strict):
    id: Text
    label: Text


class FieldSpec(Strict):
    id: Text
    label: Text = ""
    kind: Text = "text"
    required: StrictBool = True
    placeholder: Text = ""
    max_length: Annotated[int, Field(strict=True, gt=0)] = 500
    options: tuple[FieldOption, ...] = ()
    # False only for a field that holds crisis lines by design (the admin form's resource
    # lists): its text is not screened for crisis. Every other field is.
    screen: StrictBool = True

    @model_validator(mode="before")
    @classmethod
    def _label_defaults_to_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "label" not in data and isinstance(data.get("id"), str):
            data = {**data, "label": data["id"]}
        return data

    def neutral(self) -> neutral.Field:
        return neutral.Field(
            id=self.id,
            label=self.label,
            kind=self.kind,  # type: ignore[arg-type]  # checked by flow_check
            required=self.required,
            placeholder=self.placeholder,
            max_length=self.max_length,
            options=tuple(neutral.Choice(o.id, o.label) for o in self.options),
        )


class FormSpec(Strict):
    id: Text
    title: Text
    field_specs: tuple[FieldSpec, ...] = Field(default=(), alias="fields")
    to: Text
    submit_label: Text = Field(default="Save", alias="submit")
    # A registered form check run on the submitted values; its refusals are field errors.
    check: Text | None = None

    @cached_property
    def fields(self) -> tuple[neutral.Field, ...]:
        """The fields as the neutral message model adapters render."""
        return tuple(f.neutral() for f in self.field_specs)


class NextSpec(Strict):
    to: Text
    when: Text | None = None


def _listify(*keys: str) -> Callable[[Any], Any]:
    def before(data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in keys:
                if key in data:
                    data[key] = _as_list(data[key])
        return data

    return before


class StateSpec(Strict):
    _internal: ClassVar[frozenset[str]] = frozenset({"name"})

    name: Text
    say: tuple[Message, ...] = ()
    do: tuple[Text, ...] = ()
    choices: tuple[ChoiceSpec, ...] = ()
    options: OptionsSpec | None = None
    input: InputSpec | None = None
    form: FormSpec | None = None
    next: tuple[NextSpec, ...] = ()
    end: StrictBool = False
    back: StrictBool = True
    # Where typing "skip" (or "pass", "can we skip this?") goes from a choice step.
    skip: Text | None = None
    note: Text = ""  # a comment for whoever edits the flow; never shown

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        """``say: "x"`` is a list of one; ``next: name`` is ``{to: name}``; defaults by state."""
        if not isinstance(data, dict):
            return data
        data = _listify("say", "do", "choices", "next")(data)
        name = data.get("name")
        if "next" in data:
            data["next"] = [{"to": n} if isinstance(n, str) else n for n in data["next"]]
        if "choices" in data:
            data["choices"] = [
                {**c, "to": name} if isinstance(c, dict) and "to" not in c else c
                for c in data["choices"]
            ]
        form = data.get("form")
        if isinstance(form, dict):
            data["form"] = {"id": name, "title": name, **form}
        return data

    @property
    def waits(self) -> bool:
        """True when the state stops and waits for the person."""
        return bool(self.choices or self.options or self.input or self.form)

    def static_choices(self) -> tuple[neutral.Choice, ...]:
        return tuple(neutral.Choice(c.id, c.label) for c in self.choices)

    def targets(self) -> list[str]:
        out = [c.to for c in self.choices] + [n.to for n in self.next]
        if self.skip:
            out.append(self.skip)
        for spec in (self.options, self.input, self.form):
            if spec is not None:
                out.append(spec.to)
        return out


class UnderstandSpec(Strict):
    """How free text can start a flow: read by the understanding step, checked here."""

    label: NonEmpty | None = None  # short, for "Did you mean: ...?"
    examples: tuple[NonEmpty, ...] = ()  # phrases that mean "start this flow"
    confirm: StrictBool = False  # never start this flow on a guess (forget, export)
    # News from an employer (a rejection, an offer): may interrupt a free-text answer elsewhere.
    news: StrictBool = False
    # Free-text answers here are expected to talk about the news: they never interrupt.
    quiet: StrictBool = False


class FlowSpec(Strict):
    _internal: ClassVar[frozenset[str]] = frozenset({"file"})

    name: Text
    file: Text
    title: Text
    start: Text
    states: dict[Text, StateSpec]
    commands: tuple[Text, ...] = ()
    slots: tuple[Text, ...] = ()
    renamed: dict[Text, Text] = Field(default_factory=dict)
    description: Text = ""  # for whoever edits the flow; never shown
    understand: UnderstandSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = _listify("commands", "slots")(data)
        states = data.get("states")
        if isinstance(states, dict):
            data["states"] = {
                k: ({**v, "name": k} if isinstance(v, dict) else v) for k, v in states.items()
            }
            if "start" not in data and states:
                data["start"] = next(iter(states))
        if isinstance(data.get("commands"), list):
            data["commands"] = [c.lower() if isinstance(c, str) else c for c in data["commands"]]
        return data
