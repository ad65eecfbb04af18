"""The transcript driver for the terminal adapter: the real ``Console`` over text streams.

Each step types a line into :class:`~bot.platforms.terminal.app.Console` (a button press is
its number, a form is its fields typed one by one in the order the console asks for them) and
reads what the console printed back into neutral replies: numbered lines are choices, the rest
is text. ``@deliver`` runs a scheduler pass with the terminal's own sender, printing into the
same console, as ``rebound chat`` does.
"""

from __future__ import annotations

import io
import re

from bot.conversation.engine import Engine
from bot.conversation.messages import Choice, Form, Inbound, Reply, UserKey
from bot.platforms.terminal.app import Console
from bot.platforms.terminal.send import ConsoleSender

CHOICE = re.compile(r"^  (\d+)\. (.*)$")


class TerminalDriver:
    def __init__(self, engine: Engine, user: UserKey, clock: object | None = None) -> None:
        self.engine = engine
        self.user = user
        self.clock = clock
        self.out = io.StringIO()
        self._form: Form | None = None
        self.console = Console(
            self._handle, user, io.StringIO(""), self.out, interactive=False,
            concerning=engine.concerning,
        )
        self.console.start([])
        self.last: list[Reply] = []

    def _handle(self, inbound: Inbound) -> list[Reply]:
        replies = self.engine.handle(inbound)
        forms = [r.form for r in replies if r.form is not None]
        self._form = forms[-1] if forms else None
        return replies

    def _printed_since(self, mark: int) -> list[Reply]:
        """The console's output since ``mark`` as replies: blank lines separate messages."""
        replies: list[Reply] = []
        for block in self.out.getvalue()[mark:].split("\n\n"):
            lines = [line for line in block.splitlines() if line.strip()]
            if not lines:
                continue
            choices = [CHOICE.match(line) for line in lines]
            labels = tuple(Choice(m[1], m[2]) for m in choices if m)
            text = "\n".join(line for line, m in zip(lines, choices, strict=True) if not m)
            replies.append(Reply(text=text, choices=labels))
        if replies:
            self.last = replies
        return replies

    def text(self, text: str) -> list[Reply]:
        mark = len(self.out.getvalue())
        self.console.feed(text)
        return self._printed_since(mark)

    def press(self, label: str) -> list[Reply]:
        for reply in reversed(self.last):
            for choice in reply.choices:
                if choice.label.lower() == label.lower():
                    return self.text(choice.id)  # the number shown beside it
        raise AssertionError(f"no numbered choice {label!r} in the last output")

    def form(self, values: dict[str, str]) -> list[Reply]:
        form = self._form
        assert form is not None, "no form is being asked"
        mark = len(self.out.getvalue())
        for field in form.fields:
            asked = self.out.getvalue()[mark:] if field is not form.fields[0] else ""
            assert field is form.fields[0] or field.label in asked, f"not asked for {field.label}"
            mark = len(self.out.getvalue())
            self.console.feed(values.get(field.id, ""))
        return self._printed_since(mark)

    def set_now(self, text: str) -> None:
        self.clock.set(text)  # type: ignore[attr-defined]

    def deliver(self) -> list[Reply]:
        from bot.reminders.scheduler import ReminderScheduler

        mark = len(self.out.getvalue())
        sender = ConsoleSender(self.console.write, self.user, show=self.console.show)
        ReminderScheduler(self.engine, {sender.platform: sender}).run_pending()
        return self._printed_since(mark)
