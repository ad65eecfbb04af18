"""Issue 14, Slack: every request answered, nothing in a payload trusted that shouldn't be.

Each test sends what Slack (or someone with a copy of a payload) would send, signed with
slack_sdk's ``SignatureVerifier``, to the real Bolt app served over loopback HTTP, and checks the
Web API calls the fake recorded and what the database holds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.conversation.engine import Engine
from bot.conversation.inputs import MAX_TEXT
from bot.platforms.slack import convert as render
from bot.storage.models import Conversation, User

from .conftest import Clock
from .fakes.slack_api import APP_ID, TEAM
from .fakes.slack_driver import SlackDriver, SlackHarness, parse_message
from .test_slack_contract import counts


@pytest.fixture
def ann(slack: SlackHarness, clock: Clock) -> SlackDriver:
    return SlackDriver(slack, "U1", clock)


@pytest.fixture
def ben(slack: SlackHarness, clock: Clock) -> SlackDriver:
    return SlackDriver(slack, "U2", clock)


def dm_event(user: str | None, text: str, channel: str, n: int) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "channel_type": "im",
        "text": text,
        "ts": f"{1700000100 + n}.000001",
        "event_ts": f"{1700000100 + n}.000001",
    }
    if user is not None:
        event["user"] = user
    return event


def step(engine: Engine, user: str) -> tuple[str, str, int]:
    with engine.db.transaction() as s:
        conv = s.execute(
            select(Conversation).join(User, User.id == Conversation.user_id)
            .where(User.external_id == user)
        ).scalar_one()  # fmt: skip
        return conv.flow, conv.state, conv.step


def posted_channels(slack: SlackHarness, mark: int) -> set[str]:
    return {
        str(c.args.get("channel"))
        for c in slack.fake.since(mark)
        if c.method in ("chat.postMessage", "chat.update")
    }


def first_button(call_args: dict[str, Any]) -> dict[str, Any]:
    return next(e for b in call_args["blocks"] if b["type"] == "actions" for e in b["elements"])


# ---------------------------------------------------------------- 1. a long first message


def test_a_new_persons_first_dm_over_the_limit_gets_the_welcome_not_an_error(
    ann: SlackDriver, engine: Engine
) -> None:
    pasted = "Dear candidate, thank you for your interest. " * 120  # a pasted rejection email
    assert MAX_TEXT < len(pasted) < 40_000  # Slack allows 40,000
    replies = ann.text(pasted)
    said = " ".join(r.text for r in replies)
    assert engine.messages["too_long"].format(limit=MAX_TEXT) in said
    assert "I'm Rebound" in said  # the welcome, as for any first message
    assert engine.messages["error"] not in said
    assert [c.label for c in replies[-1].choices] == ["Yes, that's right", "No, it's another one"]
    # The error line no longer claims what can't be known: a failed turn stored nothing.
    assert "nothing you told me was lost" not in engine.messages["error"].lower()


# ---------------------------------------------------------------- 2. garbage bodies


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every log line at WARNING and up, uvicorn's own included (it doesn't propagate)."""
    handler = _Lines()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler.lines
    for logger in loggers:
        logger.removeHandler(handler)


GARBAGE = [
    ("{not json at all", "application/json"),
    ("payload=%7Bjunk", "application/x-www-form-urlencoded"),
    ("payload=%5B%5D", "application/x-www-form-urlencoded"),  # valid JSON, not an object
]


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
@pytest.mark.parametrize(("body", "content_type"), GARBAGE, ids=["json", "payload", "list"])
def test_malformed_bodies_get_a_4xx_and_one_short_log_line(
    slack: SlackHarness, engine: Engine, log_lines: list[str], body: str, content_type: str,
    signed: bool,
) -> None:  # fmt: skip
    if signed:
        status, _ = slack.post(body, content_type)
    else:
        status, _ = slack.post(body, content_type, secret=None)
    assert status == (400 if signed else 401)
    assert len(log_lines) == 1
    assert all(len(line) < 200 and "Traceback" not in line for line in log_lines)
    assert counts(engine) == (0, 0) and slack.done == 0


