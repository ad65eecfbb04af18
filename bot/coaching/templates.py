"""The email drafts Rebound writes for people (``flows/_templates.yaml``), read and checked.

The wording is data like every other sentence Rebound says; what code decides is only which
template and which values. The file is validated by ``rebound flows check`` with the same
model that reads it here, so a misspelt key or a placeholder a template cannot fill is caught
before anyone gets a draft with a hole in it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field

from bot.coaching.themes import THEME_NAMES
from bot.conversation.context import TurnContext
from bot.conversation.flow_loader import load_yaml
from bot.conversation.flow_spec import NonEmpty, Strict, one_of, template
from bot.conversation.registry import data_file

FILE = "_templates.yaml"


_EMAIL = ("greeting", "role", "company", "asks", "name")


class FeedbackEmail(Strict):
    text: Annotated[str, template(*_EMAIL)]
    always_ask: tuple[NonEmpty, ...] = ()  # asked every time, before the person's own points
    if_none: tuple[NonEmpty, ...] = ()  # asked when the person gave no points


# A suggested question is a button label: Slack's limit for button text.
QUESTION_LIMIT = 75
Question = Annotated[NonEmpty, Field(max_length=QUESTION_LIMIT)]


class ReplyCue(Strict):
    words: tuple[NonEmpty, ...]  # any of these in the employer's reply (lower case)
    ask: Question


class Suggestions(Strict):
    """Specific questions to offer someone deciding what to ask an employer."""

    from_reply: tuple[ReplyCue, ...] = ()
    themes: dict[Annotated[str, one_of(THEME_NAMES, "theme")], Question] = Field(
        default_factory=dict
    )
    off_guard: Annotated[str, template("question"), Field(max_length=QUESTION_LIMIT)] = ""
    general: tuple[Question, ...] = ()


class Templates(Strict):
    greeting_named: Annotated[str, template("interviewer")]
    greeting: Annotated[str, template()]
    unnamed: Annotated[str, template()]
    some_company: Annotated[str, template()]
    some_role: Annotated[str, template()]
    feedback_first: FeedbackEmail
    feedback_second: FeedbackEmail
    follow_up: Annotated[str, template("greeting", "role", "company", "name")]
    suggestions: Suggestions = Suggestions()


data_file(FILE, Templates)


@lru_cache(maxsize=4)
def _read(path: Path, mtime: float) -> Templates:
    return Templates.model_validate(load_yaml(path))


def templates(ctx: TurnContext) -> Templates:
    path = Path(ctx.settings.flows_dir) / FILE
    return _read(path, path.stat().st_mtime)


def greeting(words: Templates, interviewer: str | None) -> str:
    return words.greeting_named.format(interviewer=interviewer) if interviewer else words.greeting
