"""A form longer than Discord's five inputs is filled in two modals, through a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.conversation.engine import Engine
from bot.storage.db import Database
from tests.behaviour import production

from .conftest import Clock, copy_system_files
from .fakes.discord_driver import DiscordDriver, DiscordHarness

FLOW_FILES = {
    "welcome.yaml": """
name: welcome
title: First hello
start: hello
states:
  hello:
    say: "Welcome."
    end: true
""",
    "home.yaml": """
name: home
title: Menu
start: menu
states:
  menu:
    say: "Menu."
    choices:
      - {id: long, label: Long form, to: "@longform"}
""",
    "longform.yaml": """
name: longform
title: Seven questions
commands: [long]
start: ask
states:
  ask:
    say: "Seven questions, please."
    form:
      id: seven
      title: Seven questions
      fields:
        - {id: f1, label: One}
        - {id: f2, label: Two}
        - {id: f3, label: Three}
        - {id: f4, label: Four, kind: long_text}
        - {id: f5, label: Five}
        - {id: f6, label: Six, required: false}
        - id: f7
          label: Seven
          kind: choice
          options: [{id: red, label: Red}, {id: blue, label: Blue}]
      to: done
  done:
    say: "Got {f1} {f2} {f3} {f4} {f5} [{f6}] {f7}."
    end: true
""",
}

ANSWERS = {"f1": "a", "f2": "b", "f3": "c", "f4": "d", "f5": "e", "f6": "", "f7": "blue"}


@pytest.fixture
def harness(db: Database, tmp_path: Path, clock: Clock) -> Iterator[DiscordHarness]:
    folder = tmp_path / "flows"
    folder.mkdir()
    copy_system_files(folder)
    for name, text in FLOW_FILES.items():
        (folder / name).write_text(text)
    settings = load_settings(None, flows_dir=str(folder), data_dir=str(tmp_path / "out"))
    h = DiscordHarness(Engine(db, settings, production(), clock=clock))
    yield h
    h.close()


def test_seven_fields_take_two_modals_and_arrive_together(harness: DiscordHarness) -> None:
    person = DiscordDriver(harness)
    person.text("hi")
    person.text("long")
    first = person.open_form()
    assert first is not None and first["title"] == "Seven questions (1/2)"
    assert [c["component"]["custom_id"] for c in first["components"]] == [
        "f1",
        "f2",
        "f3",
        "f4",
        "f5",
    ]
    assert first["components"][3]["component"]["style"] == 2  # long text: a paragraph input
    message, _ = person._form_button()
    between = person.submit_form(first, message, ANSWERS)
    assert [r.text for r in between] == ["Seven questions (2/2)"]
    assert between[0].form is not None  # the button for part two
    shown = person.calls[-1].result
    assert shown is not None
    assert [(f["name"], f["value"]) for f in shown["embeds"][0]["fields"]][:2] == [
        ("One", "a"),
        ("Two", "b"),
    ]

    harness.restart()  # what was entered so far lives in the message, not in memory
    second = person.open_form()
    assert second is not None and second["title"] == "Seven questions (2/2)"
    kinds = [c["component"]["type"] for c in second["components"]]
    assert kinds == [4, 3]  # a text input, then a select menu for the choice field
    message, _ = person._form_button()
    replies = person.submit_form(second, message, ANSWERS)
    assert "Got a b c d e [] blue." in " ".join(r.text for r in replies)


def test_driver_form_helper_walks_every_part(harness: DiscordHarness) -> None:
    person = DiscordDriver(harness)
    person.text("hi")
    person.text("long")
    replies = person.form({**ANSWERS, "f6": "six"})
    assert "Got a b c d e [six] blue." in " ".join(r.text for r in replies)


def test_second_part_of_an_outdated_form_is_refused_by_the_engine(
    harness: DiscordHarness,
) -> None:
    person = DiscordDriver(harness)
    person.text("hi")
    person.text("long")
    first = person.open_form()
    assert first is not None
    message, _ = person._form_button()
    person.submit_form(first, message, ANSWERS)
    continue_at = person.last_sent
    person.text("menu")  # the person moves on before part two
    person.last_sent = continue_at
    assert person.open_form() is None  # no modal for a step that is over
    assert "belongs to an earlier message" in " ".join(r.text for r in person.last)
