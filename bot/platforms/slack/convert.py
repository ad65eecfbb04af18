"""Pure converters between Slack payloads and the neutral messages: no I/O, no Bolt, no engine.

Everything Slack-specific about *looking* (Block Kit, modals, App Home) and *reading* (button
values, modal state) lives here, so it can be tested with plain dictionaries and so the listeners
in :mod:`bot.platforms.slack` stay a few lines each. The words come from the engine: reply text
and labels from the flows, chrome (the "Fill in" button, App Home headings) from
``engine.messages``.

A button's ``value`` carries the step token, the choice id and the Slack user it was sent to as
JSON, so a press can be checked by the engine (which refuses stale tokens) without remembering
anything in the process, and a value sent to one person means nothing when another presses it;
a modal carries the same in ``private_metadata``, with the message it came from.

Dates in a modal are Slack's date picker, and a date-and-time is a date picker plus a time picker
showing the person's time zone (the one the engine reads times in); what was picked is handed to
the engine as ``2026-12-03 14:00``, the way it reads typed dates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from bot.coaching.summary import Summary
from bot.conversation.flow_check import CHAT_CHROME
from bot.conversation.messages import Choice, Field, Form, Inbound, Reply, UserKey

PLATFORM = "slack"

# Block Kit ids the listeners match on.
CHOICE_ACTION = "choice"  # buttons: choice_0, choice_1, ...; the select menu: choice_select
CHOICE_SELECT = "choice_select"
SCALE_ACTION = f"{CHOICE_ACTION}_scale"  # a 1-5 answer as buttons: choice_scale_1, ...
OPEN_FORM_ACTION = "open_form"
HOME_CONTINUE_ACTION = "home_continue"
FORM_CALLBACK = "rebound_form"
ACTIONS_BLOCK = "rebound_actions"
INPUT_ACTION = "value"
TIME_BLOCK = "__time"  # a date-and-time field's second block: "when" and "when__time"

# Chrome the adapter needs from engine.messages (checked when the app is built).
CHROME_KEYS = CHAT_CHROME

# Slack's limits (https://api.slack.com/reference/block-kit).
MAX_BUTTONS = 5  # more choices than this become one select menu
SECTION_TEXT = 3000
FALLBACK_TEXT = 3000
BUTTON_TEXT = 75
OPTION_VALUE = 150
MODAL_TITLE = 24
PLACEHOLDER = 150
INPUT_MAX = 3000


def user_key(team_id: str | None, enterprise_id: str | None, user_id: str) -> UserKey:
    """Identity is (slack, workspace, user); org-wide installs without a team use the org id."""
    return UserKey(PLATFORM, team_id or enterprise_id or "", user_id)


# ---------------------------------------------------------------- inbound


def message_to_inbound(
    user: UserKey, text: str, event_id: str | None
) -> Inbound:
    """Typed text (a DM, a slash command's argument, a mention) as the person's words."""
    return Inbound(user=user, text=unescape(text), event_id=event_id)


def strip_mentions(text: str) -> str:
    """``<@U123> rejected`` -> ``rejected``: the mention is how Slack addresses us, not words."""
    words = [w for w in text.split() if not (w.startswith("<@") and w.endswith(">"))]
    return " ".join(words)


def choice_to_inbound(user: UserKey, action: Mapping[str, Any]) -> tuple[Inbound, str]:
    """A pressed button or picked menu option, and the label the person saw (for the update).

    A value sent to someone else carries no token, so the engine treats it as an old button."""
    if action.get("type") == "static_select":
        option = action.get("selected_option") or {}
        value, label = option.get("value", ""), option.get("text", {}).get("text", "")
    else:
        value, label = action.get("value", ""), action.get("text", {}).get("text", "")
    token, choice = decode_value(value)
    if value_owner(value) != user.user_id:
        token = None
    return Inbound(user=user, choice=choice, token=token), label


def form_to_inbound(user: UserKey, view: Mapping[str, Any]) -> Inbound:
    """A submitted modal: every input block's value, keyed by field id (token only if ours)."""
    meta = decode_metadata(view)
    token = meta.get("t") if meta.get("u") == user.user_id else None
    return Inbound(user=user, form=form_values(view), token=token)


def form_values(view: Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    times: dict[str, str] = {}
    for block_id, actions in (view.get("state", {}).get("values") or {}).items():
        element = (actions or {}).get(INPUT_ACTION) or {}
        kind = element.get("type")
        if kind in ("static_select", "radio_buttons"):
            picked = element.get("selected_option") or {}
            values[block_id] = str(picked.get("value") or "")
        elif kind == "datepicker":
            values[block_id] = str(element.get("selected_date") or "")
        elif kind == "timepicker" and block_id.endswith(TIME_BLOCK):
            times[block_id.removesuffix(TIME_BLOCK)] = str(element.get("selected_time") or "")
        else:
            values[block_id] = str(element.get("value") or "")
    for field_id, clock in times.items():
        if values.get(field_id) and clock:  # a date alone is read as 9:00 by the engine
            values[field_id] = f"{values[field_id]} {clock}"
    return values


def encode_value(token: str | None, choice: str, owner: str | None = None) -> str:
    """A button's value: step token, choice id, and the Slack user it is meant for."""
    data: dict[str, Any] = {"t": token, "c": choice}
    if owner is not None:
        data["u"] = owner
    return json.dumps(data, separators=(",", ":"))


def decode_value(value: str) -> tuple[str | None, str]:
    try:
        data = json.loads(value)
        return data.get("t"), str(data["c"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, ""


def value_owner(value: str) -> str | None:
    """The Slack user a button value was sent to (None for a value that names nobody)."""
    try:
        owner = json.loads(value).get("u")
    except (ValueError, TypeError, AttributeError):
        return None
    return owner if isinstance(owner, str) else None


def decode_metadata(view: Mapping[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------- outbound


def escape(text: str) -> str:
    """Slack's three control characters in mrkdwn text (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(text, limit) or " ", "emoji": True}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sections(text: str) -> list[dict[str, Any]]:
    """Reply text as mrkdwn sections within Slack's 3,000-character cap, split at line breaks
    where possible and never inside an escaped character."""
    chunks: list[str] = []
    current, size = "", 0
    for line in text.split("\n"):
        for piece in _pieces(line):
            extra = len(escape(piece)) + (1 if current else 0)
            if current and size + extra > SECTION_TEXT:
                chunks.append(current)
                current, size = piece, len(escape(piece))
            else:
                current, size = (f"{current}\n{piece}" if current else piece), size + extra
    chunks.append(current)
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(c), "verbatim": True}}
        for c in chunks
        if c.strip()
    ]


def _pieces(line: str) -> list[str]:
    """A line cut into pieces whose escaped form fits one section."""
    if len(line) * 5 <= SECTION_TEXT or len(escape(line)) <= SECTION_TEXT:
        return [line]
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for char in line:
        width = len(escape(char))
        if size + width > SECTION_TEXT:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    pieces.append("".join(current))
    return pieces


def to_blocks(
    reply: Reply, open_form: str, *, owner: str | None = None, pick: str = ""
) -> list[dict[str, Any]]:
    """One reply as Block Kit: its text, then buttons (a menu when long) or a "Fill in" button.

    ``owner`` is the Slack user the message goes to (bound into every button's value); ``pick``
    is the menu's placeholder, so a long menu says what to do rather than Slack's default."""
    blocks = _sections(reply.text)
    elements: list[dict[str, Any]] = []
    if reply.choices and len(reply.choices) <= MAX_BUTTONS:
        elements = [
            {
                "type": "button",
                "action_id": f"{CHOICE_ACTION}_{i}",
                "text": _plain(c.label, BUTTON_TEXT),
                "value": encode_value(reply.token, c.id, owner),
            }
            for i, c in enumerate(reply.choices)
        ]
    elif reply.choices:
        menu: dict[str, Any] = {
            "type": "static_select",
            "action_id": CHOICE_SELECT,
            "options": [_option(c, encode_value(reply.token, c.id, owner)) for c in reply.choices],
        }
        if pick:
            menu["placeholder"] = _plain(pick, PLACEHOLDER)
        elements = [menu]
    elif reply.scale is not None and reply.scale[1] - reply.scale[0] < MAX_BUTTONS:
        elements = [
            {
                "type": "button",
                "action_id": f"{SCALE_ACTION}_{n}",
                "text": _plain(str(n), BUTTON_TEXT),
                "value": encode_value(reply.token, str(n), owner),
            }
            for n in range(reply.scale[0], reply.scale[1] + 1)
        ]
    if reply.form is not None:
        elements.append(
            {
                "type": "button",
                "action_id": OPEN_FORM_ACTION,
                "style": "primary",
                "text": _plain(open_form, BUTTON_TEXT),
                "value": encode_value(reply.token, reply.form.id, owner),
            }
        )
    if elements:
        blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements})
    return blocks


def to_message(
    reply: Reply, open_form: str, *, owner: str | None = None, pick: str = ""
) -> dict[str, Any]:
    """Keyword arguments for ``chat.postMessage``: blocks plus the notification fallback text."""
    fallback = reply.text.strip() or " / ".join(c.label for c in reply.choices) or open_form
    blocks = to_blocks(reply, open_form, owner=owner, pick=pick)
    return {"text": _cut(escape(fallback), FALLBACK_TEXT), "blocks": blocks}


def _option(choice: Choice, value: str) -> dict[str, Any]:
    if len(value) > OPTION_VALUE:
        raise ValueError(f"choice value longer than Slack allows ({len(value)} > {OPTION_VALUE})")
    return {"text": _plain(choice.label, BUTTON_TEXT), "value": value}


def answered(blocks: Sequence[Mapping[str, Any]], label: str) -> list[dict[str, Any]]:
    """The message after it was answered: same text, its buttons replaced by what was picked.

    Updating the message is what stops a button being pressed twice; the engine's token check
    still guards presses on copies Slack had already rendered elsewhere.
    """
    kept = [dict(b) for b in blocks if b.get("type") != "actions"]
    if label:
        kept.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"› {escape(label)}"}]}
        )
    return kept


def to_modal(
    form: Form,
    token: str | None,
    channel: str | None,
    ts: str | None,
    *,
    owner: str | None = None,
    words: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A form as a modal. ``private_metadata`` remembers the step, who it was opened for and
    the message to update; ``words`` are the chrome (the time picker's label, menu hints)."""
    meta = json.dumps({"t": token, "u": owner, "c": channel, "m": ts}, separators=(",", ":"))
    blocks: list[dict[str, Any]] = []
    for fld in form.fields:
        blocks.extend(_inputs(fld, form.zone, words or {}))
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "title": _plain(form.title, MODAL_TITLE),
        "submit": _plain(form.submit_label, MODAL_TITLE),
        "private_metadata": meta,
        "blocks": blocks,
    }


def _inputs(fld: Field, zone: str, words: Mapping[str, str]) -> list[dict[str, Any]]:
    """A field's input block (two for a date and time: Slack's date and time pickers)."""
    element: dict[str, Any]
    start = _known_when(fld.value) if fld.kind in ("date", "datetime") else None
    extra: list[dict[str, Any]] = []
    if fld.kind == "choice":
        element = {
            "type": "static_select",
            "options": [
                {"text": _plain(o.label, BUTTON_TEXT), "value": o.id[:OPTION_VALUE]}
                for o in fld.options
            ],
        }
        if not fld.placeholder and words.get("menu_placeholder"):
            element["placeholder"] = _plain(words["menu_placeholder"], PLACEHOLDER)
    elif fld.kind == "number":
        element = {"type": "number_input", "is_decimal_allowed": True}
    elif fld.kind in ("date", "datetime"):
        element = {"type": "datepicker"}
        if start is not None:
            element["initial_date"] = f"{start:%Y-%m-%d}"
        if fld.kind == "datetime":
            extra.append(_time_input(fld, zone, start, words))
    else:
        element = {
            "type": "plain_text_input",
            "multiline": fld.kind == "long_text",
            "max_length": min(fld.max_length, INPUT_MAX),
        }
    element["action_id"] = INPUT_ACTION
    if fld.value and element["type"] == "plain_text_input":
        element["initial_value"] = fld.value[: element["max_length"]]
    if fld.placeholder:
        element["placeholder"] = _plain(fld.placeholder, PLACEHOLDER)
    block = {
        "type": "input",
        "block_id": fld.id,
        "optional": not fld.required,
        "label": _plain(fld.label, 2000),
        "element": element,
    }
    return [block, *extra]


def _time_input(
    fld: Field, zone: str, start: date | datetime | None, words: Mapping[str, str]
) -> dict[str, Any]:
    """The time half of a date and time, shown in the person's zone (Slack prints it below)."""
    element: dict[str, Any] = {"type": "timepicker", "action_id": INPUT_ACTION}
    if zone:
        element["timezone"] = zone
    if isinstance(start, datetime):
        element["initial_time"] = f"{start:%H:%M}"
    return {
        "type": "input",
        "block_id": f"{fld.id}{TIME_BLOCK}",
        "optional": not fld.required,
        "label": _plain(words.get("form_time") or fld.label, 2000),
        "element": element,
    }


def _known_when(value: str) -> date | datetime | None:
    """A starting value the engine wrote (``2026-12-03``, ``2026-12-03 14:00``, ISO with an
    offset, already in the person's zone) as a date or a local date and time."""
    text = value.strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def modal_errors(view: Mapping[str, Any], errors: Mapping[str, str]) -> dict[str, str] | None:
    """Per-field errors for ``response_action: errors``, or None if one names no field here."""
    blocks = {b.get("block_id") for b in view.get("blocks", [])}
    if not errors or any(k not in blocks for k in errors):
        return None
    return dict(errors)


def to_home_view(summary: Summary, messages: Mapping[str, str]) -> dict[str, Any]:
    """The App Home tab: where the person is, open interviews, plan, reminders, a way back in."""
    if summary.step:
        step = messages["home_paused"] if summary.paused else "{step}"
        where = messages["home_step"].format(step=step.format(step=summary.step))
    else:
        where = messages["home_idle"]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(messages["home_title"], 150)},
        *_sections(where),
    ]
    for key, items in (
        ("home_interviews", summary.interviews),
        ("home_plan", summary.plan),
        ("home_reminders", summary.reminders),
    ):
        blocks.append({"type": "divider"})
        body = "\n".join(f"• {i}" for i in items) if items else messages["home_none"]
        blocks.extend(_sections(f"{messages[key]}\n{body}"))
    blocks.append(
        {
            "type": "actions",
            "block_id": ACTIONS_BLOCK,
            "elements": [
                {
                    "type": "button",
                    "action_id": HOME_CONTINUE_ACTION,
                    "style": "primary",
                    "text": _plain(messages["home_continue"], BUTTON_TEXT),
                }
            ],
        }
    )
    return {"type": "home", "blocks": blocks}
