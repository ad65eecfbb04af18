"""Golden transcripts: one file format, run by every adapter's driver.

A transcript is a plain text file of the person's lines and what the bot must say back::

    # A title line starting with '#'
    > hi                      the person types "hi"
    > [Yes, that's right]     the person presses the button labelled so
    > {company=Acme; role=Data analyst}   the person submits the form that is open
    < all set                 some reply contains this text (case-insensitive)
    < [Log an interview]      some reply offers this choice
    <! something went wrong   no reply contains this text
    @now 2026-11-30 09:00     the clock jumps to this local time (drivers that support it)
    @deliver                  the reminder scheduler runs one pass now; what it sends this person
                              is checked by the ``<`` lines that follow, like a reply

Expectations after a ``>`` line are checked against the replies to that line only. A driver is
anything with ``text(str)``, ``press(label)``, ``form(dict)`` and optionally ``set_now(str)`` and
``deliver()`` (run due reminders; every driver has it, a transcript using ``@deliver`` fails
on one without), each
returning the neutral replies the person would see (Slack and Discord drivers parse their
platform's output back into :class:`~bot.conversation.messages.Reply`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bot.conversation.messages import Reply

TRANSCRIPTS = Path(__file__).resolve().parent / "transcripts"


class Driver(Protocol):
    def text(self, text: str) -> list[Reply]: ...
    def press(self, label: str) -> list[Reply]: ...
    def form(self, values: dict[str, str]) -> list[Reply]: ...


@dataclass
class Step:
    line_no: int
    kind: str  # "text", "press", "form", "now", "deliver"
    value: str
    expect: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, text, line)


def parse(path: Path) -> list[Step]:
    steps: list[Step] = []
    for no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@now "):
            steps.append(Step(no, "now", line[5:].strip()))
        elif line == "@deliver":
            steps.append(Step(no, "deliver", ""))
        elif line.startswith("> "):
            value = line[2:]
            if value.startswith("[") and value.endswith("]"):
                steps.append(Step(no, "press", value[1:-1]))
            elif value.startswith("{") and value.endswith("}"):
                steps.append(Step(no, "form", value[1:-1]))
            else:
                steps.append(Step(no, "text", value))
        elif line.startswith("<! "):
            steps[-1].expect.append(("absent", line[3:].strip(), no))
        elif line.startswith("< "):
            value = line[2:].strip()
            if value.startswith("[") and value.endswith("]"):
                steps[-1].expect.append(("choice", value[1:-1], no))
            else:
                steps[-1].expect.append(("text", value, no))
        elif line == ">":
            steps.append(Step(no, "text", ""))
        else:
            raise ValueError(f"{path.name}:{no}: cannot read line {line!r}")
    return steps


def parse_form(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in value.split(";"):
        if part.strip():
            key, _, val = part.partition("=")
            out[key.strip()] = val.strip()
    return out


def describe(replies: list[Reply]) -> str:
    lines = []
    for reply in replies:
        lines.append(f"  | {reply.text}")
        lines.extend(f"  |   [{c.label}]" for c in reply.choices)
        if reply.form:
            lines.append(f"  |   form {reply.form.id}: {[f.id for f in reply.form.fields]}")
    return "\n".join(lines) or "  | (no reply)"


def run(path: Path, driver: Driver) -> None:
    """Play a transcript through a driver; raise AssertionError at the first mismatch."""
    for step in parse(path):
        if step.kind == "now":
            driver.set_now(step.value)  # type: ignore[attr-defined]
            continue
        if step.kind == "deliver":
            assert hasattr(driver, "deliver"), f"{type(driver).__name__} has no deliver()"
            replies = driver.deliver()  # type: ignore[attr-defined]
        elif step.kind == "press":
            replies = driver.press(step.value)
        elif step.kind == "form":
            replies = driver.form(parse_form(step.value))
        else:
            replies = driver.text(step.value)
        texts = " ".join(r.text for r in replies).lower()
        labels = {c.label.lower() for r in replies for c in r.choices}
        for kind, expected, no in step.expect:
            wanted = expected.lower()
            if kind == "text":
                ok = wanted in texts
            elif kind == "absent":
                ok = wanted not in texts
            else:
                ok = wanted in labels
            if not ok:
                raise AssertionError(
                    f"{path.name}:{no}: expected {kind} {expected!r} after line {step.line_no} "
                    f"({step.kind} {step.value!r}); the bot said:\n{describe(replies)}"
                )


def all_transcripts() -> list[Path]:
    return sorted(TRANSCRIPTS.glob("*.txt"))
