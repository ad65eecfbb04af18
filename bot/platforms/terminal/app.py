"""The terminal adapter: a real adapter like Slack's and Discord's, only its UI is plain text.

Choices are numbered (answer with the number or the words), forms are asked one field at a
time, images are saved files whose path is printed. When standard input is not a terminal it
reads one line per turn, so a conversation can be scripted: ``printf 'hi\\n1\\n' | rebound chat``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import TextIO

from bot.conversation.messages import Form, Inbound, Reply, UserKey
from bot.platforms.terminal.convert import (
    PLATFORM,
    form_to_inbound,
    is_global_word,
    to_inbound,
    to_text,
    user_key,
)

__all__ = ["PLATFORM", "Console", "to_text", "user_key"]

class Console:
    """Runs one person's conversation over a pair of text streams."""

    def __init__(
        self,
        handle: Callable[[Inbound], list[Reply]],
        user: UserKey,
        stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout,
        interactive: bool | None = None,
    ) -> None:
        self.handle = handle
        self.user = user
        self.stdin = stdin
        self.stdout = stdout
        self.interactive = stdin.isatty() if interactive is None else interactive
        self._lines = self._read_lines()

    def _read_lines(self) -> Iterator[str]:
        while True:
            if self.interactive:
                try:
                    yield input("you> ")
                except EOFError:
                    return
            else:
                line = self.stdin.readline()
                if not line:
                    return
                line = line.rstrip("\n")
                self.write(f"you> {line}")
                yield line

    def write(self, text: str) -> None:
        print(text, file=self.stdout, flush=True)

    def show(self, replies: list[Reply]) -> Reply | None:
        for reply in replies:
            self.write(to_text(reply))
            self.write("")
        return replies[-1] if replies else None

    def run(self, opening: list[Reply]) -> None:
        last = self.show(opening)
        for line in self._lines:
            if line.strip().lower() in ("/quit", "/exit"):
                break
            if last is not None and last.form is not None and not is_global_word(line):
                inbound = self._fill_form(last.form, last.token, first=line)
                if inbound is None:
                    break
            else:
                inbound = to_inbound(self.user, line)
            last = self.show(self.handle(inbound))
        self.write("Bye for now. Your progress is saved.")

    def _fill_form(self, form: Form, token: str | None, first: str) -> Inbound | None:
        """Ask each field in turn; the line already typed answers the first field."""
        values: dict[str, str] = {}
        for index, field in enumerate(form.fields):
            if index == 0:
                values[field.id] = first
                continue
            hint = "" if field.required else " (optional, Enter to skip)"
            self.write(f"{field.label}{hint}:")
            answer = next(self._lines, None)
            if answer is None:
                return None
            values[field.id] = answer
        return form_to_inbound(self.user, values, token)
