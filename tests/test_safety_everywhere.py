"""Every must-catch message, typed into every kind of prompt, on every driver, gets the full
crisis reply and is stored nowhere (issue 22, item 1).

The prompts: the menu, a choice (how are you feeling), the 1-5 scale, a form field (the
rejection's Company), a debrief answer, a reflection answer, an own plan action, the
sign-name question, a pasted employer reply and a settings input. The drivers: the engine, the
terminal's Console (which holds form fields until the last one: a flagged field is sent at
once instead), Slack over HTTP (answering in the request and through the durable inbox) and
Discord, each against its fake platform. After the messages, every row of every table is read
back and none holds any of their words.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.conversation.messages import Reply, UserKey
from bot.storage.models import Base

from .conftest import Clock
from .test_transcripts import DRIVERS
from .transcript import Step, parse

DATA = Path(__file__).resolve().parent / "data"
CRISIS_MARK = "I'm only a coaching bot"  # in flows/_messages.yaml `crisis`


def must_catch() -> list[str]:
    """Issue 22's must-catch lists (both splits): each gets the full crisis reply."""
    texts: list[str] = []
    for path in sorted((DATA / "safety").glob("crisis_*.yaml")):
        texts += [str(t) for t in (yaml.safe_load(path.read_text()) or {}).get("must_catch", [])]
    return list(dict.fromkeys(texts))


def caught_before() -> list[str]:
    """The earlier set's must-catch list (tests/data/understanding/crisis.yaml): the full reply
    or the gentle check ("I can't do this anymore" is rightly asked about first)."""
    old = yaml.safe_load((DATA / "understanding" / "crisis.yaml").read_text())
    return [i["text"] for i in old["must_catch"] if i["text"] not in must_catch()]


CHECK_MARK = "Are you safe right now?"  # flows/_messages.yaml `safety_check`


MENU = "> hi\n> [Yes, that's right]\n"
REJECTION = MENU + "> rejected\n> {company=Hooli; role=Engineer}\n> [Second round]\n"
# Lines that bring a new person to the prompt; the last step's replies show the prompt.
PROMPTS: dict[str, tuple[str, str]] = {
    "menu": (MENU, "What would you like to do?"),
    "choice": (REJECTION, "How are you feeling"),
    "scale": (REJECTION + "> [Frustrated]\n", "how strongly"),
    "form_field": (MENU + "> rejected\n", "Which company and role"),
    "debrief": (
        MENU + "> log\n> {company=Alpha; role=Analyst; when=today 9am}\n> [Final round]\n"
        "> {interviewer=; decision_by=}\n> [Yes, debrief now]\n> [Not great]\n",
        "",
    ),
    "reflection": (
        REJECTION + "> [Frustrated]\n> 2\n> [I'm ready for the practical side]\n"
        "> [Skip this step]\n",
        "what did they ask you?",
    ),
    "plan_action": (MENU + "> plan\n> [Something of my own]\n", "What's the action?"),
    "sign_name": (
        MENU + "> log\n> {company=Umbrella; role=Research assistant; when=today 8am}\n"
        "> [Second round]\n> {interviewer=; decision_by=}\n> [Not now]\n> feedback\n"
        "> [Research assistant at Umbrella]\n> [Draft it with me]\n> skip\n> skip\n",
        "Which name should I sign",
    ),
    "employer_reply": (
        MENU + "> log\n> {company=Initech; role=Data analyst; when=today 8am}\n"
        "> [First round]\n> {interviewer=Priya Shah; decision_by=2026-11-20}\n> [Not now]\n"
        "> rejected\n> [Data analyst at Initech]\n> [Disappointed]\n> 3\n"
        "> [I'm ready for the practical side]\n> [Draft it with me]\n> skip\n> Sam Okafor\n"
        "> [I've sent it]\n> stop\n> feedback reply\n> [Initech (23 Nov)]\n"
        "> [Yes, but it was vague]\n",
        "What did they write?",
    ),
    "settings": (MENU + "> settings\n> [Quiet hours]\n", "From what time"),
}


