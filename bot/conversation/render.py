"""Turn a flow state into neutral replies: fill placeholders, pick text variants, add choices."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from bot.conversation.context import TurnContext
from bot.conversation.flow_spec import StateSpec, Variant, condition_holds
from bot.conversation.machine import OPTION_PREFIX
from bot.conversation.messages import Choice, Field, Form, Reply
from bot.conversation.registry import Registry

log = logging.getLogger(__name__)


class _Slots(dict[str, Any]):
    """Missing placeholders render as empty text instead of crashing a turn."""

    def __missing__(self, key: str) -> str:
        log.warning("placeholder {%s} has no value", key)
        return ""


def template_values(ctx: TurnContext) -> dict[str, Any]:
    values: dict[str, Any] = {
        k: ("" if v is None else v) for k, v in ctx.slots.items() if not k.startswith("_")
    }
    values.setdefault("name", ctx.user.sign_name or ctx.user.display_name or "there")
    values.setdefault("today", ctx.today.isoformat())
    values.setdefault("timezone", ctx.user.timezone or ctx.settings.timezone)
    return values


def fill(text: str, values: dict[str, Any]) -> str:
    try:
        return text.format_map(_Slots(values))
    except (ValueError, IndexError, KeyError, AttributeError):
        log.warning("could not fill template %r", text[:60])
        return text


def pick_text(message: str | Variant, values: dict[str, Any]) -> str:
    if isinstance(message, Variant):
        key = str(values.get(message.by, ""))
        return message.cases.get(key, message.default)
    return message


def choices_for(ctx: TurnContext, state: StateSpec, registry: Registry) -> list[Choice]:
    """Dynamic options first, then the static choices whose ``when`` holds right now."""
    out: list[Choice] = []
    if state.options:
        provider = registry.options[state.options.source]
        out.extend(Choice(f"{OPTION_PREFIX}{oid}", label) for oid, label in provider(ctx))
    for choice in state.choices:
        if choice.when and not condition_holds(choice.when, registry.conditions, ctx):
            continue
        out.append(Choice(choice.id, fill(choice.label, template_values(ctx))))
    return out


def render_state(ctx: TurnContext, state: StateSpec, registry: Registry, token: str) -> list[Reply]:
    values = template_values(ctx)
    texts = [t for t in (fill(pick_text(m, values), values) for m in state.say) if t.strip()]
    if not state.waits:
        return [Reply(text=t) for t in texts]
    if not texts:
        texts = [ctx.text("default_prompt")]
    form = None
    if state.form:
        draft = form_draft(ctx.slots, state.form.id)
        fields = tuple(_prefilled(f, ctx.slots, draft) for f in state.form.fields)
        zone = ctx.user.timezone or ctx.settings.timezone
        form = Form(state.form.id, state.form.title, fields, state.form.submit_label, zone)
    last = Reply(
        text=texts[-1],
        choices=tuple(choices_for(ctx, state, registry)),
        form=form,
        token=token,
        scale=_scale(state),
    )
    return [Reply(text=t) for t in texts[:-1]] + [last]


def _scale(state: StateSpec) -> tuple[int, int] | None:
    """A number input between two whole numbers (how strongly, 1 to 5) can be offered as buttons."""
    inp = state.input
    if inp is None or inp.kind != "number" or inp.min is None or inp.max is None:
        return None
    if not (float(inp.min).is_integer() and float(inp.max).is_integer()):
        return None
    return int(inp.min), int(inp.max)


# What the person typed into a form whose submission was refused (a date that didn't parse):
# ``{"form": <form id>, "values": {field id: text}}``, so the form opens again with their answers
# for them to correct, not empty (Discord closes a modal on submit). Cleared once it goes through.
FORM_DRAFT_KEY = "_form_draft"


def form_draft(slots: dict[str, Any], form_id: str) -> dict[str, str]:
    """The answers typed into ``form_id`` last time, if its submission was refused."""
    draft = slots.get(FORM_DRAFT_KEY)
    if not isinstance(draft, dict) or draft.get("form") != form_id:
        return {}
    values = draft.get("values")
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


def _prefilled(fld: Field, slots: dict[str, Any], draft: dict[str, str]) -> Field:
    """A text field starts with what the person typed into it last time (a refused
    submission), else with what the conversation already knows (a company named in a
    sentence); the person confirms or changes it. Choice fields are always picked afresh."""
    if fld.kind != "choice" and draft.get(fld.id):
        return replace(fld, value=draft[fld.id][: fld.max_length])
    known = slots.get(fld.id)
    if fld.kind == "choice" or known in (None, "") or isinstance(known, dict | list):
        return fld
    return replace(fld, value=str(known)[: fld.max_length])
