"""The terminal adapter: a real adapter like Slack's and Discord's, only its UI is plain text.

Choices are numbered (answer with the number or the words), forms are asked one field at a
time, images are saved files whose path is printed. When standard input is not a terminal it
reads one line per turn, so a conversation can be scripted: ``printf 'hi\\n1\\n' | rebound chat``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import TextIO

from bot.conversation.messages import Field, Form, Inbound, Reply, UserKey
from bot.platforms.terminal.convert import (
    PLATFORM,
    field_prompt,
    form_to_inbound,
    is_global_word,
    keep_or,
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
        goodbye: str = "",
        concerning: Callable[[str], bool] | None = None,
    ) -> None:
        self.handle = handle
        # The engine's crisis screen: a field answer that raises it is sent at once, as a
        # message of its own, instead of being held until the form's last field.
        self.concerning = concerning
        self.goodbye = goodbye  # said after /quit (``console_bye`` in _messages.yaml)
        self.user = user
        self.stdin = stdin
        self.stdout = stdout
        self.interactive = stdin.isatty() if interactive is None else interactive
        self._lines = self._read_lines()
        self._last: Reply | None = None
        # The form being asked field by field: (form, its step token, the answers so far).
        self._filling: tuple[Form, str | None, dict[str, str]] | None = None

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
        """Print replies; the last one is what the next line answers (a reminder's too)."""
        for reply in replies:
            self.write(to_text(reply))
            self.write("")
        if replies:
            self._last = replies[-1]
        return replies[-1] if replies else None

    def run(self, opening: list[Reply]) -> None:
        self.start(opening)
        for line in self._lines:
            if line.strip().lower() in ("/quit", "/exit"):
                break
            self.feed(line)
        if self.goodbye:
            self.write(self.goodbye)

    def start(self, opening: list[Reply]) -> None:
        """Show where the person is (their first hello, or the current question)."""
        self.show(opening)

    def feed(self, line: str) -> None:
        """One line the person typed: an answer to a form field, or a turn of its own.

        A form is asked one field at a time and submitted whole after its last field. A global
        word (``main menu``, ``start over``...) typed at the first field is not an answer: it
        goes to the engine like anywhere else, as on Slack and Discord. A field answer that the
        crisis screen flags is never held as an answer: the form is dropped and the line goes to
        the engine at once, which answers it with care.
        """
        if (self._filling is not None or (self._last is not None and self._last.form)) and (
            self.concerning is not None and self.concerning(line)
        ):
            self._filling = None
            self.show(self.handle(to_inbound(self.user, line)))
            return
        if self._filling is not None:
            form, token, values = self._filling
            asked = form.fields[len(values)]
            values[asked.id] = keep_or(line, asked)
            if len(values) < len(form.fields):
                self._ask(form.fields[len(values)])
                return
            self._filling = None
            inbound = form_to_inbound(self.user, values, token)
        elif self._last is not None and self._last.form is not None and not is_global_word(line):
            form = self._last.form
            line = keep_or(line, form.fields[0])
            self._filling = (form, self._last.token, {form.fields[0].id: line})
            if len(form.fields) > 1:
                self._ask(form.fields[1])
                return
            self._filling = None
            inbound = form_to_inbound(self.user, {form.fields[0].id: line}, self._last.token)
        else:
            inbound = to_inbound(self.user, line)
        self.show(self.handle(inbound))

    def _ask(self, field: Field) -> None:
        self.write(field_prompt(field))