def test_bad_signature_headers_are_refused_without_a_traceback(
    slack: SlackHarness, log_lines: list[str]
) -> None:
    headers = {"X-Slack-Request-Timestamp": "not-a-number", "X-Slack-Signature": "v0=00"}
    status, _ = slack.post("{}", "application/json", secret=None, headers=headers)
    assert status == 401
    assert len(log_lines) == 1 and "Traceback" not in log_lines[0]


# ---------------------------------------------------------------- 3. no user


def test_an_event_naming_no_user_is_ignored_and_creates_nobody(
    slack: SlackHarness, engine: Engine
) -> None:
    slack.send_event(dm_event(None, "hi", "DU1", 1), "EvNoUser1")
    assert counts(engine) == (0, 0)
    assert not slack.fake.named("chat.postMessage")
    with engine.db.transaction() as s:
        assert s.scalar(select(User).where(User.external_id == "None")) is None


def test_a_button_press_naming_no_user_changes_nothing(
    ann: SlackDriver, slack: SlackHarness, engine: Engine
) -> None:
    ann.text("hi")
    before = step(engine, "U1")
    posted = slack.fake.named("chat.postMessage")[-1]
    payload = ann._action_payload(
        posted.args.get("ts", "1.0"),
        {},
        {**first_button(posted.args), "block_id": render.ACTIONS_BLOCK, "action_ts": "1.0"},
    )
    del payload["user"]
    mark = slack.fake.mark()
    slack.send_payload(payload)
    assert step(engine, "U1") == before
    assert counts(engine)[0] == 1
    assert not [c for c in slack.fake.since(mark) if c.method != "auth.test"]


# ---------------------------------------------------------------- 4. the person's own DM


def test_replies_go_to_the_persons_own_dm_whatever_the_payload_names(
    ann: SlackDriver, ben: SlackDriver, slack: SlackHarness, engine: Engine
) -> None:
    ben.text("hi")
    bens = slack.fake.named("chat.postMessage")[-1]
    bens_ts = next(ts for (ch, ts) in slack.fake.messages if ch == "DU2")
    bens_message = dict(slack.fake.messages[("DU2", bens_ts)])
    # A names B's channel in a DM event.
    mark = slack.fake.mark()
    slack.send_event(dm_event("U1", "hi", "DU2", 2), "EvWrongChannel1")
    assert posted_channels(slack, mark) == {"DU1"}
    # A presses a button on a payload whose container and channel are B's DM and B's message.
    ann_button = first_button(slack.fake.named("chat.postMessage")[-1].args)
    payload = ann._action_payload(
        bens_ts, bens_message, {**ann_button, "block_id": render.ACTIONS_BLOCK, "action_ts": "2.0"}
    )
    payload["container"]["channel_id"] = "DU2"
    payload["channel"] = {"id": "DU2", "name": "directmessage"}
    mark = slack.fake.mark()
    slack.send_payload(payload)
    assert posted_channels(slack, mark) == {"DU1"}  # B's message is not edited, nothing in B's DM
    assert slack.fake.messages[("DU2", bens_ts)]["blocks"] == bens_message["blocks"]
    assert bens.args["channel"] == "DU2"
    # A submits a modal whose metadata names B's message: A's answer, nothing edited of B's.
    view = {
        "type": "modal",
        "callback_id": render.FORM_CALLBACK,
        "title": {"type": "plain_text", "text": "x"},
        "private_metadata": json.dumps({"t": None, "u": "U1", "c": "DU2", "m": bens_ts}),
        "blocks": [],
        "state": {"values": {}},
    }
    mark = slack.fake.mark()
    slack.send_payload(
        {
            "type": "view_submission",
            "team": {"id": TEAM},
            "user": {"id": "U1", "team_id": TEAM},
            "api_app_id": APP_ID,
            "trigger_id": "trig.x",
            "view": {**view, "id": "V9", "team_id": TEAM},
        }
    )
    assert posted_channels(slack, mark) <= {"DU1"}


# ---------------------------------------------------------------- 5. tokens bound to a person


