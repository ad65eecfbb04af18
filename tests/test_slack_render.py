"""The pure Slack converters: Block Kit, modals, App Home, and reading payloads back."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.coaching.summary import Summary
from bot.conversation.messages import Choice, Field, Form, Reply, UserKey
from bot.platforms.slack import convert as render

from .fakes.slack_driver import parse_message

USER = UserKey("slack", "T1", "U1")
CHROME = {key: f"[{key}]" for key in render.CHROME_KEYS}
CHROME.update(home_step="Now: {step}", home_paused="{step} (paused)")


def test_reply_round_trips_through_blocks() -> None:
    reply = Reply(
        text="Pick one <b> & go",
        choices=(Choice("a", "Alpha"), Choice("b", "Beta")),
        token="flow.state.4",
    )
    message = render.to_message(reply, "Fill in")
    assert message["text"] == "Pick one &lt;b&gt; &amp; go"
    assert parse_message(message) == reply


def test_more_than_five_choices_become_a_select_menu() -> None:
    choices = tuple(Choice(f"c{i}", f"Choice {i}") for i in range(8))
    blocks = render.to_blocks(Reply(text="Which?", choices=choices, token="t.s.1"), "Fill in")
    (menu,) = blocks[-1]["elements"]
    assert menu["type"] == "static_select" and len(menu["options"]) == 8
    assert parse_message({"blocks": blocks}).choices == choices


def test_form_reply_gets_a_fill_in_button_carrying_token_and_form_id() -> None:
    form = Form("details", "Details", (Field("title", "Title"),))
    blocks = render.to_blocks(Reply(text="Tell me.", form=form, token="f.s.2"), "Fill in")
    button = blocks[-1]["elements"][-1]
    assert button["action_id"] == render.OPEN_FORM_ACTION and button["text"]["text"] == "Fill in"
    assert render.decode_value(button["value"]) == ("f.s.2", "details")


@given(st.text(min_size=1, max_size=9000) | st.text("a&<> \n", min_size=2900, max_size=9000))
def test_any_text_fits_slack_sections_and_survives(text: str) -> None:
    sections = render.to_blocks(Reply(text=text), "Fill in")
    assert all(0 < len(b["text"]["text"]) <= render.SECTION_TEXT for b in sections)
    rebuilt = render.unescape("\n".join(b["text"]["text"] for b in sections))
    assert "".join(rebuilt.split()) == "".join(text.split())  # nothing lost but spacing


def test_answered_message_keeps_text_and_drops_buttons() -> None:
    blocks = render.to_blocks(Reply(text="Q?", choices=(Choice("y", "Yes"),), token="t"), "x")
    after = render.answered(blocks, "Yes")
    assert [b["type"] for b in after] == ["section", "context"]
    assert "Yes" in after[-1]["elements"][0]["text"]


def test_modal_has_one_input_per_field_with_the_right_element() -> None:
    form = Form(
        "f",
        "A title far longer than Slack's twenty-four",
        (
            Field("name", "Name", max_length=40, placeholder="e.g. Acme"),
            Field("notes", "Notes", kind="long_text", required=False),
            Field("when", "When", kind="datetime"),
            Field("score", "Score", kind="number"),
            Field("stage", "Stage", kind="choice", options=(Choice("one", "One"),)),
        ),
    )
    view = render.to_modal(form, "f.s.9", "D1", "123.4", owner="U1")
    assert len(view["title"]["text"]) <= 24
    kinds = {b["block_id"]: (b["element"]["type"], b["optional"]) for b in view["blocks"]}
    assert kinds == {
        "name": ("plain_text_input", False),
        "notes": ("plain_text_input", True),
        "when": ("datepicker", False),  # a date and time: Slack's two pickers
        "when__time": ("timepicker", False),
        "score": ("number_input", False),
        "stage": ("static_select", False),
    }
    assert view["blocks"][0]["element"]["max_length"] == 40
    meta = json.loads(view["private_metadata"])
    assert meta == {"t": "f.s.9", "u": "U1", "c": "D1", "m": "123.4"}


def test_submitted_modal_reads_back_into_a_form_inbound() -> None:
    view = {
        "private_metadata": json.dumps({"t": "f.s.9", "u": "U1", "c": "D1", "m": "1.2"}),
        "state": {
            "values": {
                "name": {"value": {"type": "plain_text_input", "value": "Acme"}},
                "notes": {"value": {"type": "plain_text_input", "value": None}},
                "stage": {"value": {"type": "static_select", "selected_option": {"value": "one"}}},
            }
        },
    }
    inbound = render.form_to_inbound(USER, view)
    assert inbound.form == {"name": "Acme", "notes": "", "stage": "one"}
    assert inbound.token == "f.s.9" and inbound.user == USER


def test_modal_errors_only_when_every_error_names_a_field() -> None:
    view = {"blocks": [{"block_id": "when"}, {"block_id": "name"}]}
    assert render.modal_errors(view, {"when": "Not a date"}) == {"when": "Not a date"}
    assert render.modal_errors(view, {"other": "?"}) is None
    assert render.modal_errors(view, {}) is None


@pytest.mark.parametrize("value", ["", "not json", "[]", '{"t": "x"}', "null"])
def test_garbage_button_values_decode_to_no_choice(value: str) -> None:
    assert render.decode_value(value)[1] == ""


def test_choice_inbound_from_button_and_menu() -> None:
    value = render.encode_value("t.s.1", "red", "U1")
    button = {"type": "button", "value": value, "text": {"text": "Red"}}
    menu = {"type": "static_select", "selected_option": {"value": value, "text": {"text": "Red"}}}
    for action in (button, menu):
        inbound, label = render.choice_to_inbound(USER, action)
        assert (inbound.choice, inbound.token, label) == ("red", "t.s.1", "Red")


def test_text_from_slack_is_unescaped_and_mentions_dropped() -> None:
    assert render.strip_mentions("<@UBOT>  rejected  today") == "rejected today"
    inbound = render.message_to_inbound(USER, "A &amp; B &lt;3", "Ev1")
    assert (inbound.text, inbound.event_id) == ("A & B <3", "Ev1")


def test_identity_is_workspace_and_user() -> None:
    assert render.user_key("T9", "E1", "U1") == UserKey("slack", "T9", "U1")
    assert render.user_key(None, "E1", "U1") == UserKey("slack", "E1", "U1")


def test_home_view_lists_the_summary_and_offers_continue() -> None:
    summary = Summary(
        known=True, step="Rejection", paused=True, interviews=["Analyst at Acme"], plan=[]
    )
    view = render.to_home_view(summary, CHROME)
    shown = json.dumps(view)
    assert view["type"] == "home"
    assert "Now: Rejection (paused)" in shown and "Analyst at Acme" in shown
    assert "[home_none]" in shown  # the empty plan says so
    assert view["blocks"][-1]["elements"][0]["action_id"] == render.HOME_CONTINUE_ACTION
    idle = json.dumps(render.to_home_view(Summary(known=False), CHROME))
    assert "[home_idle]" in idle


def test_a_value_the_bot_already_knows_starts_in_the_field() -> None:
    """Details from a sentence ("rejected from Stripe") open the modal filled in, to confirm."""
    form = Form("f", "T", (Field("company", "Company", value="Stripe"), Field("role", "Role")))
    blocks = {b["block_id"]: b["element"] for b in render.to_modal(form, "t", "D1", None)["blocks"]}
    assert blocks["company"]["initial_value"] == "Stripe"
    assert "initial_value" not in blocks["role"]
