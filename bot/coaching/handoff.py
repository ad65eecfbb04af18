"""Hand-off to a careers adviser, with consent: the booking link, and an approved summary.

The person always sees the booking link their careers service set. If the service also set a
staff channel, Rebound offers a short summary (the role and stage of the latest interview, the
themes that came up, the plan), shows it word for word, and posts it only after an explicit
"Yes, send it". Feelings never go in; the person's own words (their reflection notes) only if
they ask for them. The summary is posted by the bot (``ChannelPoster``) inside the turn, after
its row is written, so a failed post leaves no row and says so. Withdrawing deletes the message
through the platform's API and then the row; ``forget me`` does both for every hand-off.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, select

from bot.coaching.community import community_of, resolve
from bot.coaching.interviews import STAGES
from bot.coaching.themes import THEME_NAMES
from bot.conversation.context import TurnContext
from bot.conversation.registry import action, condition, uses_messages
from bot.conversation.sender import DeliveryFailed
from bot.storage.models import Handoff, Interview, PlanAction, Reflection, ThemeTag

log = logging.getLogger(__name__)
NOTES_KEY = "handoff_notes"
# Started from the crisis reply: the summary says only that the person asked to talk.
TALK_ONLY_KEY = "handoff_talk_only"
POSTED_KEY = "_handoff_posted"
THEMES_SHOWN = 3
MAX_NOTES = 600

uses_messages(
    "handoff_booking", "handoff_no_booking", "handoff_head", "handoff_role", "handoff_themes",
    "handoff_plan", "handoff_notes", "handoff_nothing_yet", "handoff_withdraw_failed",
    "handoff_head_talk", "handoff_offer_full", "handoff_offer_talk",
)  # fmt: skip


def _community(ctx: TurnContext) -> Any:
    return resolve(ctx.session, ctx.settings_base, ctx.user.platform, community_of(ctx.user))


def _posted(ctx: TurnContext) -> list[Handoff]:
    return list(
        ctx.session.scalars(
            select(Handoff)
            .where(Handoff.user_id == ctx.user.id, Handoff.message_id.is_not(None))
            .order_by(Handoff.id)
        )
    )


@condition("handoff_available")
def handoff_available(ctx: TurnContext) -> bool:
    """The workspace has a booking link or a staff channel: someone can be reached."""
    community = _community(ctx)
    return bool(community.booking_url or (community.staff_channel and _poster(ctx) is not None))


@condition("handoff_talk_only")
def handoff_talk_only(ctx: TurnContext) -> bool:
    return bool(ctx.slots.get(TALK_ONLY_KEY))


@action("handoff_open", provides=["booking_text", "offer_text"])
def handoff_open(ctx: TurnContext) -> None:
    community = _community(ctx)
    talk_only = bool(ctx.slots.get(TALK_ONLY_KEY))
    ctx.slots["offer_text"] = ctx.text("handoff_offer_talk" if talk_only else "handoff_offer_full")
    ctx.slots["booking_text"] = (
        ctx.text("handoff_booking", url=community.booking_url)
        if community.booking_url
        else ctx.text("handoff_no_booking")
    )
    ctx.slots["_handoff_channel"] = bool(community.staff_channel and _poster(ctx) is not None)
    ctx.slots[POSTED_KEY] = bool(_posted(ctx))


@condition("handoff_channel")
def handoff_channel(ctx: TurnContext) -> bool:
    return bool(ctx.slots.get("_handoff_channel"))


@condition("handoff_posted")
def handoff_posted(ctx: TurnContext) -> bool:
    return bool(ctx.slots.get(POSTED_KEY))


@condition("handoff_with_notes")
def handoff_with_notes(ctx: TurnContext) -> bool:
    return bool(ctx.slots.get(NOTES_KEY))


@condition("handoff_notes_possible")
def handoff_notes_possible(ctx: TurnContext) -> bool:
    """Notes can be added: not yet added, and not a talk-only request."""
    return not ctx.slots.get(NOTES_KEY) and not ctx.slots.get(TALK_ONLY_KEY)


@action("handoff_add_notes")
def handoff_add_notes(ctx: TurnContext) -> None:
    ctx.slots[NOTES_KEY] = True


@action("handoff_drop_notes")
def handoff_drop_notes(ctx: TurnContext) -> None:
    ctx.slots[NOTES_KEY] = False


def build_summary(ctx: TurnContext, with_notes: bool) -> str:
    """The summary exactly as it would be posted: role, stage, themes, plan; notes if asked.

    Never a feeling, a company, an interviewer's name or anything else the person typed,
    unless ``with_notes`` (their reflection notes, which they ticked to include). Started from
    the crisis reply, only that they asked to talk: nothing of what they wrote, not even why."""
    uid = ctx.user.id
    if ctx.slots.get(TALK_ONLY_KEY):
        return ctx.text("handoff_head_talk", person=f"<@{ctx.user.external_id}>")
    lines = [ctx.text("handoff_head", person=f"<@{ctx.user.external_id}>")]
    latest = ctx.session.scalar(
        select(Interview).where(Interview.user_id == uid).order_by(Interview.id.desc()).limit(1)
    )
    if latest is not None:
        stage = STAGES.get(latest.stage, STAGES["other"])
        lines.append(ctx.text("handoff_role", role=latest.role[:120], stage=stage))
    tags = ctx.session.scalars(
        select(ThemeTag.theme).where(ThemeTag.user_id == uid).order_by(ThemeTag.id.desc())
    ).all()
    themes = list(dict.fromkeys(tags))[:THEMES_SHOWN]
    if themes:
        names = ", ".join(THEME_NAMES.get(t, t) for t in themes)
        lines.append(ctx.text("handoff_themes", themes=names))
    plan = ctx.session.scalars(
        select(PlanAction).where(PlanAction.user_id == uid).order_by(PlanAction.id.desc()).limit(3)
    ).all()
    if plan:
        titles = "; ".join(p.title for p in plan)
        lines.append(ctx.text("handoff_plan", plan=titles))
    if with_notes:
        note = ctx.session.scalar(
            select(Reflection.in_control)
            .where(Reflection.user_id == uid, Reflection.in_control.is_not(None))
            .order_by(Reflection.id.desc())
            .limit(1)
        )
        if note:
            lines.append(ctx.text("handoff_notes", notes=str(note)[:MAX_NOTES]))
    if len(lines) == 1:
        lines.append(ctx.text("handoff_nothing_yet"))
    return "\n".join(lines)


@action("handoff_preview", provides=["summary_text"])
def handoff_preview(ctx: TurnContext) -> None:
    ctx.slots["summary_text"] = build_summary(ctx, bool(ctx.slots.get(NOTES_KEY)))


def _poster(ctx: TurnContext) -> Any:
    return ctx.posters.get(ctx.user.platform)


@action("handoff_send")
def handoff_send(ctx: TurnContext) -> None:
    """Post what the person just read and approved (rebuilt the same way, never from a slot)."""
    ctx.slots[POSTED_KEY] = False
    community, poster = _community(ctx), _poster(ctx)
    if not community.staff_channel or poster is None:
        return
    summary = build_summary(ctx, bool(ctx.slots.get(NOTES_KEY)))
    row = Handoff(
        user_id=ctx.user.id,
        workspace=community.workspace,
        channel=community.staff_channel,
        summary=summary,
        status="posted",
        created_at=ctx.now,
    )
    ctx.session.add(row)
    ctx.session.flush()
    try:
        row.message_id = str(poster.post(community.workspace, community.staff_channel, summary))
    except DeliveryFailed as exc:
        log.warning("hand-off not posted: %s", exc)
        ctx.session.delete(row)
        return
    ctx.slots[POSTED_KEY] = True


def withdraw_all(ctx: TurnContext) -> bool:
    """Delete every posted summary of this person from the staff channel, then the rows.

    Returns False if a message could not be deleted (that row is kept, to try again)."""
    poster, ok = _poster(ctx), True
    for row in _posted(ctx):
        try:
            if poster is None:
                raise DeliveryFailed("no poster for this platform")
            poster.delete(row.workspace, row.channel, str(row.message_id))
        except DeliveryFailed as exc:
            log.warning("hand-off message not deleted: %s", exc)
            ok = False
            continue
        ctx.session.delete(row)
    ctx.session.flush()
    return ok


@action("handoff_withdraw")
def handoff_withdraw(ctx: TurnContext) -> None:
    if not withdraw_all(ctx):
        ctx.say(ctx.text("handoff_withdraw_failed"))


def forget_handoffs(ctx: TurnContext) -> None:
    """For ``forget me``: delete the posted messages (best effort), then every hand-off row."""
    withdraw_all(ctx)
    ctx.session.execute(delete(Handoff).where(Handoff.user_id == ctx.user.id))
