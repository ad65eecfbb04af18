"""Issue 15, feedback and names: bullets that read naturally, subjects that name the company,
suggested questions, the employer's reply kept and tagged, and the name to sign with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.coaching.feedback import draft_email, is_question, is_unsure, shape_points, suggest_for
from bot.coaching.names import clean_name, looks_like_a_name
from bot.coaching.templates import Templates
from bot.conversation.engine import Engine
from bot.conversation.flow_loader import load_yaml
from bot.conversation.messages import UserKey
from bot.storage.models import FeedbackRequest, Reflection, ThemeTag, User

from .conftest import FLOWS, Clock, EngineDriver

WORDS = Templates.model_validate(load_yaml(FLOWS / "_templates.yaml"))
CONJUNCTIONS = ("and ", "but ", "or ", "also ", "plus ", "so ")


# ---------------------------------------------------------------------- bullets


@pytest.mark.parametrize(
    ("typed", "bullets"),
    [
        ("not sure, what should I ask?", []),
        ("idk", []),
        ("no idea what to ask tbh", []),
        ("which SQL skills to build first", ["Which SQL skills to build first"]),
        ("which SQL skills should i build first", ["Which SQL skills should I build first?"]),
        ("- and whether my examples were too long.", ["Whether my examples were too long"]),
        ("what went well and what didn't", ["What went well and what didn't"]),
        ("SQL, Python, Tableau", ["SQL, Python, Tableau"]),
        (
            "how my case study came across, which skills were missing",
            ["How my case study came across", "Which skills were missing?"],
        ),
        (
            "how my answers came across, and whether I showed enough leadership in the panel "
            "exercise with the two directors",
            [
                "How my answers came across",
                "Whether I showed enough leadership in the panel exercise with the two directors",
            ],
        ),
        (
            "how my answers came across and whether I showed enough leadership in the panel "
            "exercise with the two directors",
            [
                "How my answers came across",
                "Whether I showed enough leadership in the panel exercise with the two directors",
            ],
        ),
        (
            "1) how i came across\n2) did my portfolio help",
            ["How I came across", "Did my portfolio help?"],
        ),
        (
            "Did nerves show, and did they get in the way?",
            ["Did nerves show, and did they get in the way?"],
        ),
        ("iOS experience they wanted", ["iOS experience they wanted"]),
        ("what is missing?\nWhat is missing", ["What is missing?"]),
        ("not sure, maybe how my SQL test went", ["How my SQL test went"]),
    ],
)
def test_points_become_natural_bullets(typed: str, bullets: list[str]) -> None:
    assert shape_points(typed) == bullets


MESSY = [
    "and also whether i was too quiet, but how to fix that",
    "AND what they thought of my portfolio;;; or whether the salary was the issue",
    "   ,,, and ... ",
    "so, basically, what did i get wrong and how do i improve and whether to apply again and "
    "if they would consider me for the junior role instead of the senior one next spring",
    "? ? ?",
    "x" * 900,
    "how; why; when; where",
]


@pytest.mark.parametrize("typed", MESSY)
def test_no_bullet_ever_starts_with_a_conjunction_or_a_small_letter(typed: str) -> None:
    bullets = shape_points(typed)
    assert len(bullets) <= 5
    for bullet in bullets:
        assert not bullet.lower().startswith(CONJUNCTIONS), bullet
        assert not bullet[0].islower(), bullet
        assert bullet == bullet.strip() and not bullet.endswith((".", ",", ";"))
        if is_question(bullet):
            assert bullet.endswith("?"), bullet


def test_questions_are_told_from_clauses() -> None:
    assert is_question("What should I practise")
    assert is_question("Was my presentation too long")
    assert is_question("What's missing from my CV")
    assert not is_question("What I could have done better")
    assert not is_question("What went well in my interview")
    assert not is_question("How my answers came across")


def test_unsure_is_only_unsure_when_that_is_all_it_says() -> None:
    assert is_unsure("not sure, what should I ask?")
    assert is_unsure("you tell me")
    assert not is_unsure("I don't know how my SQL answers came across to the panel")
    assert not is_unsure("what would you suggest I work on first")


# ---------------------------------------------------------------------- subjects


def _subject(text: str) -> str:
    first = text.splitlines()[0]
    assert first.startswith("Subject: ")
    return first


def test_subjects_name_the_company_and_the_second_is_its_own() -> None:
    first = draft_email(WORDS, "Acme", "Analyst", "Priya", ["my SQL answer"], "Sam", second=False)
    again = draft_email(WORDS, "Acme", "Analyst", "", ["SQL depth"], "Sam", second=True)
    assert "Acme" in _subject(first) and "Analyst" in _subject(first)
    assert "Acme" in _subject(again) and "Analyst" in _subject(again)
    assert _subject(first) != _subject(again)
    other = draft_email(WORDS, "Globex", "Analyst", "", [], "Sam", second=True)
    assert _subject(other) != _subject(again)  # the company makes each one its own
    nudge = WORDS.follow_up.format(greeting="Hello,", role="Analyst", company="Acme", name="Sam")
    assert "Acme" in _subject(nudge)


def test_a_repeated_question_is_asked_once() -> None:
    text = draft_email(WORDS, "Acme", "Analyst", "", ["What went well in my interview?"], "Sam",
                       second=False)  # fmt: skip
    assert text.lower().count("what went well in my interview") == 1
    bullets = [line for line in text.splitlines() if line.startswith("- ")]
    assert bullets == ["- What went well in my interview", "- What I could have done better"]


# ---------------------------------------------------------------------- suggestions


def test_suggestions_answer_the_reply_then_the_themes_then_the_reflection() -> None:
    words = WORDS.suggestions
    got = suggest_for(
        words,
        "Thanks for your time. We went with a stronger candidate.",
        ["nerves", "skills_gap"],
        "the one about salary expectations",
    )
    assert got == [
        words.from_reply[0].ask,
        words.themes["nerves"],
        "What would a strong answer on salary expectations have included?",
    ]


def test_with_nothing_to_go_on_the_suggestions_are_general() -> None:
    words = WORDS.suggestions
    assert suggest_for(words, "", [], "") == list(words.general[:3])
    # A long or empty off-guard answer doesn't make a clumsy question.
    long = "when they asked me to walk through a time I disagreed with my manager about a plan"
    assert suggest_for(words, "", [], long) == list(words.general[:3])
    assert suggest_for(words, "", [], "none") == list(words.general[:3])


def test_a_question_already_asked_is_not_suggested_again() -> None:
    words = WORDS.suggestions
    asked = frozenset({words.general[0].rstrip("?").casefold()})
    assert words.general[0] not in suggest_for(words, "", [], "", asked=asked)
    assert len(suggest_for(words, "", [], "", asked=asked)) == 2  # nothing is made up


def test_a_suggestion_too_long_for_a_button_fails_the_check(tmp_path: Path) -> None:
    data = load_yaml(FLOWS / "_templates.yaml")
    data["suggestions"]["general"] = ["x " * 50]
    with pytest.raises(ValueError, match="75"):
        Templates.model_validate(data)
    data = load_yaml(FLOWS / "_templates.yaml")
    data["suggestions"]["themes"] = {"nervs": "Did I seem nervous?"}
    with pytest.raises(ValueError, match="nerves"):
        Templates.model_validate(data)


def _to_second_round(chat: EngineDriver, clock: Clock) -> None:
    chat.text("hi")
    chat.press("Yes, that's right")
    chat.text("log")
    chat.form({"company": "Initech", "role": "Analyst", "when": "today 8am"})
    chat.press("First round")
    chat.form({})
    chat.press("Not now")
    chat.text("feedback")
    chat.press("Analyst at Initech")
    chat.press("Draft it with me")
    chat.text("skip")
    chat.text("skip")
    chat.text("Sam Okafor")
    chat.press("I've sent it")
    chat.text("stop")
    clock.advance(days=4)
    chat.text("feedback reply")
    chat.press("Initech (23 Nov)")
    chat.press("Yes, but it was vague")


def test_the_employers_reply_is_kept_and_tagged_with_its_words(
    engine: Engine, chat: EngineDriver, clock: Clock
) -> None:
    _to_second_round(chat, clock)
    reply = "We chose a candidate with more experience of stakeholder work."
    chat.text(reply)
    with engine.db.transaction() as s:
        request = s.scalars(select(FeedbackRequest)).one()
        assert request.reply_text == reply and request.reply == "vague"
        tags = s.scalars(select(ThemeTag).where(ThemeTag.source == "employer_reply")).all()
        assert [(t.theme, t.evidence, t.interview_id) for t in tags] == [
            ("experience", "more experience", request.interview_id)
        ]
    path = next(r.file for r in chat.text("export") if r.file)
    assert path is not None
    exported = json.loads(Path(path).read_text())
    assert [r["reply_text"] for r in exported["feedback_requests"]] == [reply]
    assert any(t["source"] == "employer_reply" for t in exported["themes"])


def test_a_huge_reply_is_refused_with_a_reason_and_nothing_is_kept(
    engine: Engine, chat: EngineDriver, clock: Clock
) -> None:
    _to_second_round(chat, clock)
    replies = chat.text("word " * 1000)
    assert "4000" in " ".join(r.text for r in replies)
    with engine.db.transaction() as s:
        assert s.scalars(select(FeedbackRequest)).one().reply_text is None


def test_picked_questions_come_from_what_this_person_said(
    engine: Engine, chat: EngineDriver, clock: Clock
) -> None:
    _to_second_round(chat, clock)
    chat.text("Sorry, it was very close. Your technical answers were good.")
    replies = chat.press("Yes, please")
    labels = [c.label for c in replies[-1].choices]
    words = WORDS.suggestions
    assert labels[:2] == [words.from_reply[1].ask, words.themes["skills_gap"]]
    chat.press(words.themes["skills_gap"])
    replies = chat.press("Draft it now")
    draft = replies[-1].text
    assert f"- {words.themes['skills_gap']}" in draft and "Sam Okafor" in draft
    with engine.db.transaction() as s:
        second = s.scalars(select(FeedbackRequest).order_by(FeedbackRequest.id)).all()
        assert len(second) == 1  # nothing saved until they say it's sent


def test_the_question_that_caught_them_out_is_suggested_in_their_words(
    engine: Engine, chat: EngineDriver, clock: Clock
) -> None:
    _to_second_round(chat, clock)
    with engine.db.transaction() as s:
        request = s.scalars(select(FeedbackRequest)).one()
        s.add(
            Reflection(
                user_id=request.user_id,
                interview_id=request.interview_id,
                answers={"off_guard_q": "the one about salary expectations"},
            )
        )
    chat.text("skip")
    labels = [c.label for c in chat.press("Yes, please")[-1].choices]
    assert "What would a strong answer on salary expectations have included?" in labels


# ---------------------------------------------------------------------- the name


def test_names_are_tidied_not_rewritten() -> None:
    assert clean_name('  "Sam   Lee" ') == "Sam Lee"
    assert clean_name("Zoë O’Brien-Nakamura") == "Zoë O’Brien-Nakamura"
    assert len(clean_name("a" * 300)) == 80
    assert clean_name("   ") == ""


def test_only_a_name_goes_under_an_email() -> None:
    assert looks_like_a_name("Dr María de la Cruz")
    assert looks_like_a_name("Jo")
    assert not looks_like_a_name("why do you need that?")
    assert not looks_like_a_name("I would rather you just put my first name on it please")
    assert not looks_like_a_name("42")


def test_the_sign_name_is_exported_and_forgotten(engine: Engine, clock: Clock) -> None:
    who = UserKey("terminal", "local", "sam")
    chat = EngineDriver(engine, who, clock)
    chat.text("hi")
    chat.press("Yes, that's right")
    chat.text("settings")
    chat.press("The name I sign with")
    assert "Sam Okafor" in chat.text("Sam Okafor")[0].text
    path = next(r.file for r in chat.text("export") if r.file)
    assert path is not None
    assert json.loads(Path(path).read_text())["person"]["sign_name"] == "Sam Okafor"
    chat.text("forget me")
    chat.press("Yes, delete everything")
    with engine.db.transaction() as s:
        assert s.scalars(select(User).where(User.sign_name == "Sam Okafor")).first() is None
