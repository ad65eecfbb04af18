"""The careers service's side on Discord, through the real discord.py client against the fake:
a member with Manage Server sets the server's resources with /rebound admin, a person who came
from that server gets them in a crisis reply, anyone else is refused; a hand-off is posted to
the staff channel only after "yes" and deleted on withdrawal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.conversation.engine import Engine
from bot.storage.models import CommunityAudit, CommunitySettings, User

from .fakes.discord_driver import DiscordDriver, DiscordHarness

GUILD = "1200000000000000001"
STAFF = "1200000000000000777"
CRISIS = "Server helpline: message a moderator or call 0100 000 111 (Suicide & Crisis Lifeline)"


@pytest.fixture
def discord(engine: Engine) -> Iterator[DiscordHarness]:
    harness = DiscordHarness(engine)
    yield harness
    harness.close()


def newcomer(harness: DiscordHarness, name: str, manager: bool = False) -> DiscordDriver:
    person = DiscordDriver(harness, name)
    if manager:
        harness.fake.managers.add(person.user["id"])
    person.command("log", guild_id=GUILD)  # reaches Rebound from the server: the welcome
    person.press("Yes, that's right")
    person.text("menu")
    return person


def test_a_moderator_sets_resources_for_the_server_and_its_people_get_them(
    discord: DiscordHarness, engine: Engine
) -> None:
    mod = newcomer(discord, "Mod", manager=True)
    mod.command("admin", guild_id=GUILD)
    refused = mod.form({"crisis_resources": CRISIS, "booking_url": "nope"})
    assert "booking" in " ".join(r.text for r in refused).lower()
    with engine.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(CommunitySettings)) == 0
    saved = mod.form({"crisis_resources": CRISIS, "staff_channel": STAFF})
    assert "Saved" in " ".join(r.text for r in saved)
    with engine.db.transaction() as s:
        audit = s.scalars(select(CommunityAudit)).one()
        assert (audit.platform, audit.workspace, audit.actor) == (
            "discord", GUILD, mod.user["id"])  # fmt: skip
    person = newcomer(discord, "Bea")
    with engine.db.transaction() as s:
        row = s.scalars(select(User).where(User.external_id == person.user["id"])).one()
        assert (row.workspace, row.community) == ("@me", GUILD)
    reply = " ".join(r.text for r in person.text("I want to end my life"))
    assert CRISIS in reply and "Samaritans" not in reply
    elsewhere = DiscordDriver(discord, "Cas")  # only ever in DMs: the config's defaults
    elsewhere.text("hi")
    elsewhere.press("Yes, that's right")
    assert "Samaritans" in " ".join(r.text for r in elsewhere.text("I want to end my life"))

    # A hand-off: nothing in the staff channel before "yes"; withdraw deletes the message.
    person.text("hello again")
    person.text("adviser")
    person.press("Show me the summary")
    posted = [c for c in discord.fake.calls if c.path == f"/channels/{STAFF}/messages"]
    assert posted == []
    person.press("Yes, send it")
    posted = [c for c in discord.fake.calls if c.path == f"/channels/{STAFF}/messages"]
    assert len(posted) == 1 and posted[0].body["allowed_mentions"]["parse"] == []
    message_id = posted[0].result["id"]
    person.text("adviser")
    person.press("Withdraw it")
    assert message_id not in discord.fake.messages
    deleted = [c for c in discord.fake.calls if c.method == "DELETE" and STAFF in c.path]
    assert len(deleted) == 1


def test_a_member_without_manage_server_is_refused(discord: DiscordHarness, engine: Engine) -> None:
    person = newcomer(discord, "Dee")
    replies = person.command("admin", guild_id=GUILD)
    text = " ".join(r.text for r in replies)
    assert "nothing has changed" in text
    assert all(r.form is None for r in replies)
    with engine.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(CommunitySettings)) == 0