def test_a_button_sent_to_one_person_does_nothing_for_another(
    ann: SlackDriver, ben: SlackDriver, slack: SlackHarness, engine: Engine
) -> None:
    ann.text("hi")
    ben.text("hi")
    assert step(engine, "U1") == step(engine, "U2")  # the same step, the same token
    bens_button = first_button(slack.fake.named("chat.postMessage")[-1].args)
    anns_ts = max((ts for (ch, ts) in slack.fake.messages if ch == "DU1"), key=float)
    before = step(engine, "U1")
    mark = slack.fake.mark()
    action = {**bens_button, "block_id": render.ACTIONS_BLOCK, "action_ts": "3.0"}
    slack.send_payload(ann._action_payload(anns_ts, slack.fake.messages[("DU1", anns_ts)], action))
    replies = ann.replies(mark)
    assert replies[0].text == engine.messages["stale"]
    assert step(engine, "U1")[:2] == before[:2]  # still asked to confirm the time zone
    # A's own button still works.
    assert "What would you like to do?" in " ".join(r.text for r in ann.press("Yes, that's right"))


def test_a_fill_in_button_sent_to_another_person_opens_nothing(
    ann: SlackDriver, ben: SlackDriver, slack: SlackHarness, engine: Engine
) -> None:
    for person in (ann, ben):
        person.text("hi")
        person.press("Yes, that's right")
        person.text("log")
    bens = slack.fake.named("chat.postMessage")[-1].args
    fill_in = next(
        e for b in bens["blocks"] if b["type"] == "actions" for e in b["elements"]
        if e["action_id"] == render.OPEN_FORM_ACTION
    )  # fmt: skip
    anns_ts = max((ts for (ch, ts) in slack.fake.messages if ch == "DU1"), key=float)
    mark = slack.fake.mark()
    action = {**fill_in, "block_id": render.ACTIONS_BLOCK, "action_ts": "4.0"}
    slack.send_payload(ann._action_payload(anns_ts, slack.fake.messages[("DU1", anns_ts)], action))
    assert not [c for c in slack.fake.since(mark) if c.method == "views.open"]
    assert ann.replies(mark)[0].text == engine.messages["stale"]


# ---------------------------------------------------------------- 6. everything acknowledged


def test_unhandled_events_and_unknown_actions_are_acknowledged_with_200(
    ann: SlackDriver, slack: SlackHarness, engine: Engine
) -> None:
    reaction = {"type": "reaction_added", "user": "U1", "reaction": "tada", "event_ts": "1.2"}
    slack.send_event(reaction, "EvReaction1")
    ann.text("hi")
    before = step(engine, "U1"), counts(engine)
    ts = max((ts for (ch, ts) in slack.fake.messages if ch == "DU1"), key=float)
    unknown = {
        "action_id": "from_an_old_version",
        "block_id": "b",
        "type": "button",
        "value": "x",
        "text": {"type": "plain_text", "text": "Old"},
        "action_ts": "5.0",
    }
    slack.send_payload(ann._action_payload(ts, slack.fake.messages[("DU1", ts)], unknown))
    slack.send_payload(
        {
            "type": "view_submission",
            "team": {"id": TEAM},
            "user": {"id": "U1", "team_id": TEAM},
            "api_app_id": APP_ID,
            "view": {
                "id": "V2",
                "type": "modal",
                "callback_id": "someone_elses_modal",
                "state": {"values": {}},
            },
        }
    )
    assert slack.kinds.count("ignored") == 3
    assert (step(engine, "U1"), counts(engine)) == before


# ---------------------------------------------------------------- 8. forms


