"""Settings per workspace or server, set in the app by its admins: the one place they are read.

A careers service (a Slack workspace) or a job-seekers' server (a Discord guild) sets what its
people are offered: crisis, support and counselling resources, careers links and a booking URL,
the time zone and quiet hours newcomers start with, a staff channel for hand-offs and the
optional weekly digest. ``config.toml`` stays the default for anything a community has not set.

:func:`settings_for` is the resolver: the engine calls it once per turn (``Registry.settings_for``)
and hands the result to every action as ``ctx.settings``, so every existing lookup
(``ctx.settings.crisis_resources_for(ws)``, ``support_resources_for``,
``counselling_resources_for``, ``ctx.settings.coaching.careers_links``, ``ctx.settings.timezone``)
already answers for the person's community, the database row first and then the config file.
Code outside a turn (the insights command, the digest) calls :func:`resolve` directly.

Who may change them is the platform's word, checked by the adapter for the ``admin`` command
(``Inbound.admin_of``): Slack workspace admins and owners, Discord members with Manage Server.
The check is kept in the conversation's internal slots for :data:`ADMIN_FOR` only, and every
save checks it again; each save writes an audit row naming the admin.
"""

from __future__ import annotations

import json
import re
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Link, Settings
from bot.conversation.context import TurnContext
from bot.conversation.registry import Registry, action, condition, form_check, uses_messages
from bot.storage.models import CommunityAudit, CommunitySettings, User

LIST_FIELDS = ("crisis_resources", "support_resources", "counselling_resources")
TEXT_FIELDS = ("booking_url", "timezone", "quiet_start", "quiet_end", "staff_channel")
FIELDS = (*LIST_FIELDS, "careers_links", *TEXT_FIELDS, "digest")
MAX_LINES = 10
MAX_LINE = 300
MAX_URL = 300
ADMIN_FOR = timedelta(minutes=30)
EFFECTIVE_CACHE = 512
_EFFECTIVE: OrderedDict[tuple[int, str, str], tuple[Settings, Settings]] = OrderedDict()
ADMIN_KEY = "_admin_of"
ADMIN_UNTIL = "_admin_until"
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# A Slack conversation id (C..., G...) or a Discord channel snowflake; ``<#C123|name>`` and
# ``<#123>`` (what pasting a channel mention gives) are unwrapped first.
_CHANNEL = {"slack": re.compile(r"^[CG][A-Z0-9]{6,20}$"), "discord": re.compile(r"^\d{15,21}$")}
_MENTION = re.compile(r"^<#([A-Za-z0-9]+)(\|[^>]*)?>$")

uses_messages(
    "admin_bad_url", "admin_bad_zone", "admin_bad_time", "admin_bad_channel", "admin_bad_link",
    "admin_too_many_lines", "admin_line_too_long", "admin_expired", "admin_nothing_changed",
    "admin_changed", "digest_needs_channel", "community_default", "community_not_set",
    "community_on", "community_off",
    *(f"community_label_{name}" for name in FIELDS),
)  # fmt: skip


@dataclass(frozen=True)
class Community:
    """What applies to one workspace or server, settled: its own values over the config's."""

    platform: str
    workspace: str
    settings: Settings
    booking_url: str | None
    staff_channel: str | None
    digest: bool
    stored: dict[str, Any]


def community_of(user: User) -> str:
    """The workspace or server whose settings apply to this person."""
    return user.community or user.workspace


def stored_values(session: Session, platform: str, workspace: str) -> dict[str, Any]:
    """What admins set for this community (only what they set), or ``{}``."""
    # No autoflush: a turn's new rows (a newcomer's conversation) are written once, at its end.
    with session.no_autoflush:
        row = session.scalar(
            select(CommunitySettings.values).where(
                CommunitySettings.platform == platform, CommunitySettings.workspace == workspace
            )
        )
    return dict(row) if isinstance(row, dict) else {}


def resolve(session: Session, settings: Settings, platform: str, workspace: str) -> Community:
    """The settings for one community: the database row first, then ``config.toml``."""
    values = stored_values(session, platform, workspace)
    return Community(
        platform=platform,
        workspace=workspace,
        settings=effective(settings, workspace, values),
        booking_url=values.get("booking_url") or None,
        staff_channel=values.get("staff_channel") or None,
        digest=bool(values.get("digest")),
        stored=values,
    )


