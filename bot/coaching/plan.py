"""The development plan: suggestions ranked for this person, picked one to three at a time.

Ranking is a transparent score: each catalogue item gets a point for every recent rejection in
which one of its themes was spotted. Before the scored list come, in this order: the action
most specific to a recurring theme (the bot has just said that theme will lead the plan), the
item that fits where rejections keep coming (final rounds, or the first stages), and self-care
when the feeling was strong. Ties keep the catalogue's order.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import RootModel
from sqlalchemy import func, select

from bot.coaching.reminder_kinds import cancel_plan_reminders, plan_action_reminder
from bot.coaching.themes import THEME_NAMES, recent_rejections, recurring, search_pattern
from bot.conversation.context import TurnContext
from bot.conversation.flow_loader import load_yaml
from bot.conversation.flow_spec import NonEmpty, Strict, one_of
from bot.conversation.registry import action, condition, data_file, option_provider, uses_messages
from bot.storage.models import PlanAction, ThemeTag, owned

MAX_NEW = 3
OWN = "own"  # the person's own action: its title is what they typed
# Two early-stage rejections among the recent ones are enough to bring the CV in (the rethink
# conversation waits for three).
EARLY_MIN = 2
CATALOGUE_FILE = "_catalogue.yaml"


class CatalogueItem(Strict):
    """One development action the plan step can suggest."""

    title: NonEmpty
    tip: NonEmpty
    themes: tuple[Annotated[str, one_of(tuple(THEME_NAMES), "theme")], ...] = ()
    # When this item goes to the front whatever the scores say.
    rises_when: Literal["strong_feeling", "final_stages", "early_stages"] | None = None


class Catalogue(RootModel[dict[str, CatalogueItem]]):
    """``flows/_catalogue.yaml``: key -> item, in the order ties are broken."""


data_file(CATALOGUE_FILE, Catalogue)
uses_messages(
    "plan_default_title",
    "plan_empty",
    "plan_item",
    "plan_item_due",
    "careers_links",
    "careers_none",
)


@lru_cache(maxsize=4)
def _catalogue(path: Path, mtime: float) -> dict[str, CatalogueItem]:
    return Catalogue.model_validate(load_yaml(path)).root


def catalogue(ctx: TurnContext) -> dict[str, CatalogueItem]:
    path = Path(ctx.settings.flows_dir) / CATALOGUE_FILE
    return _catalogue(path, path.stat().st_mtime)


def ranked(ctx: TurnContext) -> list[str]:
    items = catalogue(ctx)
    recent = [r.id for r in recent_rejections(ctx, 4)]
    interview_id = ctx.slot_int("interview_id")
    ids = [*recent, interview_id] if interview_id else recent
    tags = ctx.session.scalars(
        select(ThemeTag).where(ThemeTag.user_id == ctx.user.id, ThemeTag.interview_id.in_(ids))
    )
    weights = Counter(t.theme for t in {(t.theme, t.interview_id): t for t in tags}.values())
    order = list(items)
    scores = {key: sum(weights[t] for t in item.themes) for key, item in items.items()}
    scored = sorted(items, key=lambda k: (-scores[k], order.index(k)))
    return list(dict.fromkeys([*_front(ctx, items), *scored]))


def _front(ctx: TurnContext, items: dict[str, CatalogueItem]) -> list[str]:
    """The items that go first, in order: recurring theme, where rejections come, feelings."""
    front: list[str] = []
    if (pattern := recurring(ctx)) is not None:
        # The most specific action for the theme: "nerves" leads to the nerves routine, not to
        # the mock interview that also lists nerves among three themes.
        fitting = [k for k, item in items.items() if pattern.theme in item.themes]
        if fitting:
            front.append(min(fitting, key=lambda k: len(items[k].themes)))
    rises = set()
    stages = search_pattern(ctx, minimum=EARLY_MIN)
    if stages is not None and stages.kind in ("final_stages", "early_stages"):
        rises.add(stages.kind)
    if (ctx.slot_int("intensity") or 0) >= 4 or ctx.slots.get("feeling") == "doubting":
        rises.add("strong_feeling")
    for reason in ("final_stages", "early_stages", "strong_feeling"):
        front += [k for k, item in items.items() if item.rises_when == reason and reason in rises]
    return front


@option_provider("suggested_actions", provides=["action_kind"])
def suggested_actions(ctx: TurnContext) -> list[tuple[str, str]]:
    taken = set(ctx.slots.get("_picked") or [])
    items = catalogue(ctx)
    return [(k, items[k].title) for k in ranked(ctx) if k not in taken][:5]


@action("describe_action", provides=["action_title", "action_tip"])
def describe_action(ctx: TurnContext) -> None:
    item = catalogue(ctx).get(str(ctx.slots.get("action_kind")))
    ctx.slots["action_title"] = item.title if item else ctx.text("plan_default_title")
    ctx.slots["action_tip"] = item.tip if item else ""


@action("use_own_action", provides=["action_kind", "action_title"])
def use_own_action(ctx: TurnContext) -> None:
    """Their own idea goes on the plan in their words (trimmed to the column's size)."""
    ctx.slots["action_kind"] = OWN
    title = " ".join(str(ctx.slots.get("own_title") or "").split()).rstrip(".")
    ctx.slots["action_title"] = title[:200] or ctx.text("plan_default_title")


@action("save_plan_action", provides=["plan_count", "halfway_nudge"])
def save_plan_action(ctx: TurnContext) -> None:
    kind = str(ctx.slots.get("action_kind") or "")
    item = catalogue(ctx).get(kind)
    if item is None and kind != OWN:
        return
    title = item.title if item else str(ctx.slots.get("action_title") or "")[:200]
    due = ctx.slots.get("due_on")
    row = PlanAction(
        user_id=ctx.user.id,
        interview_id=ctx.slot_int("interview_id"),
        kind=kind,
        title=title,
        due_on=date.fromisoformat(due) if due else None,
        created_at=ctx.now,
    )
    ctx.session.add(row)
    ctx.session.flush()
    ctx.slots["halfway_nudge"] = "yes" if plan_action_reminder(ctx, row) else "no"
    ctx.slots["_picked"] = [*(ctx.slots.get("_picked") or []), kind]
    ctx.slots["plan_count"] = len(ctx.slots["_picked"])


@condition("plan_has_room")
def plan_has_room(ctx: TurnContext) -> bool:
    return len(ctx.slots.get("_picked") or []) < MAX_NEW


@condition("due_date_in_past")
def due_date_in_past(ctx: TurnContext) -> bool:
    due = ctx.slots.get("due_on")
    return bool(due) and date.fromisoformat(str(due)) < ctx.today


@action("describe_plan", provides=["plan_text"])
def describe_plan(ctx: TurnContext) -> None:
    rows = ctx.session.scalars(
        select(PlanAction)
        .where(PlanAction.user_id == ctx.user.id, PlanAction.status == "open")
        .order_by(PlanAction.due_on.nulls_last(), PlanAction.id)
    ).all()
    lines = [
        ctx.text("plan_item_due", title=r.title, due=f"{r.due_on:%a %d %b}")
        if r.due_on
        else ctx.text("plan_item", title=r.title)
        for r in rows
    ]
    ctx.slots["plan_text"] = "\n".join(lines) or ctx.text("plan_empty")


@condition("has_open_plan")
def has_open_plan(ctx: TurnContext) -> bool:
    count = ctx.session.scalar(
        select(func.count())
        .select_from(PlanAction)
        .where(PlanAction.user_id == ctx.user.id, PlanAction.status == "open")
    )
    return bool(count)


@action("start_new_plan")
def start_new_plan(ctx: TurnContext) -> None:
    ctx.slots["_picked"] = []


@option_provider("open_plan_actions", provides=["action_id"])
def open_plan_actions(ctx: TurnContext) -> list[tuple[str, str]]:
    rows = ctx.session.scalars(
        select(PlanAction)
        .where(PlanAction.user_id == ctx.user.id, PlanAction.status == "open")
        .order_by(PlanAction.due_on.nulls_last(), PlanAction.id)
        .limit(8)
    )
    return [(str(r.id), r.title) for r in rows]


def own_action(ctx: TurnContext) -> PlanAction | None:
    return owned(ctx.session, PlanAction, ctx.slots.get("action_id"), ctx.user.id)


@action("mark_action_done")
def mark_action_done(ctx: TurnContext) -> None:
    """Tick the action off and drop its pending reminders (halfway and due day)."""
    row = own_action(ctx)
    if row is None or row.status != "open":
        return
    row.status = "done"
    row.done_at = ctx.now
    cancel_plan_reminders(ctx.session, ctx.user, row.id)


@action("careers_links", provides=["careers_text"])
def careers_links(ctx: TurnContext) -> None:
    links = ctx.settings.coaching.careers_links
    ctx.slots["careers_text"] = (
        ctx.text("careers_links", links="; ".join(f"{link.name}: {link.url}" for link in links))
        if links
        else ctx.text("careers_none")
    )
