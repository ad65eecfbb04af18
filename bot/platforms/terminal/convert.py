"""Terminal text to and from the neutral messages: numbered choices, one form field at a time."""

from __future__ import annotations

from bot.conversation.inputs import normalise_command
from bot.conversation.messages import Field, Form, Inbound, Reply, UserKey
from bot.conversation.words import GLOBAL_WORDS

PLATFORM = "terminal"
WORKSPACE = "local"


def user_key(name: str) -> UserKey:
    return UserKey(platform=PLATFORM, workspace=WORKSPACE, user_id=name)


def is_global_word(line: str) -> bool:
    """True for the words that work at every step (``help``, ``main menu``, ``start over``...).

    The list is the core's own, so a word that leaves a form on Slack and Discord leaves it here
    too instead of becoming the answer to the form's first field."""
    return normalise_command(line) in GLOBAL_WORDS


def to_inbound(user: UserKey, line: str) -> Inbound:
    """A typed line."""
    return Inbound(user=user, text=line)


def form_to_inbound(user: UserKey, values: dict[str, str], token: str | None) -> Inbound:
    """The answers to a form's fields, submitted together like a modal."""
    return Inbound(user=user, form=values, token=token)


def to_text(reply: Reply) -> str:
    """Render one reply as terminal text: the message, then numbered choices."""
    lines = [reply.text]
    for field_id, error in reply.errors.items():
        lines.append(f"  ! {field_id}: {error}")
    for number, choice in enumerate(reply.choices, start=1):
        lines.append(f"  {number}. {choice.label}")
    if reply.image is not None:
        lines.append(f"  [picture saved to {reply.image.path}]")
    if reply.file is not None:
        lines.append(f"  [file saved to {reply.file}]")
    if reply.form is not None and reply.form.fields:
        lines.append(form_prompt(reply.form))
    return "\n".join(lines)


def form_prompt(form: Form) -> str:
    return field_prompt(form.fields[0])


_KEEP = frozenset({"", "y", "yes", "ok", "okay", "yep", "yeah", "correct", "right", "keep"})


def keep_or(line: str, fld: Field) -> str:
    """A field's answer: Enter (or a plain "yes") keeps the value it was offered with."""
    if fld.value and line.strip().lower().strip(".!") in _KEEP:
        return fld.value
    return line


def field_prompt(fld: Field) -> str:
    """``Company [Stripe] (Enter keeps it):`` when a value is known, else ``Company:``."""
    if fld.value:
        return f"{fld.label} [{fld.value}] (Enter keeps it):"
    hint = "" if fld.required else " (optional, Enter to skip)"
    return f"{fld.label}{hint}:"