def effective(settings: Settings, workspace: str, values: dict[str, Any]) -> Settings:
    """A copy of ``settings`` in which this community's values are the defaults.

    The per-workspace dicts are folded in and emptied, so ``X_for(any workspace)`` on the copy
    answers for this community: call sites need not know which key applies. Copies are kept
    per (settings, workspace, values) in a small cache: copying a pydantic model on every turn
    cost about a millisecond, the lookup costs microseconds. Nobody mutates settings.
    """
    key = (id(settings), workspace, json.dumps(values, sort_keys=True, default=str))
    cached = _EFFECTIVE.get(key)
    if cached is not None and cached[0] is settings:
        _EFFECTIVE.move_to_end(key)
        return cached[1]
    made = _effective(settings, workspace, values)
    _EFFECTIVE[key] = (settings, made)
    if len(_EFFECTIVE) > EFFECTIVE_CACHE:
        _EFFECTIVE.popitem(last=False)
    return made


def _effective(settings: Settings, workspace: str, values: dict[str, Any]) -> Settings:
    coaching = settings.coaching
    update: dict[str, Any] = {
        "crisis_resources": values.get("crisis_resources")
        or settings.crisis_resources_for(workspace),
        "support_resources": values.get("support_resources")
        or settings.support_resources_for(workspace),
        "counselling_resources": values.get("counselling_resources")
        or settings.counselling_resources_for(workspace),
        "workspace_crisis_resources": {},
        "workspace_support_resources": {},
        "workspace_counselling_resources": {},
    }
    links = values.get("careers_links")
    if links:
        update["careers_links"] = [Link(name=n, url=u) for n, u in links]
    top: dict[str, Any] = {"coaching": coaching.model_copy(update=update)}
    if values.get("timezone"):
        top["timezone"] = values["timezone"]
    quiet = {k: values[k] for k in ("quiet_start", "quiet_end") if values.get(k)}
    if quiet:
        top["reminders"] = settings.reminders.model_copy(update=quiet)
    return settings.model_copy(update=top)


# The per-turn resolver keeps each community's row for a few seconds, per database: it would
# otherwise be a round trip on every turn for a row that changes when an admin saves. A save
# clears it in its own process at once; other processes see the change within this time.
STORED_SECONDS = 10.0
_STORED: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], tuple[float, dict[str, Any]]]] = (
    weakref.WeakKeyDictionary()
)
_STORED_LOCK = threading.Lock()


def _recent_values(session: Session, platform: str, workspace: str) -> dict[str, Any]:
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    now = time.monotonic()
    with _STORED_LOCK:
        held = _STORED.get(engine, {}).get((platform, workspace))
    if held is not None and held[0] > now:
        return held[1]
    values = stored_values(session, platform, workspace)
    with _STORED_LOCK:
        _STORED.setdefault(engine, {})[(platform, workspace)] = (now + STORED_SECONDS, values)
    return values


def forget_recent_values(session: Session, platform: str, workspace: str) -> None:
    """An admin saved: this process reads the row afresh on the next turn."""
    bind = session.get_bind()
    with _STORED_LOCK:
        _STORED.get(getattr(bind, "engine", bind), {}).pop((platform, workspace), None)


def settings_for(session: Session, user: User, settings: Settings) -> Settings:
    """The engine's per-turn resolver (``Registry.settings_for``).

    A newcomer's first turn (created and seen at the same instant) also takes the community's
    time zone and quiet hours, which the engine could not know when it created the row; the
    welcome then asks whether that zone is theirs.
    """
    values = _recent_values(session, user.platform, community_of(user))
    if not values:
        return effective(settings, community_of(user), {}) if _has_ws_dicts(settings) else settings
    if user.created_at is not None and user.created_at == user.last_seen_at:
        user.quiet_start = values.get("quiet_start") or user.quiet_start
        user.quiet_end = values.get("quiet_end") or user.quiet_end
        # Stored, not only defaulted: the scheduler times reminders from the person's own row.
        user.timezone = user.timezone or values.get("timezone") or None
    return effective(settings, community_of(user), values)


def _has_ws_dicts(settings: Settings) -> bool:
    c = settings.coaching
    return bool(
        c.workspace_crisis_resources
        or c.workspace_support_resources
        or c.workspace_counselling_resources
    )


# ---------------------------------------------------------------------- reading the form


def _lines(text: Any) -> list[str]:
    return [line.strip(" \t•-*") for line in str(text or "").splitlines() if line.strip(" \t•-*")]


def _is_url(text: str) -> bool:
    parsed = urlparse(text)
    return parsed.scheme in ("https", "http") and bool(parsed.netloc) and " " not in text


def _channel(text: str) -> str:
    mention = _MENTION.match(text.strip())
    return mention.group(1) if mention else text.strip().lstrip("#")


