"""The pure Discord converters: ids within limits for every shipped flow, splitting, parsing."""

from __future__ import annotations

import re

from bot.conversation.engine import Engine
from bot.conversation.messages import Choice, Field, Form, Image, Reply
from bot.platforms.discord import convert as render

LONG_STEP = 10**9  # a person a billion steps in still gets valid ids


def test_every_shipped_choice_and_form_fits_in_a_custom_id(engine: Engine) -> None:
    for flow in engine.flows.values():
        for name, state in flow.states.items():
            token = f"{flow.name}.{name}.{LONG_STEP}"
            for choice in state.choices:
                custom_id = render.choice_id(token, choice.id)
                assert len(custom_id) <= render.CUSTOM_ID_LIMIT, custom_id
                assert render.CHOICE.fullmatch(custom_id)["choice"] == choice.id  # type: ignore[index]
            if state.form:
                assert len(render.modal_id(token, 9, 9)) <= render.CUSTOM_ID_LIMIT
                for fld in state.form.fields:
                    assert len(fld.label) <= render.TITLE_LIMIT, (flow.name, name, fld.id)
                assert len(state.form.title) <= render.TITLE_LIMIT - len(" (9/9)")


def test_option_choices_keep_their_colon() -> None:
    match = render.CHOICE.fullmatch(render.choice_id("plan.pick.12", "opt:34"))
    assert match is not None and (match["token"], match["choice"]) == ("plan.pick.12", "opt:34")


def test_long_text_is_split_at_line_breaks_within_the_limit() -> None:
    text = "\n".join(f"line {n} " + "x" * 90 for n in range(60))
    chunks = render.split_content(text)
    assert len(chunks) > 1 and all(len(c) <= render.CONTENT_LIMIT for c in chunks)
    assert "\n".join(chunks) == text
    assert render.split_content("y" * 4500) == ["y" * 2000, "y" * 2000, "y" * 500]


def test_components_go_on_the_last_of_several_messages() -> None:
    reply = Reply(text="z" * 2500, choices=(Choice("a", "A"),), token="f.s.1")
    first, last = render.to_messages(reply, "Fill in")
    assert first.view is None and last.view is not None


def test_choices_whose_ids_cannot_fit_are_numbered_in_the_text() -> None:
    reply = Reply(text="Pick.", choices=(Choice("x" * 120, "Far"),), token="f.s.1")
    (out,) = render.to_messages(reply, "Fill in")
    assert out.view is None and out.content == "Pick.\n1. Far"


def test_an_empty_reply_sends_nothing() -> None:
    assert render.to_messages(Reply(text="  "), "Fill in") == []


def test_image_and_file_are_attached_with_alt_text(tmp_path) -> None:  # type: ignore[no-untyped-def]
    chart, export = tmp_path / "chart.png", tmp_path / "data.json"
    chart.write_bytes(b"\x89PNG")
    export.write_text("{}")
    far = (Choice("x" * 120, "Far"),)  # choices that fall back to text keep the files
    reply = Reply(text="Here.", choices=far, image=Image(str(chart), "A chart"), file=str(export))
    kwargs = render.to_messages(reply, "Fill in")[0].send_kwargs()
    assert [f.filename for f in kwargs["files"]] == ["chart.png", "data.json"]
    assert kwargs["files"][0].description == "A chart"


def test_form_parts_hold_at_most_five_fields() -> None:
    fields = tuple(Field(f"f{n}", f"F{n}") for n in range(11))
    parts = render.form_parts(Form("x", "X", fields))
    assert [len(p) for p in parts] == [5, 5, 1]


def test_modal_values_reads_labels_rows_and_selects() -> None:
    data = {
        "custom_id": "rb:m:t.s.1:0/1",
        "components": [
            {"type": 18, "id": 1, "component": {"type": 4, "custom_id": "a", "value": "one"}},
            {"type": 1, "components": [{"type": 4, "custom_id": "b", "value": ""}]},
            {"type": 18, "id": 3, "component": {"type": 3, "custom_id": "c", "values": ["red"]}},
            {"type": 18, "id": 4, "component": {"type": 3, "custom_id": "d", "values": []}},
        ],
    }
    assert render.modal_values(data) == {"a": "one", "b": "", "c": "red", "d": ""}


def test_subcommands_come_from_the_flows_commands(engine: Engine) -> None:
    """Every flow with ``commands:`` gives /rebound its first word, described by its title."""
    described = render.subcommand_descriptions(engine.commands_for_slash())
    assert {"log", "rejected", "plan", "progress", "reminders", "help", "feedback-reply"} <= set(
        described
    )
    assert described["rejected"] == engine.messages["command_rejected"]
    assert len(described) <= 25  # Discord's limit of subcommands in a group
    for sub, text in described.items():
        assert re.fullmatch(r"[a-z0-9_-]{1,32}", sub), sub  # Discord's rule for command names
        assert 1 <= len(text) <= render.OPTION_LIMIT


def test_a_value_the_bot_already_knows_starts_in_the_modal_field() -> None:
    """Details from a sentence open the modal filled in, for the person to confirm or change."""
    form = Form("f", "T", (Field("company", "Company", value="Stripe"), Field("role", "Role")))
    modal = render.to_modal(form, "t", 0)
    inputs = {c.custom_id: c for c in modal.walk_children() if hasattr(c, "default")}
    assert inputs["company"].default == "Stripe"
    assert not inputs["role"].default
