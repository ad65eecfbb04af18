"""The name a person signs their emails with, and is greeted by.

Slack and Discord tell us a display name (Slack's ``users.info`` profile, Discord's global
name); that is only ever offered as the default. The name that goes under an email is the one
the person chose, asked once, the first time a draft needs it, and changeable in ``settings``.
It is stored on the user row, so export includes it and forget deletes it with the row.
"""

from __future__ import annotations

import re

from bot.conversation.context import TurnContext
from bot.conversation.registry import action, condition
from bot.storage.models import User

NAME_LIMIT = 80  # users.sign_name is String(80)
NAME_WORDS = 6  # longer is a sentence, not a name
_QUOTES = "\"'“”‘’`"


def sign_name(user: User) -> str | None:
    """The name to sign with: the person's choice, else what their platform calls them."""
    return user.sign_name or user.display_name or None


def clean_name(text: str) -> str:
    """'  "Sam   Lee" ' -> 'Sam Lee': what a person typed, tidied, never rewritten."""
    name = re.sub(r"\s+", " ", text).strip().strip(_QUOTES).strip()
    return name[:NAME_LIMIT].rstrip()


@action("describe_sign_name", provides=["default_name", "default_known", "sign_name", "sign_known"])
def describe_sign_name(ctx: TurnContext) -> None:
    ctx.slots["default_name"] = ctx.user.display_name or ""
    ctx.slots["default_known"] = "yes" if has_default_name(ctx) else "no"
    ctx.slots["sign_name"] = ctx.user.sign_name or ""
    ctx.slots["sign_known"] = "yes" if ctx.user.sign_name else "no"


@condition("has_sign_name")
def has_sign_name(ctx: TurnContext) -> bool:
    return bool(ctx.user.sign_name)


@condition("has_default_name")
def has_default_name(ctx: TurnContext) -> bool:
    """A platform name to offer as a button (and not already the one chosen)."""
    default = ctx.user.display_name or ""
    return bool(default) and default != ctx.user.sign_name


@action("keep_default_sign_name", provides=["sign_name"])
def keep_default_sign_name(ctx: TurnContext) -> None:
    if ctx.user.display_name:
        ctx.user.sign_name = clean_name(ctx.user.display_name) or None
    ctx.slots["sign_name"] = ctx.user.sign_name or ""


def looks_like_a_name(text: str) -> bool:
    """'Dr María de la Cruz' yes; 'why do you need that?' or '42' no: a question or a
    sentence typed here is asked again rather than put under an email."""
    return (
        0 < len(text.split()) <= NAME_WORDS
        and "?" not in text
        and sum(c.isalpha() for c in text) >= 2
    )


@action("save_sign_name", provides=["sign_name"])
def save_sign_name(ctx: TurnContext) -> None:
    """Store what they typed; a skipped answer stores nothing (the draft keeps a blank), and
    something that isn't a name is refused (the flow asks again)."""
    typed = clean_name(str(ctx.slots.pop("sign_name_typed", None) or ""))
    ctx.slots["_sign_refused"] = bool(typed) and not looks_like_a_name(typed)
    if typed and not ctx.slots["_sign_refused"]:
        ctx.user.sign_name = typed
    ctx.slots["sign_name"] = ctx.user.sign_name or ""


@condition("sign_name_refused")
def sign_name_refused(ctx: TurnContext) -> bool:
    return bool(ctx.slots.get("_sign_refused"))
