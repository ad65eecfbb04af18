"""The neutral message model: every adapter translates its platform to and from these.

Adapters build an :class:`Inbound` from a platform event and render each :class:`Reply` with
the platform's own UI. Nothing here knows about Slack, Discord or the terminal, so a transcript
that passes on one adapter passes on all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FieldKind = Literal["text", "long_text", "date", "datetime", "number", "choice"]


def clean_external(value: str) -> str:
    """A string from a platform, made storable: NUL and lone surrogates become U+FFFD.

    PostgreSQL refuses NUL in text, and no database driver can encode a lone surrogate (JSON
    allows ``"\\ud800"``), so one such character in a name or an id failed every turn that
    carried it. Replacing rather than dropping keeps ``U1\\x00`` from becoming someone else's
    ``U1``. A surrogate pair written as two code points becomes the character it encodes.
    Applied to every :class:`UserKey` and :class:`Inbound` as they are built, so no adapter
    can forget it.
    """
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value


def _clean_any(value: Any) -> Any:
    if isinstance(value, str):
        return clean_external(value)
    if isinstance(value, dict):
        return {_clean_any(k): _clean_any(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_clean_any(v) for v in value)
    return value


def _clean_fields(obj: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        cleaned = _clean_any(value)
        if cleaned != value:
            object.__setattr__(obj, name, cleaned)


@dataclass(frozen=True, slots=True)
class UserKey:
    """Who is talking: identity is (platform, workspace or guild, user), never the user id alone."""

    platform: str
    workspace: str
    user_id: str

    def __post_init__(self) -> None:
        _clean_fields(self, ("platform", "workspace", "user_id"))

    def __str__(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Choice:
    """A button or numbered option. ``id`` is stable across wording changes; ``label`` is shown."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Field:
    """One input of a form: a modal field on Slack/Discord, one prompt in the terminal."""

    id: str
    label: str
    kind: FieldKind = "text"
    required: bool = True
    placeholder: str = ""
    max_length: int = 500
    options: tuple[Choice, ...] = ()
    # A starting value (what the person already said in a sentence): shown to confirm or change.
    value: str = ""


@dataclass(frozen=True, slots=True)
class Form:
    """A group of fields submitted together (a modal). ``id`` names the form in its flow."""

    id: str
    title: str
    fields: tuple[Field, ...]
    submit_label: str = "Save"
    # The person's time zone (IANA name), so a platform's time picker can show and read times
    # in the zone the engine reads them in; "" when unknown.
    zone: str = ""


@dataclass(frozen=True, slots=True)
class Image:
    """A picture to show (the progress chart). ``path`` is a PNG file on local disk."""

    path: str
    alt: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message from the bot.

    Everything is personal: adapters deliver replies in a DM or as an ephemeral reply, never
    to a shared channel. ``token`` identifies the step the choices belong
    to, so a button pressed on an old message can be recognised as stale.
    ``errors`` carries per-field validation messages when a form submission was refused, so a
    modal can show them beside the fields.
    """

    text: str
    choices: tuple[Choice, ...] = ()
    form: Form | None = None
    image: Image | None = None
    token: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    # A file to hand over with the message (the JSON of ``export``): attach it, never post it.
    file: str | None = None
    # The answer is a whole number from the first to the second (a 1-5 rating): a platform may
    # offer each number as a button; a press is read like the number typed.
    scale: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing the person did: typed text, pressed a choice, or submitted a form.

    Exactly one of ``text``, ``choice`` or ``form`` is normally set. ``event_id`` is the
    platform's id for the event, used to process retries only once. ``token`` is the step token
    the pressed choice or submitted form was rendered with (None for typed text).
    """

    user: UserKey
    text: str | None = None
    choice: str | None = None
    form: dict[str, Any] | None = None
    event_id: str | None = None
    token: str | None = None
    display_name: str | None = None
    # The workspace or server the event came from when it is not ``user.workspace`` (a Discord
    # slash command in a guild): the first one is recorded as the person's community.
    community: str | None = None
    # The workspace or server the platform says this person administers, checked by the adapter
    # for this event (Slack admins and owners, Discord's Manage Server); None when not checked.
    admin_of: str | None = None

    # Keep the replies with the event id until the adapter says they were sent
    # (:meth:`Engine.handle` then answers a second delivery of the event with them): set by an
    # inbox worker, whose event may be delivered again if it dies between commit and sending.
    keep_replies: bool = False

    def __post_init__(self) -> None:
        _clean_fields(
            self,
            ("text", "choice", "form", "event_id", "token", "display_name", "community",
             "admin_of"),
        )  # fmt: skip


def replies_to_json(replies: list[Reply]) -> str:
    """Replies as JSON, to keep with their event until they are sent (the inbox's outbox)."""
    import json
    from dataclasses import asdict

    return json.dumps([asdict(r) for r in replies], ensure_ascii=False)


def replies_from_json(data: str) -> list[Reply]:
    """The inverse of :func:`replies_to_json`."""
    import json

    def choices(items: list[dict[str, Any]]) -> tuple[Choice, ...]:
        return tuple(Choice(**c) for c in items)

    out = []
    for r in json.loads(data):
        form = r.get("form")
        if form is not None:
            fields = tuple(
                Field(**{**f, "options": choices(f.get("options") or [])}) for f in form["fields"]
            )
            form = Form(**{**form, "fields": fields})
        image = Image(**r["image"]) if r.get("image") else None
        scale = tuple(r["scale"]) if r.get("scale") else None
        parts = {"choices": choices(r.get("choices") or []), "form": form, "image": image}
        out.append(Reply(**{**r, **parts, "scale": scale}))
    return out
