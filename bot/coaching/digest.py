"""The weekly digest: a workspace's anonymous figures, posted to its staff channel on Monday
mornings in the workspace's time zone, through the reminders scheduler.

Off by default. Turning it on in ``/rebound admin`` books one ``staff_digest`` reminder under
the admin who did it (reminders belong to a person; ``ref_id`` is the workspace's settings row).
When it falls due the scheduler renders it like any reminder; the ``reminders`` flow's
``digest`` step posts the figures (the same k-anonymous text as ``/rebound insights``) through the
platform's ``ChannelPoster``, books next Monday's, and tells the admin in their DM. Turning it
off, or removing the staff channel, cancels it; so does the admin's ``forget me`` (their
reminders go with them), after which another admin turns it on again.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.coaching import insights
from bot.coaching.community import resolve
from bot.conversation.context import TurnContext
from bot.conversation.registry import action, uses_messages
from bot.conversation.sender import DeliveryFailed
from bot.reminders.schedule import add_reminder, own_reminder, wall_clock_to_utc
from bot.storage.models import CommunitySettings, Reminder, User

log = logging.getLogger(__name__)
KIND = "staff_digest"
DIGEST_TIME = time(9, 0)

uses_messages("digest_head", "digest_posted", "digest_failed")


def next_monday_morning(zone: str, now: datetime) -> datetime:
    """The next Monday 09:00 in ``zone`` strictly after ``now`` (DST-safe), in UTC."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    for ahead in range(8):
        day = today + timedelta(days=ahead)
        if day.weekday() == 0:
            due = wall_clock_to_utc(day, DIGEST_TIME, tz)
            if due > now:
                return due
    raise AssertionError("unreachable: a Monday is always within 8 days")  # pragma: no cover


def cancel_digest(session: Session, row_id: int) -> None:
    session.execute(
        update(Reminder)
        .where(Reminder.kind == KIND, Reminder.ref_id == row_id, Reminder.status == "pending")
        .values(status="cancelled", last_error="the weekly digest was turned off")
    )


def book_digest(
    session: Session, admin: User, row: CommunitySettings, zone: str, now: datetime
) -> None:
    """After a save: one pending digest if it is on (booked under this admin), none if off."""
    cancel_digest(session, row.id)
    values = row.values if isinstance(row.values, dict) else {}
    if values.get("digest") and values.get("staff_channel"):
        due = next_monday_morning(zone, now)
        add_reminder(session, admin, KIND, due, ref_id=row.id, now=now, default_zone=zone)


@action("post_staff_digest", provides=["digest_note"])
def post_staff_digest(ctx: TurnContext) -> None:
    """Post this week's figures to the staff channel and book next week's."""
    reminder = own_reminder(ctx.session, ctx.user, ctx.slots.get("reminder_id"))
    row = ctx.session.get(CommunitySettings, reminder.ref_id) if reminder else None
    if reminder is None or row is None or row.platform != ctx.user.platform:
        ctx.slots["digest_note"] = ctx.text("digest_failed")
        return
    community = resolve(ctx.session, ctx.settings_base, row.platform, row.workspace)
    zone = community.settings.timezone
    poster = ctx.posters.get(row.platform)
    note = "digest_failed"
    if community.digest and community.staff_channel and poster is not None:
        today = ctx.now.astimezone(ZoneInfo(zone)).date()
        since = insights.monday(today) - timedelta(weeks=1)
        data = insights.compute(ctx.session, row.platform, row.workspace, since, zone)
        text = ctx.text("digest_head", k=insights.K) + "\n" + insights.to_text(data, ctx.messages)
        try:
            poster.post(row.workspace, community.staff_channel, text)
            note = "digest_posted"
        except DeliveryFailed as exc:
            log.warning("weekly digest not posted: %s", exc)
    ctx.slots["digest_note"] = ctx.text(note)
    if community.digest and community.staff_channel:
        book_digest(ctx.session, ctx.user, row, zone, ctx.now)
