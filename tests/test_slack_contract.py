"""Loopback contract tests: the real slack-bolt app over real HTTP, signed requests, a fake Web API.

Each test sends what Slack sends (built from Slack's documented payloads, signed with slack_sdk's
own ``SignatureVerifier``) and checks what the adapter did through the Web API calls the fake
recorded, and what the database holds.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select

from bot.conversation.engine import Engine
from bot.platforms.slack import convert as render
from bot.storage.models import ProcessedEvent, User

from .conftest import Clock
from .fakes.slack_api import TEAM
from .fakes.slack_driver import SECRET, SlackDriver, SlackHarness, parse_message


@pytest.fixture
def sam(slack: SlackHarness, clock: Clock) -> SlackDriver:
    return SlackDriver(slack, "U1", clock)


def counts(engine: Engine) -> tuple[int, int]:
    with engine.db.transaction() as s:
        users = s.scalar(select(func.count()).select_from(User)) or 0
        events = s.scalar(select(func.count()).select_from(ProcessedEvent)) or 0
    return users, events


def welcome_event(user: str = "U1") -> dict[str, object]:
    return {
        "type": "message",
        "channel": f"D{user}",
        "channel_type": "im",
        "user": user,
        "text": "hi",
        "ts": "1700000000.000001",
        "event_ts": "1700000000.000001",
    }


def test_first_dm_gets_welcome_with_buttons_carrying_token_and_choice(sam: SlackDriver) -> None:
    replies = sam.text("hi")
    assert "I'm Rebound" in " ".join(r.text for r in replies)
    asking = replies[-1]
    assert [c.label for c in asking.choices] == ["Yes, that's right", "No, it's another one"]
    assert asking.token and all(c.id for c in asking.choices)
    menu = sam.press("Yes, that's right")
    # Eight menu choices: more than five become one select menu.
    posted = sam.fake.named("chat.postMessage")[-1].args
    assert [e["type"] for e in posted["blocks"][-1]["elements"]] == ["static_select"]
    assert "Log an interview" in {c.label for c in menu[-1].choices}


def test_used_message_loses_its_buttons_and_a_copy_pressed_later_is_refused(
    sam: SlackDriver, engine: Engine
) -> None:
    sam.text("hi")
    first = sam.fake.named("chat.postMessage")[-1]
    sam.press("Yes, that's right")
    update = sam.fake.named("chat.update")[-1].args
    assert not [b for b in update["blocks"] if b["type"] == "actions"]
    assert "Yes, that's right" in json.dumps(update["blocks"])
    # A copy of the old button (another device had it rendered) is pressed again.
    old = parse_message(first.args)
    message = sam.fake.messages[("DU1", update["ts"])]
    element = next(e for b in first.args["blocks"] if b["type"] == "actions" for e in b["elements"])
    mark = sam.fake.mark()
    action = {**element, "block_id": "rebound_actions", "action_ts": "1.0"}
    sam.h.send_payload(sam._action_payload(update["ts"], message, action))
    replies = sam.replies(mark)
    assert replies[0].text == engine.messages["stale"]
    assert old.token != replies[-1].token


def test_form_opens_as_modal_shows_field_errors_then_continues(
    sam: SlackDriver, engine: Engine
) -> None:
    sam.text("hi")
    sam.press("Yes, that's right")
    replies = sam.press("Log an interview")
    assert replies[-1].form is not None
    fill_in = sam.fake.named("chat.postMessage")[-1].args["blocks"][-1]["elements"][-1]
    assert fill_in["text"]["text"] == engine.messages["open_form"]
    posted_before = len(sam.fake.named("chat.postMessage"))
    errors = sam.form({"company": "", "role": "Analyst", "when": "today 9am"})
    assert set(errors[0].errors) == {"company"}
    assert len(sam.fake.named("chat.postMessage")) == posted_before  # errors stay in the modal
    opened = sam.fake.named("views.open")[-1].json("view")
    assert [b["block_id"] for b in opened["blocks"]] == ["company", "role", "when", "when__time"]
    assert sam.fake.named("views.open")[-1].args["trigger_id"].startswith("trig.")
    replies = sam.form({"company": "Acme", "role": "Analyst", "when": "today 9am"})
    assert "Which stage is it?" in " ".join(r.text for r in replies)
    closed = sam.fake.named("chat.update")[-1].args
    assert not [b for b in closed["blocks"] if b["type"] == "actions"]


@pytest.mark.parametrize(
    "why",
    ["forged", "unsigned", "replayed"],
)
def test_forged_unsigned_and_replayed_requests_are_refused_with_nothing_stored(
    slack: SlackHarness, engine: Engine, why: str
) -> None:
    body = slack.event_body(welcome_event(), "EvForged1")
    if why == "forged":
        status, _ = slack.post(body, "application/json", secret="not-the-secret")
    elif why == "unsigned":
        status, _ = slack.post(body, "application/json", secret=None)
    else:
        status, _ = slack.post(body, "application/json", timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    assert counts(engine) == (0, 0)
    assert slack.done == 0
    assert not [c for c in slack.fake.calls if c.method != "auth.test"]
    # The same body, correctly signed, is accepted: the refusals were about the signature.
    slack.send(body, "application/json")
    assert counts(engine) == (1, 1)


def test_retried_event_is_answered_once(slack: SlackHarness, engine: Engine) -> None:
    body = slack.event_body(welcome_event(), "EvRetry1")
    slack.send(body, "application/json")
    first = len(slack.fake.named("chat.postMessage"))
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    slack.send(body, "application/json", headers=retry)
    assert first > 0 and len(slack.fake.named("chat.postMessage")) == first
    assert counts(engine) == (1, 1)


def test_retry_racing_the_original_is_answered_once(slack: SlackHarness, engine: Engine) -> None:
    body = slack.event_body(welcome_event(), "EvRace1")
    before = slack.done
    statuses: list[int] = []
    headers = [{}, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}]
    threads = [
        threading.Thread(
            target=lambda h=h: statuses.append(slack.post(body, "application/json", headers=h)[0])
        )
        for h in headers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slack.wait_handled(before + 2)
    assert statuses == [200, 200]
    texts = [c.args["text"] for c in slack.fake.named("chat.postMessage")]
    assert sum("Rebound" in t for t in texts) == 1
    assert counts(engine) == (1, 1)


def test_slash_command_in_a_channel_answers_ephemerally_and_coaches_in_the_dm(
    slack: SlackHarness, engine: Engine
) -> None:
    slack.send_command("hi", "U2", "C0GENERAL")
    slack.send_command("log", "U2", "C0GENERAL")
    notes = slack.fake.named("response_url")
    assert [n.args["text"] for n in notes] == [engine.messages["moved_to_dm"]] * 2
    assert all(n.args["response_type"] == "ephemeral" for n in notes)
    posted = slack.fake.named("chat.postMessage")
    assert posted and {c.args["channel"] for c in posted} == {"DU2"}
    assert "Which company, which role" in posted[-1].args["text"]


def test_slash_command_in_the_dm_just_answers_there(slack: SlackHarness) -> None:
    slack.send_command("", "U3", "DU3")  # bare /rebound: where am I?
    assert not slack.fake.named("response_url")
    assert {c.args["channel"] for c in slack.fake.named("chat.postMessage")} == {"DU3"}


def test_blocked_dm_says_so_ephemerally(slack: SlackHarness, engine: Engine) -> None:
    slack.fake.fail_next("conversations.open", "cannot_dm_bot")
    slack.send_command("help", "U4", "C0GENERAL")
    # Slack's words (issue 14 item 7): Slack has workspaces and apps, not servers.
    notes = [n.args["text"] for n in slack.fake.named("response_url")]
    assert notes == [engine.messages["slack_dm_blocked"]]
    assert "server" not in notes[0].lower() and "workspace" in notes[0].lower()
    assert not slack.fake.named("chat.postMessage")
    assert counts(engine) == (0, 0)  # no turn was taken that the person could not see


def test_app_mention_moves_to_the_dm(slack: SlackHarness, engine: Engine) -> None:
    event = {
        "type": "app_mention",
        "user": "U5",
        "text": "<@UBOT> hi",
        "channel": "C0GENERAL",
        "ts": "1700000001.000100",
        "event_ts": "1700000001.000100",
    }
    slack.send_event(event, "EvMention1")
    ephemeral = slack.fake.named("chat.postEphemeral")
    assert [(e.args["channel"], e.args["user"]) for e in ephemeral] == [("C0GENERAL", "U5")]
    assert ephemeral[0].args["text"] == engine.messages["moved_to_dm"]
    assert {c.args["channel"] for c in slack.fake.named("chat.postMessage")} == {"DU5"}


def test_app_home_shows_the_summary_and_continue_resumes_in_the_dm(
    sam: SlackDriver, engine: Engine
) -> None:
    sam.text("hi")
    sam.press("Yes, that's right")
    sam.press("Log an interview")
    sam.form({"company": "Acme", "role": "Analyst", "when": "tomorrow 9am"})
    sam.press("Final round")
    sam.form({"interviewer": "", "decision_by": ""})
    sam.text("log")
    event = {
        "type": "app_home_opened",
        "user": "U1",
        "channel": "DU1",
        "tab": "home",
        "event_ts": "1700000002.000100",
    }
    sam.h.send_event(event, "EvHome1")
    published = sam.fake.named("views.publish")[-1].args
    view = sam.fake.named("views.publish")[-1].json("view")
    shown = json.dumps(view)
    assert published["user_id"] == "U1" and view["type"] == "home"
    assert "Analyst at Acme" in shown and "debrief" in shown
    assert engine.messages["home_interviews"] in shown
    assert engine.messages["home_step"].format(step="Logging an interview") in shown
    mark = sam.fake.mark()
    button = view["blocks"][-1]["elements"][0]
    sam.h.send_payload(
        {
            "type": "block_actions",
            "user": {"id": "U1", "team_id": TEAM},
            "api_app_id": "A0001",
            "container": {"type": "view", "view_id": "V1"},
            "trigger_id": "trig.home",
            "team": {"id": TEAM},
            "view": view,
            "actions": [{**button, "block_id": "rebound_actions", "action_ts": "2.0"}],
        }
    )
    replies = sam.replies(mark)
    assert "Which company, which role" in replies[-1].text
    assert {c.args["channel"] for c in sam.fake.since(mark) if "channel" in c.args} == {"DU1"}


def test_health_endpoint_and_url_verification(slack: SlackHarness) -> None:
    status, text, _ = slack.request("GET", "/healthz")
    assert (status, json.loads(text)) == (200, {"ok": True})
    body = json.dumps({"token": "x", "challenge": "abc123", "type": "url_verification"})
    status, text = slack.post(body, "application/json")
    assert status == 200 and "abc123" in text
    status, _ = slack.post(body, "application/json", secret="wrong")
    assert status == 401


def test_signing_secret_is_the_configured_one(slack: SlackHarness) -> None:
    assert slack.settings.slack.signing_secret is not None
    assert slack.settings.slack.signing_secret.get_secret_value() == SECRET
    assert "test-signing-secret" not in repr(slack.settings)


def test_button_values_decode_back_to_the_reply(sam: SlackDriver) -> None:
    replies = sam.text("hi")
    blocks = sam.fake.named("chat.postMessage")[-1].args["blocks"]
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    decoded = [render.decode_value(b["value"]) for b in buttons]
    assert decoded == [(replies[-1].token, c.id) for c in replies[-1].choices]