def walk(driver: Any, script: str, tmp_path: Path) -> list[Reply]:
    path = tmp_path / "walk.txt"
    path.write_text(script)
    replies: list[Reply] = []
    for step in parse(path):
        replies = play(driver, step)
    return replies


def play(driver: Any, step: Step) -> list[Reply]:
    if step.kind == "text":
        return driver.text(step.value)
    if step.kind == "press":
        return driver.press(step.value)
    assert step.kind == "form"
    values = dict(
        (k.strip(), v.strip()) for k, _, v in (p.partition("=") for p in step.value.split(";"))
    )
    return driver.form(values)


def said(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def stored(engine: Engine) -> str:
    """Every value of every row of every table, as one lower-case text."""
    out = []
    with engine.db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                out.append(" ".join(str(v) for v in row))
    return "\n".join(out).lower()


def words_of(text: str) -> str:
    """A distinctive stretch of the message as it would be stored (JSON escapes aside)."""
    plain = re.sub(r"[^a-z ]", " ", text.lower())
    longest = max(re.split(r"\s{2,}", plain), key=len).strip()
    return longest[:40]


def type_into(driver: Any, prompt: str, text: str, n: int = 0) -> list[Reply]:
    if prompt == "form_field" and hasattr(driver, "console"):
        # The terminal asks one field at a time: the Company field, or (every other message)
        # the Role field after a company was typed.
        if n % 2:
            driver.text("Hooli")
        return driver.text(text)
    if prompt == "form_field":
        return driver.form({"company": text, "role": "Engineer"} if n % 2 == 0 else
                           {"company": "Hooli", "role": text})
    return driver.text(text)


@pytest.mark.parametrize("prompt", PROMPTS)
@pytest.mark.parametrize("driver", [d for d in DRIVERS if d != "engine"])
def test_every_must_catch_message_in_every_prompt_on_every_adapter(
    driver: str, prompt: str, engine: Engine, alice: UserKey, clock: Clock, tmp_path: Path
) -> None:
    """The adapters' own paths: Slack and Discord modal fields, the terminal's held fields."""
    script, shown = PROMPTS[prompt]
    messages = must_catch()
    missed = []
    earlier = caught_before()
    with DRIVERS[driver](engine, alice, clock) as playing:
        there = walk(playing, script, tmp_path)
        assert shown.lower() in said(there).lower(), (prompt, said(there))
        replies: list[Reply] = []
        for n, text in enumerate(messages + earlier):
            if CHECK_MARK in said(replies):
                playing.press("Yes, I'm safe")  # answered, so the next message is read afresh
            if prompt == "form_field" and n:
                walk(playing, "> rejected\n", tmp_path)  # the form again, from the crisis reply
            replies = type_into(playing, prompt, text, n)
            marks = (CRISIS_MARK,) if n < len(messages) else (CRISIS_MARK, CHECK_MARK)
            if not any(mark in said(replies) for mark in marks):
                missed.append((text, said(replies)[:120]))
    assert missed == []
    kept = stored(engine)
    assert [t for t in messages + earlier if words_of(t) and words_of(t) in kept] == []


@pytest.mark.parametrize("prompt", PROMPTS)
def test_every_must_catch_message_at_each_prompt_on_the_engine(
    prompt: str, engine: Engine, clock: Clock, tmp_path: Path
) -> None:
    """All of them, typed one after another at the same prompt (each gets the full reply;
    the person stays where they were)."""
    from .conftest import EngineDriver

    script, shown = PROMPTS[prompt]
    chat = EngineDriver(engine, UserKey("terminal", "local", "eve"), clock)
    there = walk(chat, script, tmp_path)
    assert shown.lower() in said(there).lower()
    missed = []
    for text in must_catch():
        replies = type_into(chat, prompt, text)
        if CRISIS_MARK not in said(replies):
            missed.append(text)
    for text in caught_before():
        replies = type_into(chat, prompt, text)
        if CRISIS_MARK not in said(replies) and CHECK_MARK not in said(replies):
            missed.append(text)
    assert missed == []
    kept = stored(engine)
    everything = must_catch() + caught_before()
    assert [t for t in everything if words_of(t) and words_of(t) in kept] == []
