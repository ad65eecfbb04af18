"""The reminder Sender for Slack against the fake Web API: DMs, files, errors, limits, OAuth."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from slack_sdk.oauth.installation_store.models.installation import Installation

from bot.config import Settings
from bot.conversation.messages import Choice, Image, Reply, UserKey
from bot.conversation.sender import DeliveryFailed, Recipient, Sender
from bot.platforms.slack.oauth import installation_store, token_lookup
from bot.platforms.slack.send import SlackSender
from bot.storage.db import Database

from .fakes.slack_api import TEAM, FakeSlack
from .fakes.slack_driver import BOT_TOKEN, LoopThread, parse_message, slack_settings

MESSAGES = {"open_form": "Fill in"}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    loop = LoopThread()
    fake = FakeSlack()
    loop.run(fake.start())
    yield fake
    loop.run(fake.stop())
    loop.close()


@pytest.fixture
def sender(fake: FakeSlack) -> SlackSender:
    return SlackSender(fake.api_url, lambda _team: BOT_TOKEN, MESSAGES)


def nudge(user: str = "U7", dm: str | None = None) -> Recipient:
    return Recipient(UserKey("slack", TEAM, user), dm_channel=dm)


REMINDER = Reply(
    text="How did it go today?",
    choices=(Choice("good", "Good"), Choice("later", "Later")),
    token="debrief.ask.3",
)


def test_is_a_sender_and_delivers_a_dm_with_working_buttons(
    sender: SlackSender, fake: FakeSlack
) -> None:
    as_protocol: Sender = sender  # what the scheduler holds (checked by type checkers)
    assert as_protocol.platform == "slack"
    as_protocol.deliver(nudge(), [REMINDER])
    assert [c.method for c in fake.calls] == ["conversations.open", "chat.postMessage"]
    posted = fake.named("chat.postMessage")[0]
    assert posted.args["channel"] == "DU7" and posted.token == BOT_TOKEN
    assert parse_message(posted.args) == REMINDER


def test_known_dm_channel_skips_conversations_open(sender: SlackSender, fake: FakeSlack) -> None:
    sender.deliver(nudge(dm="D0KNOWN"), [REMINDER])
    assert [(c.method, c.args.get("channel")) for c in fake.calls] == [
        ("chat.postMessage", "D0KNOWN")
    ]


def test_picture_is_uploaded_to_the_dm_with_alt_text(
    sender: SlackSender, fake: FakeSlack, tmp_path: Path
) -> None:
    chart = tmp_path / "progress.png"
    chart.write_bytes(b"\x89PNG fake chart")
    sender.deliver(nudge(), [Reply(text="Here's the picture.", image=Image(str(chart), "A chart"))])
    url = fake.named("files.getUploadURLExternal")[0].args
    assert (url["filename"], url["alt_txt"]) == ("progress.png", "A chart")
    assert fake.named("files.completeUploadExternal")[0].args["channel_id"] == "DU7"
    assert list(fake.uploads.values()) == [b"\x89PNG fake chart"]


@pytest.mark.parametrize(
    "error", ["user_not_found", "account_inactive", "cannot_dm_bot", "is_archived"]
)
def test_errors_that_never_succeed_are_permanent(
    sender: SlackSender, fake: FakeSlack, error: str
) -> None:
    fake.fail_next("chat.postMessage", error)
    with pytest.raises(DeliveryFailed) as caught:
        sender.deliver(nudge(dm="D0KNOWN"), [REMINDER])
    assert caught.value.permanent and str(caught.value) == error


def test_other_errors_are_worth_retrying(sender: SlackSender, fake: FakeSlack) -> None:
    fake.fail_next("conversations.open", "internal_error")
    with pytest.raises(DeliveryFailed) as caught:
        sender.deliver(nudge(), [REMINDER])
    assert not caught.value.permanent


def test_rate_limit_is_retried_after_retry_after(sender: SlackSender, fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", "ratelimited", 429, **{"Retry-After": "0"})
    sender.deliver(nudge(dm="D0KNOWN"), [REMINDER])
    assert len(fake.named("chat.postMessage")) == 2  # refused once, then sent


def test_works_from_a_scheduler_worker_thread(sender: SlackSender, fake: FakeSlack) -> None:
    errors: list[BaseException] = []

    def job() -> None:
        try:
            sender.deliver(nudge(dm="D0KNOWN"), [REMINDER])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=job) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors and len(fake.named("chat.postMessage")) == 3


def test_oauth_sender_uses_each_workspace_token_from_the_installation_store(
    db: Database, settings: Settings, fake: FakeSlack
) -> None:
    oauth = slack_settings(
        settings, fake, bot_token=None, client_id="111.222", client_secret=SecretStr("shh")
    )
    store = installation_store(oauth, db.engine)
    store.save(
        Installation(
            app_id="A0001",
            team_id="T0BLUE",
            user_id="UADMIN",
            bot_token="xoxb-blue",
            bot_id="B1",
            bot_user_id="UBOT",
        )
    )
    sender = SlackSender(fake.api_url, token_lookup(oauth, db.engine), MESSAGES)
    sender.deliver(Recipient(UserKey("slack", "T0BLUE", "U9"), "D0BLUE"), [REMINDER])
    assert fake.named("chat.postMessage")[0].token == "xoxb-blue"
    with pytest.raises(DeliveryFailed) as caught:
        sender.deliver(Recipient(UserKey("slack", "T0GONE", "U9"), "D0GONE"), [REMINDER])
    assert caught.value.permanent


def test_from_settings_single_workspace(settings: Settings, fake: FakeSlack) -> None:
    sender = SlackSender.from_settings(slack_settings(settings, fake), MESSAGES)
    sender.deliver(nudge(dm="D0KNOWN"), [REMINDER])
    assert fake.named("chat.postMessage")[0].token == BOT_TOKEN
