"""Logging that never carries a person's words or a token, at any level.

Our own code logs ids and outcomes only. The SDKs do not: at INFO, Bolt logs the whole body of
a request whose signature is wrong (and of an unhandled one, at WARNING); at DEBUG, slack_sdk
logs every Web API request and response (the text of each message sent), Socket Mode logs each
envelope, and discord.py logs each gateway event and REST payload. Those bodies are a person's
own words, so for records from these libraries everything from the first payload onwards (a
``{``, a list of values, or ``body:``, ``data:``, ``text=`` and the like) is cut off; the
heading before it ("Sending a request - url: POST .../chat.postMessage") stays, which is what
an operator needs. Tokens are masked in every record, ours included.

The filters sit on the root logger's handlers, because a filter on a logger does not see the
records of its child loggers; :func:`install` runs wherever logging is configured.
"""

from __future__ import annotations

import logging
import re

TOKEN = re.compile(r"\b(xox[a-z]|xapp)-[A-Za-z0-9-]+")
# Discord: an interaction's token is the secret part of its callback and webhook URLs
# (``/interactions/<id>/<token>/callback``, ``/webhooks/<app id>/<token>/messages/@original``),
# which discord.py logs at DEBUG on every answer; and a bot token, should one ever be printed.
DISCORD_URL_TOKEN = re.compile(r"(/(?:interactions|webhooks)/\d+/)[^/\s?\"']+")
DISCORD_BOT_TOKEN = re.compile(r"\b[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,}")
LIBRARIES = ("slack_bolt", "slack_sdk", "slack", "discord", "aiohttp", "websockets")
_PAYLOAD = re.compile(
    r"""\{|\[\s*[{'"]|\b(?:body|data|json|payload|params|files|message|content|text|blocks)\s*[:=]""",
    re.IGNORECASE,
)
REDACTED = "… (rest redacted: it may hold a person's words)"


def from_library(name: str) -> bool:
    return any(name == lib or name.startswith(lib + ".") for lib in LIBRARIES)


def without_payload(message: str) -> str:
    """``"Sending a request - url: POST x, data: {'text': ...}"`` -> the part before ``data:``."""
    cut = _PAYLOAD.search(message)
    if cut is None:
        return message
    return f"{message[: cut.start()].rstrip()} {REDACTED}"


class RedactPayloads(logging.Filter):
    """Cuts request and message bodies out of the Slack and Discord libraries' records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if from_library(record.name):
            message = record.getMessage()
            kept = without_payload(message)
            if kept != message:
                record.msg, record.args = kept, None
        return True


def without_tokens(message: str) -> str:
    """Slack tokens, Discord interaction tokens (in URLs) and Discord bot tokens, masked."""
    message = TOKEN.sub(r"\1-(redacted)", message)
    message = DISCORD_URL_TOKEN.sub(r"\1(redacted)", message)
    return DISCORD_BOT_TOKEN.sub("(redacted)", message)


class RedactTokens(logging.Filter):
    """Masks tokens in log lines. Our code never logs one, but at DEBUG slack_sdk logs whole
    API responses (an OAuth exchange or token rotation returns a fresh token), and discord.py
    logs the URL of every interaction answer, which carries the interaction's token: anyone
    holding it can answer as the bot, or edit its answer, for 15 minutes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = without_tokens(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Put both filters on every handler of ``logger`` (the root logger by default), once."""
    for handler in (logger or logging.getLogger()).handlers:
        for kind in (RedactPayloads, RedactTokens):
            if not any(isinstance(f, kind) for f in handler.filters):
                handler.addFilter(kind())
