"""The person's own data: ``export`` hands it all over as JSON, ``forget me`` deletes it all.

Both act only on the person in this turn, found by the engine from the platform identity; no
slot or payload can point them at anyone else. Deleting the user row cascades to every
personal table (foreign keys with ON DELETE CASCADE), reminders included, so the scheduler has
nothing left to send.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, inspect, select

from bot.conversation.context import TurnContext
from bot.conversation.registry import action, uses_messages
from bot.storage.models import PERSONAL_TABLES, Conversation, User

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
    return data


@action("export_data", provides=["export_path", "export_counts"])
def export_data(ctx: TurnContext) -> None:
    data = export_user(ctx)
    folder = Path(ctx.settings.data_dir) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rebound-export-{ctx.user.id}-{ctx.now:%Y%m%d%H%M%S}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    ctx.slots["export_path"] = str(path)
    counts = {k: len(v) for k, v in data.items() if isinstance(v, list) and v}
    ctx.slots["export_counts"] = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items())
    ctx.slots["export_counts"] = ctx.slots["export_counts"] or ctx.text("export_empty")
    ctx.say(ctx.text("export_sent"), file=str(path))


@action("forget_user")
def forget_user(ctx: TurnContext) -> None:
    """Delete the person and everything they told us. The turn saves nothing afterwards."""
    user_id = ctx.user.id
    for table in PERSONAL_TABLES:
        ctx.session.execute(delete(table).where(table.user_id == user_id))  # type: ignore[attr-defined]
    ctx.session.execute(delete(User).where(User.id == user_id))
    ctx.session.expunge_all()
    ctx.forgotten = True