def read_form(
    platform: str, form: dict[str, Any], words: dict[str, str] | Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted values as stored (empty means "use the default"), and field errors."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in LIST_FIELDS:
        lines = _lines(form.get(name))
        if len(lines) > MAX_LINES:
            errors[name] = words["admin_too_many_lines"].format(limit=MAX_LINES)
        elif any(len(line) > MAX_LINE for line in lines):
            errors[name] = words["admin_line_too_long"].format(limit=MAX_LINE)
        elif lines:
            values[name] = lines
    links: list[tuple[str, str]] = []
    for line in _lines(form.get("careers_links")):
        name, _, url = line.rpartition(" ")
        name = name.strip(" |:-")
        if not name or not _is_url(url) or len(url) > MAX_URL or len(name) > 80:
            errors["careers_links"] = words["admin_bad_link"]
            break
        links.append((name, url))
    if len(links) > MAX_LINES:
        errors["careers_links"] = words["admin_too_many_lines"].format(limit=MAX_LINES)
    elif links and "careers_links" not in errors:
        values["careers_links"] = links
    booking = str(form.get("booking_url") or "").strip()
    if booking:
        if _is_url(booking) and len(booking) <= MAX_URL:
            values["booking_url"] = booking
        else:
            errors["booking_url"] = words["admin_bad_url"]
    zone = str(form.get("timezone") or "").strip()
    if zone:
        try:
            ZoneInfo(zone)
            values["timezone"] = zone
        except (ZoneInfoNotFoundError, ValueError):
            errors["timezone"] = words["admin_bad_zone"]
    for name in ("quiet_start", "quiet_end"):
        text = str(form.get(name) or "").strip()
        if text:
            if _HHMM.match(text):
                values[name] = text
            else:
                errors[name] = words["admin_bad_time"]
    channel = _channel(str(form.get("staff_channel") or ""))
    if channel:
        pattern = _CHANNEL.get(platform)
        if pattern is None or not pattern.match(channel):
            errors["staff_channel"] = words["admin_bad_channel"]
        else:
            values["staff_channel"] = channel
    if str(form.get("digest") or "") == "on":
        if "staff_channel" in values:
            values["digest"] = True
        elif "staff_channel" not in errors:
            errors["digest"] = words["digest_needs_channel"]
    return values, errors


# ---------------------------------------------------------------------- the admin flow


def admin_workspace(ctx: TurnContext) -> str | None:
    """The community this person was confirmed to administer, while the check is fresh."""
    of, until = ctx.slots.get(ADMIN_KEY), ctx.slots.get(ADMIN_UNTIL)
    if not isinstance(of, str) or not isinstance(until, str):
        return None
    try:
        fresh = datetime.fromisoformat(until) > ctx.now
    except ValueError:
        return None
    return of if fresh else None


@action("admin_open", provides=["community_text"])
def admin_open(ctx: TurnContext) -> None:
    """Take the platform's word that this person administers the workspace (for a while), and
    describe what applies there now: to an admin, the one they administer; to anyone else, their
    own community, read-only."""
    admin_of = ctx.inbound.admin_of
    if admin_of:
        ctx.slots[ADMIN_KEY] = admin_of[:64]
        ctx.slots[ADMIN_UNTIL] = (ctx.now + ADMIN_FOR).isoformat()
    else:
        ctx.slots.pop(ADMIN_KEY, None)
        ctx.slots.pop(ADMIN_UNTIL, None)
    workspace = admin_workspace(ctx) or community_of(ctx.user)
    community = resolve(ctx.session, ctx.settings_base, ctx.user.platform, workspace)
    ctx.slots["community_text"] = describe(ctx, community)
    for name in FIELDS:  # the form opens with what is set now (empty: the default)
        ctx.slots[name] = _as_text(community.stored.get(name), name) if admin_of else None


@condition("community_admin")
def community_admin(ctx: TurnContext) -> bool:
    return admin_workspace(ctx) is not None


@form_check("community_settings")
def check_community_form(ctx: TurnContext, form: dict[str, Any]) -> dict[str, str]:
    if admin_workspace(ctx) is None:
        return {"crisis_resources": ctx.text("admin_expired")}
    _values, errors = read_form(ctx.user.platform, form, ctx.messages)
    return errors


@action("admin_save", provides=["changed_text"])
def admin_save(ctx: TurnContext) -> None:
    """Store what was submitted (checked again: the admin check may have expired meanwhile)
    and write the audit row: who, what changed from what to what, when."""
    workspace = admin_workspace(ctx)
    if workspace is None:
        ctx.slots["changed_text"] = ctx.text("admin_expired")
        return
    form = {name: ctx.slots.get(name) for name in FIELDS}
    values, errors = read_form(ctx.user.platform, form, ctx.messages)
    if errors:  # the form check refused these already; never store a half-valid form
        ctx.slots["changed_text"] = " ".join(errors.values())
        return
    platform = ctx.user.platform
    row = ctx.session.scalar(
        select(CommunitySettings).where(
            CommunitySettings.platform == platform, CommunitySettings.workspace == workspace
        )
    )
    before = dict(row.values) if row is not None and isinstance(row.values, dict) else {}
    changes = {
        name: {"from": before.get(name), "to": values.get(name)}
        for name in FIELDS
        if _jsonish(before.get(name)) != _jsonish(values.get(name))
    }
    if not changes:
        ctx.slots["changed_text"] = ctx.text("admin_nothing_changed")
        return
    if row is None:
        row = CommunitySettings(platform=platform, workspace=workspace)
        ctx.session.add(row)
    row.values = {k: _jsonish(v) for k, v in values.items()}
    row.updated_by = ctx.user.external_id
    row.updated_at = ctx.now
    ctx.session.flush()
    forget_recent_values(ctx.session, platform, workspace)
    if "digest" in changes or "staff_channel" in changes or "timezone" in changes:
        from bot.coaching.digest import book_digest  # digest reads this module

        zone = values.get("timezone") or ctx.settings_base.timezone
        book_digest(ctx.session, ctx.user, row, zone, ctx.now)
    ctx.session.add(
        CommunityAudit(
            platform=platform,
            workspace=workspace,
            actor=ctx.user.external_id,
            changes={
                k: {"from": _jsonish(v["from"]), "to": _jsonish(v["to"])}
                for k, v in changes.items()
            },
            created_at=ctx.now,
        )
    )
    labels = [ctx.text(f"community_label_{name}") for name in changes]
    ctx.slots["changed_text"] = ctx.text("admin_changed", fields=", ".join(labels))


def _jsonish(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonish(v) for v in value]
    return value


def _as_text(value: Any, name: str) -> str | None:
    if value in (None, "", []):
        return None
    if name == "careers_links":
        return "\n".join(f"{n} {u}" for n, u in value)
    if name in LIST_FIELDS:
        return "\n".join(str(v) for v in value)
    if name == "digest":
        return "on" if value else None
    return str(value)


def describe(ctx: TurnContext, community: Community) -> str:
    """Every setting in words, marking what is the default: shown to admins and, read-only,
    to anyone else who asks."""
    s, stored = community.settings, community.stored
    default = ctx.text("community_default")

    def mark(name: str) -> str:
        return "" if stored.get(name) else f" {default}"

    def bullets(items: list[str]) -> str:
        return "\n".join(f"  • {item}" for item in items) or f"  {ctx.text('community_not_set')}"

    links = [f"{link.name}: {link.url}" for link in s.coaching.careers_links]
    lines = [
        f"{ctx.text('community_label_crisis_resources')}{mark('crisis_resources')}\n"
        + bullets(s.coaching.crisis_resources),
        f"{ctx.text('community_label_support_resources')}{mark('support_resources')}\n"
        + bullets(s.coaching.support_resources),
        f"{ctx.text('community_label_counselling_resources')}{mark('counselling_resources')}\n"
        + bullets(s.coaching.counselling_resources),
        f"{ctx.text('community_label_careers_links')}{mark('careers_links')}\n" + bullets(links),
        f"{ctx.text('community_label_booking_url')}: "
        + (community.booking_url or ctx.text("community_not_set")),
        f"{ctx.text('community_label_timezone')}: {s.timezone}{mark('timezone')}",
        f"{ctx.text('community_label_quiet_start')}: {s.reminders.quiet_start}"
        f"{mark('quiet_start')}",
        f"{ctx.text('community_label_quiet_end')}: {s.reminders.quiet_end}{mark('quiet_end')}",
        f"{ctx.text('community_label_staff_channel')}: "
        + (community.staff_channel or ctx.text("community_not_set")),
        f"{ctx.text('community_label_digest')}: "
        + ctx.text("community_on" if community.digest else "community_off"),
    ]
    return "\n".join(lines)


def contribute(registry: Registry) -> None:
    """The per-person resolver and the admin-only flows go to the engine."""
    registry.settings_for = settings_for
    registry.staff_flows.update({"admin", "insights"})
