"""One readable line for every configuration mistake, and never a secret in it.

Pydantic finds the mistakes (every settings model forbids unknown keys); this module only words
them. A misspelt key names the closest valid one (``difflib``), whether it came from the TOML
file or a ``REBOUND_*`` variable, which pydantic-settings would otherwise silently ignore. A
rejected value is echoed only when it is short, belongs to a field that is not a secret, and
does not look like a token: people paste tokens into the wrong setting, and the error line ends
up in terminals, CI logs and bug reports.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import ErrorDetails

PREFIX = "REBOUND_"
NESTED = "__"
# REBOUND_* variables that are not settings: the config file's path, and the test/benchmark
# databases read by tests/ and benchmarks/.
NOT_SETTINGS = ("CONFIG",)
NOT_SETTINGS_PREFIXES = ("TEST_", "BENCH_")
ECHO_LIMIT = 40
_TOKEN_LIKE = re.compile(r"^(xox[a-z]|xapp|xoxe|gh[pousr]_|sk-|bearer\s)", re.IGNORECASE)
_CREDENTIAL_URL = re.compile(r"://[^/@\s]*@")
_OPAQUE = re.compile(r"^[A-Za-z0-9_\-.+/=]{20,}$")


# ---------------------------------------------------------------------------- unknown variables


def unknown_variable(
    model: type[BaseModel], environ: Mapping[str, str] | None = None
) -> str | None:
    """The first ``REBOUND_*`` variable that names no setting, worded as an error; else None.

    Variables for a known section (``REBOUND_SLACK__BOT_TOKN``) are left to the section model,
    which forbids unknown keys; this catches the ones pydantic-settings never looks at.
    """
    names = sorted(environ if environ is not None else os.environ)
    for name in names:
        upper = name.upper()
        if not upper.startswith(PREFIX):
            continue
        rest = upper.removeprefix(PREFIX)
        if rest in NOT_SETTINGS or rest.startswith(NOT_SETTINGS_PREFIXES):
            continue
        if rest.split(NESTED, 1)[0].lower() in model.model_fields:
            continue
        return _unknown(name, _closest(rest.lower(), _env_names(model)), env=True)
    return None


def _env_names(model: type[BaseModel]) -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        names.append(name)
        section = _model_in(info.annotation)
        if section is not None:
            names += [f"{name}{NESTED}{sub}" for sub in section.model_fields]
    return names


# ---------------------------------------------------------------------------- validation errors


def describe(
    exc: ValidationError, model: type[BaseModel], environ: Mapping[str, str] | None = None
) -> str:
    """``config error: where: what`` for the first error pydantic found."""
    env = {k.upper() for k in (environ if environ is not None else os.environ)}
    errors = exc.errors()
    # A misspelt key also makes the right one "missing": name the misspelling, it is the cause.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(err["loc"])
    env_name = PREFIX + NESTED.join(str(p) for p in loc).upper()
    from_env = env_name in env
    where = env_name if from_env else (".".join(str(p) for p in loc) or "settings")
    if err["type"] == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        candidates = list(parent.model_fields) if parent is not None else []
        match = _closest(str(loc[-1]).lower(), candidates)
        if match is None and len(loc) == 1:
            match = _closest(str(loc[-1]).lower(), _dotted_names(model))
        if match is not None:
            match = NESTED.join([*(str(p) for p in loc[:-1]), match])
        return _unknown(where, match, env=from_env)
    return f"config error: {where}: {_what(err, secret=_is_secret(model, loc))}"


def describe_unreadable(
    model: type[BaseModel], field: str | None, environ: Mapping[str, str] | None = None
) -> str:
    """A section or list given as a ``REBOUND_*`` variable that is not valid JSON.

    pydantic-settings names only the top-level field, so find the variable itself: the one
    under that field, for a section or list setting, whose value does not parse.
    """
    environ = environ if environ is not None else os.environ
    name = PREFIX + field.upper() if field else "a REBOUND_* variable"
    for var in sorted(environ):
        upper = var.upper()
        if field and upper != name and not upper.startswith(name + NESTED):
            continue
        path = upper.removeprefix(PREFIX).lower().split(NESTED)
        if _is_structured(model, path) and not _parses(environ[var]):
            name = upper
            break
    why = "a whole section or a list set in the environment must be JSON"
    return f"config error: {name}: not valid JSON ({why})"


def _parses(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _is_structured(model: type[BaseModel], path: Sequence[str]) -> bool:
    parent = _model_at(model, path[:-1])
    info = parent.model_fields.get(path[-1]) if parent is not None else None
    if info is None:
        return False
    origins = {typing.get_origin(a) for a in (info.annotation, *typing.get_args(info.annotation))}
    return _model_in(info.annotation) is not None or bool(origins & {list, dict})


def _what(err: ErrorDetails, secret: bool) -> str:
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    if not secret and _echoable(value):
        return f"{msg}, got {value!r}"
    text = str(value) if isinstance(value, str | int | float) else ""
    if len(text) >= 4 and text in msg:  # a validator that quoted the value after all
        msg = msg.replace(text, "…")
    return msg


def _echoable(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return value is not None
    if isinstance(value, int | float):
        return len(str(value)) <= ECHO_LIMIT
    if not isinstance(value, str) or len(value) > ECHO_LIMIT:
        return False
    if _TOKEN_LIKE.search(value.strip()) or _CREDENTIAL_URL.search(value):
        return False
    opaque = _OPAQUE.match(value)
    return not (opaque and re.search(r"\d", value) and re.search(r"[A-Za-z]", value))


def _unknown(where: str, match: str | None, env: bool) -> str:
    if match is None:
        return f"config error: {where}: unknown setting"
    suggestion = PREFIX + match.upper() if env else match.replace(NESTED, ".")
    return f"config error: {where}: unknown setting (did you mean {suggestion}?)"


def _closest(word: str, candidates: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def _dotted_names(model: type[BaseModel]) -> list[str]:
    return [n for n in _env_names(model) if NESTED in n]


# ---------------------------------------------------------------------------- walking the models


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The settings model an annotation holds, looking inside Optional, list and dict."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _model_at(model: type[BaseModel], path: Sequence[Any]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in path:
        if current is None:
            return None
        if not isinstance(part, str):  # a list index or dict key: same model inside
            continue
        info = current.model_fields.get(part)
        if info is None:
            return None
        current = _model_in(info.annotation)
    return current


def _holds_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_args(annotation):
        return any(_holds_secret(a) for a in typing.get_args(annotation))
    return False


def _is_secret(model: type[BaseModel], loc: Sequence[Any]) -> bool:
    """True for a SecretStr field, and for any key whose name says it is one."""
    names = [str(p).lower() for p in loc if isinstance(p, str)]
    if any(word in n for n in names for word in ("token", "secret", "password", "key")):
        return True
    parent = _model_at(model, loc[:-1]) if loc else None
    if parent is None or not names:
        return False
    info = parent.model_fields.get(str(loc[-1]))
    return info is not None and _holds_secret(info.annotation)
