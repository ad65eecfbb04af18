"""The person's own settings: time zone (asked once) and quiet hours."""

from __future__ import annotations

from zoneinfo import ZoneInfo, available_timezones

from bot.conversation.context import TurnContext
from bot.conversation.registry import action, condition
from bot.reminders.schedule import rezone_reminders

_ZONES_BY_CITY = {z.rsplit("/", 1)[-1].lower().replace("_", " "): z for z in available_timezones()}


def resolve_zone(text: str) -> str | None:
    """An IANA name from 'Europe/Berlin', 'europe/berlin' or just 'Berlin'."""
    cleaned = text.strip().replace(" ", "_")
    for candidate in (cleaned, cleaned.title()):
        if candidate in available_timezones():
            return candidate
    lowered = {z.lower(): z for z in available_timezones()}
    if cleaned.lower() in lowered:
        return lowered[cleaned.lower()]
    return _ZONES_BY_CITY.get(text.strip().lower())


@action("set_timezone", provides=["timezone_error"])
def set_timezone(ctx: TurnContext) -> None:
    """Store the person's zone and re-book their pending reminders in it; leave a flag the
    flow can branch on when the zone is unknown."""
    zone = resolve_zone(str(ctx.slots.get("zone_name") or ""))
    if zone is None:
        ctx.slots["_zone_rejected"] = True
        return
    ZoneInfo(zone)
    before = ctx.user.timezone or ctx.settings.timezone
    ctx.user.timezone = zone
    ctx.slots["_zone_rejected"] = False
    # Pending reminders were booked in the old zone's wall-clock times: keep those times.
    rezone_reminders(ctx.session, ctx.user, before, ctx.settings.timezone, ctx.now)


@condition("timezone_rejected")
def timezone_rejected(ctx: TurnContext) -> bool:
    return bool(ctx.slots.get("_zone_rejected"))
