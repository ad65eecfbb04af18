"""No sentence the bot sends to a person is written in Python: they all live in ``flows/``.

The scan reads every module under ``bot/`` and flags string literals that look like prose (a
space and a sentence ending, or three or more words starting with a capital). Docstrings, log
calls, exceptions (what operators and developers read), regular expressions and the
command-line modules (operator output) are not what people are sent, so they are excluded by
rule; what is left over is a short, explained allow-list.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"

_LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
_LOGGERS = {"log", "logger", "logging", "_log"}
# Regular-expression syntax: a pattern, not a sentence.
_REGEX = re.compile(r"\\[bBsSwWdD]|\(\?|\[\^|\\\.")
_PATTERN_CALLS = {"compile", "search", "match", "sub", "split", "fullmatch", "findall"}
_SQL_CALLS = {"text", "execute", "exec_driver_sql"}  # SQL, not prose
_ENDS = re.compile(r"[.!?]\s*$")

# Operator-facing, not sent to people: command lines, configuration, and migrations.
_OPERATOR_FILES = {"cli.py", "config.py"}
_OPERATOR_SUFFIXES = ("_cli.py",)

# (file, text) pairs that look like sentences but are not sent to a person, each with why.
ALLOWED: dict[tuple[str, str], str] = {}


def looks_like_sentence(text: str) -> bool:
    """Prose a person would read: 'Please fill this in.' yes; 'home_title', 'a b' no."""
    text = text.strip()
    if " " not in text or _REGEX.search(text) or ("\n" in text.strip("\n") and "{" in text):
        return False
    words = text.split()
    if _ENDS.search(text) and len(words) >= 2:
        return True
    return text[:1].isupper() and len(words) >= 3 and text[:1].isalpha()


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """ids of string nodes excluded by rule: docstrings, log calls, raises, exceptions."""
    skip: set[int] = set()

    def mark(node: ast.AST) -> None:
        for sub in ast.walk(node):
            skip.add(id(sub))

    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                mark(body[0])
        elif isinstance(node, ast.Raise | ast.Assert):
            mark(node)
        elif isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in _LOG_METHODS
                and isinstance(func.value, ast.Name)
                and func.value.id in _LOGGERS
            ):
                mark(node)
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name.endswith(("Error", "Exception", "Invalid")):
                mark(node)
            if name in _PATTERN_CALLS or name in _SQL_CALLS:
                mark(node)
    return skip


def sentences_in(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _skipped_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, ast.Constant):
            continue
        if isinstance(node.value, str) and looks_like_sentence(node.value):
            found.append((node.lineno, node.value))
    return found


def _scanned() -> list[Path]:
    return [
        p
        for p in sorted(BOT.rglob("*.py"))
        if "migrations" not in p.parts
        and p.name not in _OPERATOR_FILES
        and not p.name.endswith(_OPERATOR_SUFFIXES)
    ]


def test_the_rule_sees_sentences_and_ignores_patterns() -> None:
    assert looks_like_sentence("Please fill this in.")
    assert looks_like_sentence("Your careers service: ")
    assert not looks_like_sentence(r"\bsuicid(e|al)\b")
    assert not looks_like_sentence("home_title")
    assert not looks_like_sentence("opt:")


def test_no_sentence_for_people_is_written_in_python() -> None:
    found = []
    for path in _scanned():
        rel = path.relative_to(BOT.parent).as_posix()
        for line, text in sentences_in(path):
            if (rel, text) not in ALLOWED:
                found.append(f"{rel}:{line}: {text[:70]!r}")
    assert not found, "move these to flows/_messages.yaml:\n" + "\n".join(found)
