"""The person's own data: ``export`` hands it all over as JSON, ``forget me`` deletes it all.

Both act only on the person in this turn, found by the engine from the platform identity; no
slot or payload can point them at anyone else. Deleting the user row cascades to every
personal table (foreign keys with ON DELETE CASCADE), reminders included, so the scheduler has
nothing left to send. Forget also deletes every file made for the person
(:mod:`bot.coaching.files`), the events of their turns, their events still waiting in the
inbox, and their Slack installer rows.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, inspect, or_, select, update

from bot.coaching.files import forget_files, new_file, write_private
from bot.coaching.handoff import forget_handoffs
from bot.conversation.context import TurnContext
from bot.conversation.registry import action, uses_messages
from bot.storage.models import (
    PERSONAL_TABLES,
    SLACK_INSTALLATIONS,
    Conversation,
    InboxItem,
    ProcessedEvent,
    User,
    event_key,
)

uses_messages("export_sent", "export_empty")


def _row(obj: Any) -> dict[str, Any]:
    out = {}
    for column in inspect(obj).mapper.column_attrs:
        value = getattr(obj, column.key)
        out[column.key] = value.isoformat() if isinstance(value, datetime | date) else value
    return out


def export_user(ctx: TurnContext) -> dict[str, Any]:
    user = ctx.user
    data: dict[str, Any] = {
        "person": {k: v for k, v in _row(user).items() if k not in ("id", "dm_channel")},
        "exported_at": ctx.now.isoformat(),
    }
    for table in PERSONAL_TABLES:
        if table is Conversation:
            continue
        rows = ctx.session.scalars(
            select(table).where(table.user_id == user.id).order_by(table.id)  # type: ignore[attr-defined]
        )
        data[table.__tablename__] = [_row(r) for r in rows]
    waiting = ctx.session.scalars(
        select(InboxItem)
        .where(
            InboxItem.platform == user.platform,
            InboxItem.workspace == user.workspace,
            InboxItem.external_id == user.external_id,
        )
        .order_by(InboxItem.id)
    )  # events received and not answered yet (the inbox), as the platform sent them
    data["waiting_events"] = [
        {"received_at": r.received_at.isoformat(), "payload": r.payload} for r in waiting
    ]
    return data


@action("export_data", provides=["export_path", "export_counts"])
def export_data(ctx: TurnContext) -> None:
    data = export_user(ctx)
    path = new_file(ctx.settings, ctx.user.id, "rebound-export", ".json", ctx.now)
    write_private(path, json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"))
    ctx.slots["export_path"] = str(path)
    counts = {k: len(v) for k, v in data.items() if isinstance(v, list) and v}
    ctx.slots["export_counts"] = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items())
    ctx.slots["export_counts"] = ctx.slots["export_counts"] or ctx.text("export_empty")
    ctx.say(ctx.text("export_sent"), file=str(path))


@action("forget_user")
def forget_user(ctx: TurnContext) -> None:
    """Delete the person and everything they told us. The turn saves nothing afterwards."""
    user, session = ctx.user, ctx.session
    user_id = user.id
    forget_handoffs(ctx)  # the staff-channel messages first, while their rows say where
    for table in PERSONAL_TABLES:
        session.execute(delete(table).where(table.user_id == user_id))  # type: ignore[attr-defined]
    _forget_events(ctx)
    _forget_waiting(ctx)
    if user.platform == "slack":
        _forget_installer(ctx)
    session.execute(delete(User).where(User.id == user_id))
    session.expunge_all()
    ctx.forgotten = True
    settings = ctx.settings
    # Files now, and again after the commit: a chart drawn after an earlier turn's commit may
    # land in the folder in between. A turn that then fails only lost copies, never data.
    forget_files(settings, user_id)
    ctx.after_commit.append(lambda: forget_files(settings, user_id))


def _forget_events(ctx: TurnContext) -> None:
    """Delete the events of the person's turns, except this one's, which is kept unlinked.

    The ``forget me`` event itself must stay recorded: a platform retry of it would otherwise
    be answered again, creating a new, empty person. Its key holds no identity of the person
    (platform, workspace, event id) and it is pruned by age like every other event.
    """
    if ctx.inbound.event_id:
        this = ProcessedEvent.key == event_key(ctx.inbound)
        ctx.session.execute(update(ProcessedEvent).where(this).values(user_id=None))
    ctx.session.execute(delete(ProcessedEvent).where(ProcessedEvent.user_id == ctx.user.id))


def _forget_waiting(ctx: TurnContext) -> None:
    """Delete the person's events still waiting in the inbox (their words, not yet answered).

    Matched by platform identity: an event can wait before the person has a ``users`` row."""
    user = ctx.user
    ctx.session.execute(
        delete(InboxItem).where(
            InboxItem.platform == user.platform,
            InboxItem.workspace == user.workspace,
            InboxItem.external_id == user.external_id,
        )
    )


def _forget_installer(ctx: TurnContext) -> None:
    """Delete the Slack installation rows this person made as the installer.

    Deleting (rather than clearing personal fields) is safe for the workspace: the bot's token
    also lives in ``slack_bots`` (written by the same ``save``, holding no installer identity),
    and both Bolt's authorize and our ``token_lookup`` fall back to ``find_bot`` when no
    installation row is left. The rows hold the installer's user id and user token, which
    ``forget me`` promises to remove.
    """
    rows = SLACK_INSTALLATIONS.c
    workspace = ctx.user.workspace
    ctx.session.execute(
        delete(SLACK_INSTALLATIONS).where(
            and_(
                rows.user_id == ctx.user.external_id,
                or_(rows.team_id == workspace, rows.enterprise_id == workspace),
            )
        )
    )
