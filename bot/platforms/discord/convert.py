"""Pure converters between Discord and the neutral message model: no client, no I/O, no text.

Discord in, :class:`Inbound` out (``*_to_inbound``); :class:`Reply` in, Discord components out
(:func:`to_messages`, :func:`to_modal`). Everything a component means is written into its
``custom_id`` so a press on a message sent before a restart (or by the reminder process) is
understood by any bot process; the ids fit Discord's 100-character limit::

    rb:c:<token>:<choice id>        a choice button
    rb:s:<token>:<n>                a select menu of choices (more than five choices)
    rb:f:<token>:<part>/<parts>     "fill in" button that opens part <part> of a form
    rb:m:<token>:<part>/<parts>     the modal of that part; its inputs are named by field id

``<token>`` is the engine's step token (``flow.state.step``), so the engine itself refuses an
out-of-date press with its usual message. Views built here are inert (:class:`StaticView`):
discord.py never keeps them in memory, so every press takes the same ``DynamicItem`` route,
before and after a restart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import discord
from discord import ui

from bot.conversation.messages import Field, Form, Inbound, Reply, UserKey

PLATFORM = "discord"
# Discord user ids are global and a DM has no guild. Keying people by guild would split one
# person into a conversation per server plus one for DMs, and a reminder (always a DM) would not
# know which one to continue. So every Discord person lives in one workspace, "@me" (Discord's
# own name for "the current user's DMs"): one person, one conversation, wherever they type.
WORKSPACE = "@me"

# The /rebound subcommands come from the flows (``Engine.commands_for_slash``); each is passed
# to the engine as typed text.

CUSTOM_ID_LIMIT = 100
CONTENT_LIMIT = 2000
MAX_BUTTONS = 5  # more choices than this become a select menu
MAX_OPTIONS = 25  # options per select menu
MAX_SELECTS = 4  # a message holds 5 rows; one stays free for the form button
MAX_MODAL_INPUTS = 5
TITLE_LIMIT = 45  # modal titles and input labels
LABEL_LIMIT = 80  # button labels
OPTION_LIMIT = 100  # select option labels and values, placeholders, command descriptions
INPUT_LIMIT = 4000
EMBED_VALUE_LIMIT = 1024
EMPTY = "\u2014"  # shown for an empty optional answer carried between modal parts

CHOICE = re.compile(r"rb:c:(?P<token>[^:]+):(?P<choice>.+)")
SELECT = re.compile(r"rb:s:(?P<token>[^:]+):(?P<index>\d+)")
FORM = re.compile(r"rb:f:(?P<token>[^:]+):(?P<part>\d+)/(?P<parts>\d+)")
MODAL = re.compile(r"rb:m:(?P<token>[^:]+):(?P<part>\d+)/(?P<parts>\d+)")
NO_TOKEN = "-"  # a reply without a token: any press is stale, and the engine says so
COMPONENTS = (CHOICE, SELECT, FORM)  # the DynamicItem templates the bot registers


def is_ours(custom_id: str, message: discord.Message | None) -> bool:
    """True when discord.py will route this press to one of the bot's ``DynamicItem``
    templates: the id matches one, and the message carries a component with that id
    (discord.py silently drops a press that names a component the message does not have)."""
    if message is None or not any(pattern.fullmatch(custom_id) for pattern in COMPONENTS):
        return False
    rows = [getattr(row, "children", [row]) for row in message.components]
    return any(getattr(c, "custom_id", None) == custom_id for row in rows for c in row)


def user_key(user_id: int | str) -> UserKey:
    return UserKey(PLATFORM, WORKSPACE, str(user_id))


def choice_id(token: str | None, choice: str) -> str:
    return f"rb:c:{token or NO_TOKEN}:{choice}"


def select_id(token: str | None, index: int) -> str:
    return f"rb:s:{token or NO_TOKEN}:{index}"


def form_id(token: str | None, part: int, parts: int) -> str:
    return f"rb:f:{token or NO_TOKEN}:{part}/{parts}"


def modal_id(token: str | None, part: int, parts: int) -> str:
    return f"rb:m:{token or NO_TOKEN}:{part}/{parts}"


# ---------------------------------------------------------------------------- Discord -> neutral


def _name(user: discord.abc.User) -> str:
    return user.global_name or user.name


def message_to_inbound(message: discord.Message) -> Inbound:
    """A DM the person typed."""
    return Inbound(
        user=user_key(message.author.id),
        text=message.content,
        event_id=str(message.id),
        display_name=_name(message.author),
    )


def command_to_inbound(
    interaction: discord.Interaction, subcommand: str, staff: bool = False
) -> Inbound:
    """``/rebound <subcommand>``: the subcommand is what the person "said".

    In a server, the server is the person's community (the first one is kept), and for the
    admins' commands (``staff``) Discord's own word on whether they may manage the server
    (``interaction.permissions``, resolved by Discord for this member) says if they are its
    admin. In a DM there is no server, so nobody is an admin there."""
    guild = str(interaction.guild_id) if interaction.guild_id else None
    manages = guild is not None and staff and interaction.permissions.manage_guild
    return Inbound(
        user=user_key(interaction.user.id),
        text=subcommand.replace("-", " "),  # "feedback-reply" is the flows' "feedback reply"
        event_id=str(interaction.id),
        display_name=_name(interaction.user),
        community=guild,
        admin_of=guild if manages else None,
    )


def choice_to_inbound(interaction: discord.Interaction, token: str, choice: str) -> Inbound:
    return Inbound(
        user=user_key(interaction.user.id),
        choice=choice,
        token=token,
        event_id=str(interaction.id),
        display_name=_name(interaction.user),
    )


def form_to_inbound(
    interaction: discord.Interaction, token: str, values: Mapping[str, str]
) -> Inbound:
    return Inbound(
        user=user_key(interaction.user.id),
        form=dict(values),
        token=token,
        event_id=str(interaction.id),
        display_name=_name(interaction.user),
    )


def modal_values(data: Mapping[str, Any]) -> dict[str, str]:
    """Field id -> answer from a MODAL_SUBMIT payload (labels, rows, text inputs and selects)."""
    values: dict[str, str] = {}

    def walk(components: list[Mapping[str, Any]]) -> None:
        for comp in components:
            if "components" in comp:
                walk(comp["components"])
            elif "component" in comp:
                walk([comp["component"]])
            elif "custom_id" in comp:
                if "values" in comp:
                    values[comp["custom_id"]] = comp["values"][0] if comp["values"] else ""
                else:
                    values[comp["custom_id"]] = comp.get("value") or ""

    walk(list(data.get("components", [])))
    return values


# ---------------------------------------------------------------------------- neutral -> Discord


class StaticView(ui.View):
    """Components only. Never stored by discord.py: every press is routed by its ``custom_id``
    through the ``DynamicItem`` templates, so old messages and new ones take the same path."""

    def __init__(self, *, timeout: float | None = None) -> None:
        super().__init__(timeout=None)

    def is_finished(self) -> bool:
        return True

    def is_dispatchable(self) -> bool:
        return False


class StaticModal(ui.Modal):
    """A modal discord.py does not remember: its submission is read from the raw payload by
    ``custom_id``, so it still counts after a restart."""

    def is_finished(self) -> bool:
        return True


@dataclass(frozen=True)
class Outgoing:
    """One Discord message to send: content plus optional components, embed and files."""

    content: str
    view: ui.View | None = None
    embed: discord.Embed | None = None
    files: tuple[str, ...] = ()
    alt: dict[str, str] = field(default_factory=dict)

    def send_kwargs(self) -> dict[str, Any]:
        """Arguments for ``Messageable.send``; files are opened fresh on every call."""
        kwargs: dict[str, Any] = {"content": self.content or None}
        if self.view is not None:
            kwargs["view"] = self.view
        if self.embed is not None:
            kwargs["embed"] = self.embed
        if self.files:
            kwargs["files"] = [
                discord.File(path, filename=Path(path).name, description=self.alt.get(path))
                for path in self.files
            ]
        return kwargs


def split_content(text: str, limit: int = CONTENT_LIMIT) -> list[str]:
    """Cut text into Discord-sized messages, at line breaks where possible."""
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest.strip() or not chunks:
        chunks.append(rest)
    return chunks


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def form_parts(form: Form) -> list[tuple[Field, ...]]:
    """Discord allows five inputs per modal: longer forms are filled in several modals."""
    fields = form.fields or ()
    return [fields[i : i + MAX_MODAL_INPUTS] for i in range(0, len(fields), MAX_MODAL_INPUTS)] or [
        ()
    ]


def _fits(reply: Reply) -> bool:
    ids = [choice_id(reply.token, c.id) for c in reply.choices]
    ids.append(modal_id(reply.token, 99, 99))
    return all(len(i) <= CUSTOM_ID_LIMIT for i in ids) and all(
        len(c.id) <= OPTION_LIMIT for c in reply.choices
    )


def to_view(reply: Reply, open_form: str) -> StaticView | None:
    """Choices as buttons (a select menu when more than five), a form as a "fill in" button."""
    if not reply.choices and reply.form is None:
        return None
    view = StaticView()
    if len(reply.choices) <= MAX_BUTTONS:
        for choice in reply.choices:
            view.add_item(
                ui.Button(
                    label=_clip(choice.label, LABEL_LIMIT),
                    custom_id=choice_id(reply.token, choice.id),
                    style=discord.ButtonStyle.secondary,
                    row=0,
                )
            )
    else:
        for index in range(0, len(reply.choices), MAX_OPTIONS):
            group = reply.choices[index : index + MAX_OPTIONS]
            options = [
                discord.SelectOption(label=_clip(c.label, OPTION_LIMIT), value=c.id) for c in group
            ]
            view.add_item(
                ui.Select(
                    custom_id=select_id(reply.token, index // MAX_OPTIONS),
                    options=options,
                    min_values=1,
                    max_values=1,
                    row=index // MAX_OPTIONS,
                )
            )
    if reply.form is not None:
        parts = len(form_parts(reply.form))
        view.add_item(
            ui.Button(
                label=_clip(open_form, LABEL_LIMIT),
                custom_id=form_id(reply.token, 0, parts),
                style=discord.ButtonStyle.primary,
                row=4,
            )
        )
    return view


def to_messages(reply: Reply, open_form: str) -> list[Outgoing]:
    """One reply as Discord messages: long text split, components and files on the last one."""
    text = reply.text
    choices_as_text = bool(reply.choices) and (
        not _fits(reply) or len(reply.choices) > MAX_OPTIONS * MAX_SELECTS
    )
    if choices_as_text:  # too long to encode: the person answers with the number or the words
        numbered = "\n".join(f"{n}. {c.label}" for n, c in enumerate(reply.choices, start=1))
        text = f"{text}\n{numbered}"
        reply = replace(reply, text=text, choices=())
    files = tuple(p for p in (reply.image.path if reply.image else None, reply.file) if p)
    alt = {reply.image.path: _clip(reply.image.alt, 1024)} if reply.image else {}
    chunks = split_content(text)
    out = [Outgoing(content=chunk) for chunk in chunks[:-1]]
    last = Outgoing(content=chunks[-1], view=to_view(reply, open_form), files=files, alt=alt)
    if last.content.strip() or last.view is not None or last.files:  # Discord refuses empty ones
        out.append(last)
    return out


def to_modal(form: Form, token: str, part: int) -> StaticModal:
    """Part ``part`` of a form as a modal: at most five inputs, each named by its field id."""
    parts = form_parts(form)
    title = form.title if len(parts) == 1 else f"{form.title} ({part + 1}/{len(parts)})"
    modal = StaticModal(
        title=_clip(title, TITLE_LIMIT), custom_id=modal_id(token, part, len(parts))
    )
    for fld in parts[part]:
        component: ui.Item[Any]
        if fld.kind == "choice":
            component = ui.Select(
                custom_id=fld.id,
                options=[
                    discord.SelectOption(label=_clip(o.label, OPTION_LIMIT), value=o.id)
                    for o in fld.options[:MAX_OPTIONS]
                ],
                required=fld.required,
                min_values=1 if fld.required else 0,
                max_values=1,
            )
        else:
            component = ui.TextInput(
                custom_id=fld.id,
                style=(
                    discord.TextStyle.paragraph
                    if fld.kind == "long_text"
                    else discord.TextStyle.short
                ),
                required=fld.required,
                max_length=max(1, min(fld.max_length, INPUT_LIMIT)),
                placeholder=_clip(fld.placeholder, OPTION_LIMIT) or None,
                default=fld.value[: max(1, min(fld.max_length, INPUT_LIMIT))] or None,
            )
        modal.add_item(ui.Label(text=_clip(fld.label, TITLE_LIMIT), component=component))
    return modal


def continue_message(
    form: Form, token: str, next_part: int, values: Mapping[str, str], open_form: str
) -> Outgoing:
    """Between the modals of a long form: what was entered so far (carried in an embed, so it
    survives a restart) and the button for the next part."""
    parts = form_parts(form)
    counter = f"({next_part + 1}/{len(parts)})"
    embed = discord.Embed(title=_clip(form.title, 256))
    for fld in (f for chunk in parts[:next_part] for f in chunk):
        value = values.get(fld.id) or ""
        embed.add_field(
            name=_clip(fld.label, 256), value=_clip(value, EMBED_VALUE_LIMIT) or EMPTY, inline=False
        )
    view = StaticView()
    view.add_item(
        ui.Button(
            label=_clip(f"{open_form} {counter}", LABEL_LIMIT),
            custom_id=form_id(token, next_part, len(parts)),
            style=discord.ButtonStyle.primary,
        )
    )
    return Outgoing(content=f"{form.title} {counter}", view=view, embed=embed)


def carried_values(message: discord.Message | None, form: Form, part: int) -> dict[str, str]:
    """The answers to parts before ``part``, read back from the embed of the continue message."""
    if message is None or not message.embeds:
        return {}
    earlier = [f for chunk in form_parts(form)[:part] for f in chunk]
    shown = message.embeds[0].fields
    return {
        fld.id: ("" if item.value in (None, EMPTY) else str(item.value))
        for fld, item in zip(earlier, shown, strict=False)
    }


def disabled_view(
    message: discord.Message, pressed: str | None = None, picked: str | None = None
) -> StaticView:
    """The message's components, all disabled; the pressed button or picked option marked."""
    view = StaticView.from_message(message)
    for item in view.walk_children():
        if isinstance(item, ui.Button):
            item.disabled = True
            if pressed is not None and item.custom_id == pressed:
                item.style = discord.ButtonStyle.success
        elif isinstance(item, ui.Select):
            item.disabled = True
            for option in item.options:
                option.default = picked is not None and option.value == picked
    return view  # type: ignore[return-value]


def subcommand_descriptions(commands: Mapping[str, str]) -> dict[str, str]:
    """Each /rebound subcommand with its description clipped to what Discord accepts (the
    wording is the flows' own: the title of the flow the command starts)."""
    return {sub[:32]: _clip(title, OPTION_LIMIT) for sub, title in commands.items()}
