"""Understanding in whole turns, as a person meets it (issue 13), beyond the transcripts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.conversation.interpret import shared_encoder
from bot.conversation.messages import Reply, UserKey
from bot.storage.db import Database
from bot.storage.models import Conversation, User
from tests.behaviour import production

from .conftest import Clock, EngineDriver

pytestmark = pytest.mark.skipif(shared_encoder() is None, reason="the model package is missing")


def _texts(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def _started(engine: Engine, clock: Clock, who: str) -> EngineDriver:
    clock.set("2026-12-01 18:00")
    driver = EngineDriver(engine, UserKey("slack", "T1", who), clock)
    driver.text("hi")
    driver.press("Yes, that's right")
    return driver


def _conversation(db: Database, who: str) -> Conversation:
    with db.transaction() as s:
        user = s.scalars(select(User).where(User.external_id == who)).one()
        conv = s.scalars(select(Conversation).where(Conversation.user_id == user.id)).one()
        s.expunge(conv)
        return conv


def test_a_sentence_prefills_the_interview_form(engine: Engine, clock: Clock) -> None:
    driver = _started(engine, clock, "prefill")
    replies = driver.text("I have an interview on friday with Monzo for a PM role")
    if replies[-1].form is None:  # asked first ("Would you like to log an interview?")
        assert "log an interview" in _texts(replies)
        replies = driver.press("Yes, please")
    form = replies[-1].form
    assert form is not None
    values = {f.id: f.value for f in form.fields}
    assert values["company"] == "Monzo" and values["role"] == "PM"
    assert values["when"].startswith("2026-12-04")  # Tuesday 1 Dec: "friday" is the 4th


def test_the_half_done_debrief_is_offered_back(
    engine: Engine, clock: Clock, db: Database
) -> None:
    driver = _started(engine, clock, "resume")
    driver.text("log")
    driver.form({"company": "Monzo", "role": "Product manager", "when": "today 9am"})
    driver.press("First round")
    driver.form({})
    driver.press("Yes, debrief now")
    driver.text("not great honestly")
    assert "Shall we switch" in _texts(driver.text("Stripe just emailed, they rejected me"))
    driver.press("Yes, switch")
    driver.press("One I didn't log")
    driver.form({"company": "Stripe", "role": "Designer"})
    driver.press("First round")
    driver.text("gutted")
    driver.text("3")
    driver.press("Stop here for today")
    replies = driver.press("Something else")
    assert "partway through: Interview debrief (Monzo)" in _texts(replies)
    replies = driver.press("Carry on")
    assert "what did they ask you?" in _texts(replies)
    conv = _conversation(db, "resume")
    assert (conv.flow, conv.state) == ("debrief", "asked")
    assert conv.slots["how"] == "rough" and conv.slots["company"] == "Monzo"
    # The news itself was never stored as a debrief answer.
    assert "asked" not in conv.slots


def test_forget_and_export_are_only_ever_offered(engine: Engine, clock: Clock) -> None:
    driver = _started(engine, clock, "careful")
    for sentence in ("erase everything about me", "can I have a copy of all my data"):
        replies = driver.text(sentence)
        assert "Are you sure?" not in _texts(replies) and replies[-1].file is None
        assert replies[-1].choices, "a guess at a private flow is asked with buttons"
        driver.press("Show me the menu")
    assert "Are you sure?" in _texts(driver.text("forget me"))  # the exact command, as before


def test_after_a_crisis_reply_the_next_message_is_acted_on(engine: Engine, clock: Clock) -> None:
    driver = _started(engine, clock, "after")
    assert "coaching bot" in _texts(driver.text("I want to die"))
    replies = driver.text("export")
    assert "glad you wrote again" in _texts(replies)
    assert any(r.file for r in replies)  # the export itself, not swallowed by the note


class CountingEncoder:
    """The real encoder, counting the texts it is asked to encode."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.dim, self.texts = inner, inner.dim, 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.encode(texts)


def test_buttons_numbers_and_exact_words_never_run_the_encoder(
    db: Database, settings, clock: Clock  # type: ignore[no-untyped-def]
) -> None:
    counting = CountingEncoder(shared_encoder())
    engine = Engine(db, settings, production(), clock=clock, encoder=counting)
    driver = _started(engine, clock, "cheap")
    counting.texts = 0
    driver.press("I got a rejection")
    driver.form({"company": "Acme", "role": "Analyst"})
    driver.press("First round")
    driver.press("Numb")
    driver.text("2")
    driver.text("Another thought")
    driver.text("menu")
    driver.text("3")
    assert counting.texts == 0
    driver.text("they finally sent me some feedback")
    assert counting.texts == 1  # one vector per typed message, shared by every layer