def test_dates_in_a_modal_are_pickers_in_the_persons_time_zone(
    ann: SlackDriver, slack: SlackHarness, engine: Engine
) -> None:
    ann.text("hi")
    ann.press("Yes, that's right")
    with engine.db.transaction() as s:
        s.execute(update(User).where(User.external_id == "U1").values(timezone="Europe/Paris"))
    ann.text("log")
    fill_in = ann._find(render.OPEN_FORM_ACTION, action_id=True)
    mark = slack.fake.mark()
    slack.send_payload(
        ann._action_payload(
            fill_in[0], fill_in[1],
            {**fill_in[2], "block_id": render.ACTIONS_BLOCK, "action_ts": "6.0"},
        )
    )  # fmt: skip
    view = next(c for c in slack.fake.since(mark) if c.method == "views.open").json("view")
    elements = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert elements["when"]["type"] == "datepicker"
    assert elements["when__time"] == {
        "type": "timepicker", "action_id": render.INPUT_ACTION, "timezone": "Europe/Paris"
    }  # fmt: skip
    # What Slack sends back for a picked 3 December, 14:30 (Paris), read as that time there.
    state = {
        "company": {"value": {"type": "plain_text_input", "value": "Acme"}},
        "role": {"value": {"type": "plain_text_input", "value": "Analyst"}},
        "when": {"value": {"type": "datepicker", "selected_date": "2026-12-03"}},
        "when__time": {"value": {"type": "timepicker", "selected_time": "14:30",
                                 "timezone": "Europe/Paris"}},
    }  # fmt: skip
    submission = ann._submission(view, {})
    submission["view"]["state"] = {"values": state}
    ann.h.send_payload(submission)
    ann.press("Final round")
    replies = ann.form({"interviewer": "", "decision_by": "2026-12-10"})
    assert "Thursday 03 December at 14:30" in " ".join(r.text for r in replies)


def test_a_known_date_starts_in_the_pickers() -> None:
    from bot.conversation.messages import Field, Form

    form = Form(
        "f", "T",
        (Field("when", "When", kind="datetime", value="2026-12-04 14:00"),
         Field("by", "By", kind="date", value="2026-12-10"),
         Field("odd", "Odd", kind="date", value="next friday")),
        zone="America/Chicago",
    )  # fmt: skip
    blocks = {b["block_id"]: b["element"] for b in render.to_modal(form, "t", "D1", None)["blocks"]}
    assert blocks["when"]["initial_date"] == "2026-12-04"
    assert blocks["when__time"]["initial_time"] == "14:00"
    assert blocks["when__time"]["timezone"] == "America/Chicago"
    assert blocks["by"]["initial_date"] == "2026-12-10"
    assert "initial_date" not in blocks["odd"]  # not a date the engine wrote: left to pick


def test_a_long_menu_has_a_placeholder(ann: SlackDriver, engine: Engine) -> None:
    ann.text("hi")
    ann.press("Yes, that's right")
    menu = first_button(ann.fake.named("chat.postMessage")[-1].args)
    assert menu["type"] == "static_select"
    assert menu["placeholder"]["text"] == engine.messages["menu_placeholder"]


def test_how_strongly_is_five_buttons_and_a_press_answers_it(
    ann: SlackDriver, engine: Engine
) -> None:
    ann.text("hi")
    ann.press("Yes, that's right")
    ann.text("log")
    ann.form({"company": "Acme", "role": "Analyst", "when": "today 9am"})
    ann.press("Final round")
    ann.form({"interviewer": "", "decision_by": ""})
    ann.text("rejected")
    ann.press("Analyst at Acme")
    replies = ann.press("Doubting myself")
    asking = replies[-1]
    assert "from 1 (a little) to 5 (a lot)" in asking.text
    assert asking.scale == (1, 5) and not asking.choices
    buttons = first_button(ann.fake.named("chat.postMessage")[-1].args)
    assert buttons["text"]["text"] == "1"
    ts, message, four, _ = ann._find("4")
    replies = ann.press("4")
    assert "verdict on you" in " ".join(r.text for r in replies)
    # A copy of that "4" pressed again later is an earlier message's button, as any other.
    mark = ann.fake.mark()
    action = {**four, "block_id": render.ACTIONS_BLOCK, "action_ts": "7.0"}
    ann.h.send_payload(ann._action_payload(ts, message, action))
    assert ann.replies(mark)[0].text == engine.messages["stale"]


def test_scale_buttons_round_trip() -> None:
    from bot.conversation.messages import Reply

    reply = Reply(text="How strongly?", token="r.intensity.3", scale=(1, 5))
    message = render.to_message(reply, "Fill in", owner="U1")
    elements = message["blocks"][-1]["elements"]
    assert [e["text"]["text"] for e in elements] == ["1", "2", "3", "4", "5"]
    assert parse_message(message) == reply
    assert all(render.value_owner(e["value"]) == "U1" for e in elements)
