"""The careers service's side over loopback Slack: /rebound admin (admins only, field errors,
audited), its resources reaching a person's crisis reply, and a consented hand-off that is
posted only after "yes", withdrawn by deleting the message, and deleted by ``forget me``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.conversation.engine import Engine
from bot.storage.models import (
    CommunityAudit,
    CommunitySettings,
    FeelingEntry,
    Handoff,
    Interview,
    PlanAction,
    Reflection,
    User,
)

from .fakes.slack_api import TEAM
from .fakes.slack_driver import SlackDriver, SlackHarness

STAFF = "CSTAFF0001"
CRISIS = "Campus crisis line: call 0100 000 111 (suicide and self-harm support, any time)"
BOOKING = "https://careers.example.ac.uk/book"


@pytest.fixture
def slack(engine: Engine) -> Iterator[SlackHarness]:
    harness = SlackHarness(engine)
    harness.fake.admins.add("UADM")
    yield harness
    harness.close()


def newcomer(slack: SlackHarness, uid: str) -> SlackDriver:
    person = SlackDriver(slack, uid)
    person.text("hi")
    person.press("Yes, that's right")
    return person


def stored(engine: Engine) -> tuple[int, int]:
    with engine.db.transaction() as s:
        rows = s.scalar(select(func.count()).select_from(CommunitySettings))
        audits = s.scalar(select(func.count()).select_from(CommunityAudit))
        return int(rows or 0), int(audits or 0)


def set_up(slack: SlackHarness, values: dict[str, str]) -> list:  # type: ignore[type-arg]
    admin = newcomer(slack, "UADM")
    slack.send_command("admin", user="UADM", channel="C0GENERAL")
    return admin.form(values)


def test_an_admin_sets_resources_and_a_person_gets_them_in_a_crisis(
    slack: SlackHarness, engine: Engine
) -> None:
    admin = newcomer(slack, "UADM")
    mark = slack.fake.mark()
    slack.send_command("admin", user="UADM", channel="C0GENERAL")
    assert [c for c in slack.fake.since(mark) if c.method == "users.info"]
    refused = admin.form(
        {"crisis_resources": CRISIS, "booking_url": "careers page", "timezone": "Mars/Olympus",
         "staff_channel": "#staff room", "quiet_start": "25:00"}
    )  # fmt: skip
    errors = refused[0].errors
    assert set(errors) == {"booking_url", "timezone", "staff_channel", "quiet_start"}
    assert "https://" in errors["booking_url"] and "Europe/London" in errors["timezone"]
    assert stored(engine) == (0, 0)
    saved = admin.form(
        {"crisis_resources": f"{CRISIS}\nNightline: 0100 222 333", "booking_url": BOOKING,
         "timezone": "Europe/London", "staff_channel": STAFF}
    )  # fmt: skip
    assert "Saved" in " ".join(r.text for r in saved)
    with engine.db.transaction() as s:
        audit = s.scalars(select(CommunityAudit)).one()
        assert (audit.actor, audit.workspace, audit.platform) == ("UADM", TEAM, "slack")
        assert audit.changes["crisis_resources"]["to"][0] == CRISIS
        assert audit.changes["crisis_resources"]["from"] is None
        assert set(audit.changes) == {"crisis_resources", "booking_url", "timezone",
                                      "staff_channel"}  # fmt: skip
    person = SlackDriver(slack, "U2")
    hello = person.text("hi")
    assert "Europe/London" in " ".join(r.text for r in hello)  # the newcomers' zone
    person.press("Yes, that's right")
    with engine.db.transaction() as s:
        row = s.scalars(select(User).where(User.external_id == "U2")).one()
        assert row.timezone == "Europe/London"  # stored: the scheduler times reminders by it
    reply = " ".join(r.text for r in person.text("I want to end my life"))
    assert CRISIS in reply and "Nightline" in reply
    assert "Samaritans" not in reply  # the config's default list is replaced


def test_someone_who_is_not_an_admin_is_refused_and_nothing_changes(
    slack: SlackHarness, engine: Engine
) -> None:
    person = newcomer(slack, "U3")
    mark = slack.fake.mark()
    slack.send_command("admin", user="U3", channel="C0GENERAL")
    seen = person.replies(mark)
    text = " ".join(r.text for r in seen)
    assert "Only this workspace's admins" in text and "nothing has changed" in text
    assert "Samaritans" in text  # shown read-only: what people here are offered now
    assert all(r.form is None for r in seen)
    # A forged form submission for the admin form is an old button, and stores nothing.
    person.text("admin")
    assert stored(engine) == (0, 0)


def seed_story(engine: Engine, uid: str) -> None:
    with engine.db.transaction() as s:
        user = s.scalars(select(User).where(User.external_id == uid)).one()
        iv = Interview(user_id=user.id, company="ZQXCOMPANY", role="Data analyst",
                       stage="final", interviewer="ZQXINTERVIEWER", outcome="rejected")  # fmt: skip
        s.add(iv)
        s.flush()
        s.add(FeelingEntry(user_id=user.id, interview_id=iv.id, feeling="gutted", intensity=5,
                           note="ZQXFEELING"))  # fmt: skip
        s.add(Reflection(user_id=user.id, interview_id=iv.id, in_control="ZQXNOTES"))
        s.add(PlanAction(user_id=user.id, kind="mock", title="Book a mock interview"))


def staff_posts(slack: SlackHarness, mark: int) -> list[str]:
    return [c.args.get("text", "") for c in slack.fake.since(mark)
            if c.method == "chat.postMessage" and c.args.get("channel") == STAFF]  # fmt: skip


def handoffs(engine: Engine) -> int:
    with engine.db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(Handoff)) or 0)


def test_a_hand_off_is_shown_first_posted_on_yes_withdrawn_and_forgotten(
    slack: SlackHarness, engine: Engine
) -> None:
    set_up(slack, {"booking_url": BOOKING, "staff_channel": STAFF})
    person = newcomer(slack, "U2")
    person.elsewhere.add(STAFF)
    seed_story(engine, "U2")
    mark = slack.fake.mark()
    opened = " ".join(r.text for r in person.text("adviser"))
    assert BOOKING in opened and "nothing is sent unless you say yes" in opened
    preview = " ".join(r.text for r in person.press("Show me the summary"))
    assert "Data analyst, final round" in preview and "Book a mock interview" in preview
    for private in ("ZQXFEELING", "ZQXNOTES", "ZQXCOMPANY", "ZQXINTERVIEWER", "gutted"):
        assert private not in preview
    assert "ZQXNOTES" in " ".join(r.text for r in person.press("Add my reflection notes"))
    person.press("Leave my notes out")
    assert staff_posts(slack, mark) == [] and handoffs(engine) == 0  # nothing before "yes"
    sent = " ".join(r.text for r in person.press("Yes, send it"))
    assert "Sent" in sent
    posts = staff_posts(slack, mark)
    assert len(posts) == 1 and "Data analyst" in posts[0] and "<@U2>" in posts[0]
    assert "ZQXNOTES" not in posts[0] and "ZQXFEELING" not in posts[0]
    with engine.db.transaction() as s:
        ts = s.scalars(select(Handoff.message_id)).one()
    assert (STAFF, ts) in slack.fake.messages

    person.text("adviser")
    mark = slack.fake.mark()
    person.press("Withdraw it")
    deleted = [c for c in slack.fake.since(mark) if c.method == "chat.delete"]
    assert [(c.args["channel"], c.args["ts"]) for c in deleted] == [(STAFF, ts)]
    assert (STAFF, ts) not in slack.fake.messages and handoffs(engine) == 0

    person.text("adviser")
    person.press("Show me the summary")
    person.press("Yes, send it")
    with engine.db.transaction() as s:
        ts = s.scalars(select(Handoff.message_id)).one()
    person.text("forget me")
    mark = slack.fake.mark()
    person.press("Yes, delete everything")
    deleted = [c for c in slack.fake.since(mark) if c.method == "chat.delete"]
    assert [(c.args["channel"], c.args["ts"]) for c in deleted] == [(STAFF, ts)]
    assert (STAFF, ts) not in slack.fake.messages and handoffs(engine) == 0


def test_without_a_staff_channel_only_the_booking_link_is_offered(
    slack: SlackHarness, engine: Engine
) -> None:
    person = newcomer(slack, "U4")
    mark = slack.fake.mark()
    replies = person.text("adviser")
    text = " ".join(r.text for r in replies)
    assert "hasn't added a booking link" in text
    assert not any(c.label == "Show me the summary" for r in replies for c in r.choices)
    assert staff_posts(slack, mark) == []