def test_without_the_model_the_bot_still_runs_on_words(
    db: Database, settings, clock: Clock, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    from bot.understanding import encoder as encoder_module

    caplog.set_level(logging.WARNING)
    engine = Engine(
        db, settings, production(), clock=clock,
        encoder=lambda: encoder_module.load_encoder(Path("/nonexistent")),
    )  # fmt: skip
    driver = _started(engine, clock, "wordsonly")
    replies = driver.text("so I got rejected again")
    assert "talk through a rejection" in _texts(replies)  # the command phrase, offered
    assert "yes, not now" not in _texts(replies)
    assert "Sorry" not in _texts(driver.text("rejected"))


def test_rejected_from_a_named_company_picks_its_open_interview(
    engine: Engine, clock: Clock, db: Database
) -> None:
    driver = _started(engine, clock, "named")
    for company in ("Monzo", "Stripe"):
        driver.text("log")
        driver.form({"company": company, "role": "Designer", "when": "friday 2pm"})
        driver.press("First round")
        driver.form({})
    replies = driver.text("I got rejected from Stripe today, gutted")
    if "How are you feeling" not in _texts(replies):  # asked first: a guess, confirmed
        replies = driver.press("Yes, please")
    assert "How are you feeling right now?" in _texts(replies)
    conv = _conversation(db, "named")
    assert conv.slots["company"] == "Stripe"


def test_words_typed_for_a_choice_are_the_evidence_of_a_theme(
    engine: Engine, clock: Clock, db: Database
) -> None:
    from bot.storage.models import ThemeTag

    driver = _started(engine, clock, "evidence")
    driver.text("reflect")
    driver.text("skip")  # no debrief: what they asked comes first
    driver.press("Well prepared")
    for _ in range(2):
        driver.text("skip")
    replies = driver.text("yes, my nerves got the better of me, I froze")
    if "I think you mean" in _texts(replies):
        driver.text("yes")
    for _ in range(8):
        if "Thanks for being honest" in _texts(driver.last):
            break
        if driver.last[-1].choices:
            driver.press(driver.last[-1].choices[0].label)
        else:
            driver.text("skip")
    with db.transaction() as s:
        tags = {t.theme: t.evidence for t in s.scalars(select(ThemeTag))}
    assert "froze" in tags["nerves"] or "better of me" in tags["nerves"], tags


def test_the_terminal_keeps_a_prefilled_value_on_enter_or_yes() -> None:
    from bot.conversation.messages import Field
    from bot.platforms.terminal.convert import field_prompt, keep_or

    company = Field("company", "Company", value="Monzo")
    assert field_prompt(company) == "Company [Monzo] (Enter keeps it):"
    assert keep_or("", company) == keep_or("yes", company) == "Monzo"
    assert keep_or("Stripe", company) == "Stripe"
    assert keep_or("", Field("role", "Role")) == ""


def test_flows_check_warns_about_examples_of_two_flows_that_mean_the_same() -> None:
    from bot.conversation.flow_loader import load_flows
    from bot.conversation.interpret import close_examples

    flows, _ = load_flows(Path(__file__).resolve().parent.parent / "flows")
    assert close_examples(flows, shared_encoder()) == []  # the shipped flows are told apart
    clash = flows["plan"].model_copy(
        update={"understand": flows["plan"].understand.model_copy(
            update={"examples": ("they have offered me the position",)}
        )}
    )  # fmt: skip
    warnings = close_examples({**flows, "plan": clash}, shared_encoder())
    assert warnings and all(w.level == "warning" for w in warnings)
    assert any("plan" in w.message or w.file == "plan.yaml" for w in warnings)


def test_waiting_messages_are_encoded_in_one_batch_and_never_the_cheap_ones(
    engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An inbox worker's batch (``Engine.prepare``): the sentences go through the model in one
    forward pass and their turns find the vectors in the cache; numbers, global words, option
    labels and commands are never encoded, batch or not."""
    import uuid

    encoder = engine.interpreter.encoder
    assert encoder is not None
    runs: list[list[str]] = []
    real = encoder._encode_uncached  # type: ignore[attr-defined]

    def counted(texts: list[str]) -> np.ndarray:
        runs.append(list(texts))
        return real(texts)

    monkeypatch.setattr(encoder, "_encode_uncached", counted)
    tag = uuid.uuid4().hex[:6]  # never seen before: nothing cached
    driver = _started(engine, clock, "batched")
    driver.text(f"honestly gutted about it {tag}")
    assert len(runs) == 1  # without a batch, the turn runs the model itself

    runs.clear()
    waiting = [f"so annoyed, I did everything right {tag}", f"kind of numb about it {tag}",
               "2", " help ", "menu", "Yes, that's right", "rejected", "forget me"]  # fmt: skip
    assert engine.prepare(waiting) == 2
    assert runs == [[f"so annoyed, I did everything right {tag}", f"kind of numb about it {tag}"]]
    driver.text(f"so annoyed, I did everything right {tag}")
    driver.text(f"kind of numb about it {tag}")
    driver.text("2")
    assert len(runs) == 1  # the turns used the batch's vectors
    assert engine.prepare([f"only one waiting {tag}"]) == 0  # its own turn will encode it
