"""The REST-only reminder sender against the fake Discord: no gateway, failures classified."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, Reply, UserKey
from bot.conversation.sender import DeliveryFailed, Recipient
from bot.platforms.discord import convert as render
from bot.platforms.discord.send import DiscordSender
from bot.storage.models import User

from .fakes.discord_driver import DiscordDriver, DiscordHarness, LoopThread, bot_settings, to_reply
from .fakes.discord_fake import FakeDiscord

PERSON = "1300000000000009999"


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    loop = LoopThread()
    discord = FakeDiscord()
    loop.run(discord.start())
    yield discord
    loop.run(discord.stop())
    loop.close()


@pytest.fixture
def sender(fake: FakeDiscord, engine: Engine) -> Iterator[DiscordSender]:
    settings = bot_settings(engine.settings, fake)
    sender = DiscordSender(settings, engine.messages, on_outcome=engine.record_delivery)
    yield sender
    sender.close()


@pytest.fixture
def known(engine: Engine) -> UserKey:
    """A Discord person the bot has talked to (so there is a row to record failures on)."""
    key = render.user_key(PERSON)
    engine.handle(Inbound(user=key, text="hi"))
    return key


def undeliverable(engine: Engine, key: UserKey) -> bool:
    with engine.db.transaction() as s:
        user = s.scalars(select(User).where(User.external_id == key.user_id)).one()
        return user.undeliverable_at is not None


def test_reminder_is_a_dm_sent_over_rest_only(
    fake: FakeDiscord, sender: DiscordSender, engine: Engine, known: UserKey
) -> None:
    sender.deliver(Recipient(known), engine.resume(known))
    paths = [(c.method, c.path) for c in fake.calls]
    assert ("POST", "/users/@me/channels") in paths
    sent = [c.result for c in fake.calls if c.result is not None]
    assert to_reply(sent[-1]).choices  # the current question, with its buttons
    assert fake.identifies == 0  # no gateway connection
    sender.deliver(Recipient(known), [Reply(text="again")])
    logins = [c for c in fake.calls if (c.method, c.path) == ("GET", "/users/@me")]
    assert len(logins) == 1  # logged in once, reused


def test_reminders_due_together_share_one_login(
    fake: FakeDiscord, sender: DiscordSender, known: UserKey
) -> None:
    with ThreadPoolExecutor(4) as pool:  # the scheduler runs jobs in worker threads
        list(pool.map(lambda n: sender.deliver(Recipient(known), [Reply(text=f"{n}")]), range(8)))
    logins = [c for c in fake.calls if (c.method, c.path) == ("GET", "/users/@me")]
    assert len(logins) == 1
    sent = sorted(c.result["content"] for c in fake.calls if c.result is not None)
    assert sent == [str(n) for n in range(8)]


def test_known_dm_channel_is_used_directly(
    fake: FakeDiscord, sender: DiscordSender, known: UserKey
) -> None:
    sender.deliver(Recipient(known, dm_channel="1300000000000008888"), [Reply(text="hello")])
    assert [c.path for c in fake.calls if c.method == "POST"] == [
        "/channels/1300000000000008888/messages"
    ]


def test_rate_limit_is_waited_out_not_raised(
    fake: FakeDiscord, sender: DiscordSender, known: UserKey
) -> None:
    fake.rate_limit_next = 1
    sender.deliver(Recipient(known), [Reply(text="after the wait")])
    posts = [c for c in fake.calls if c.path.endswith("/messages")]
    assert len(posts) == 2 and posts[-1].result is not None
    assert posts[-1].result["content"] == "after the wait"


def test_a_429_without_via_is_waited_out_too(
    fake: FakeDiscord, sender: DiscordSender, known: UserKey
) -> None:
    fake.bare_429_next = 1
    sender.deliver(Recipient(known), [Reply(text="after the wait")])
    posts = [c for c in fake.calls if c.path.endswith("/messages")]
    assert len(posts) == 2 and posts[-1].result is not None


def test_blocked_dms_are_permanent_recorded_and_cleared_when_they_work_again(
    fake: FakeDiscord, sender: DiscordSender, engine: Engine, known: UserKey
) -> None:
    fake.blocked.add(known.user_id)
    with pytest.raises(DeliveryFailed) as failed:
        sender.deliver(Recipient(known), [Reply(text="nudge")])
    assert failed.value.permanent and "50007" in str(failed.value)
    assert undeliverable(engine, known)
    fake.blocked.clear()
    sender.deliver(Recipient(known), [Reply(text="nudge")])
    assert not undeliverable(engine, known)


def test_unknown_user_is_permanent(fake: FakeDiscord, sender: DiscordSender) -> None:
    fake.missing.add("1300000000000007777")
    with pytest.raises(DeliveryFailed) as failed:
        sender.deliver(Recipient(render.user_key("1300000000000007777")), [Reply(text="hi")])
    assert failed.value.permanent


def test_bad_token_is_a_temporary_failure(fake: FakeDiscord, engine: Engine) -> None:
    settings = bot_settings(engine.settings, fake, token=SecretStr("not-the-token"))
    sender = DiscordSender(settings, engine.messages)
    try:
        with pytest.raises(DeliveryFailed) as failed:
            sender.deliver(Recipient(render.user_key(PERSON)), [Reply(text="hi")])
        assert not failed.value.permanent and "not-the-token" not in str(failed.value)
    finally:
        sender.close()


def test_a_button_on_a_reminder_is_answered_by_the_bot_process(
    engine: Engine, clock: object
) -> None:
    harness = DiscordHarness(engine)
    sender = DiscordSender(harness.settings, engine.messages, on_outcome=engine.record_delivery)
    try:
        person = DiscordDriver(harness, clock=clock)
        person.text("hi")
        key = render.user_key(person.user["id"])
        start = len(harness.fake.calls)
        sender.deliver(Recipient(key), engine.resume(key))
        reminder = [c.result for c in harness.fake.calls[start:] if c.result is not None][-1]
        person.last_sent = [(to_reply(reminder), reminder["id"])]
        replies = person.press("Yes, that's right")
        assert "What would you like to do?" in " ".join(r.text for r in replies)
    finally:
        sender.close()
        harness.close()
