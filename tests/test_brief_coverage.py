"""Every idea in the coaching brief is delivered by a named flow state (or catalogue item).

If a state is renamed or removed, or its wording loses the idea, this test names the bullet.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.conversation.engine import Engine
from bot.conversation.flow_loader import load_flows
from bot.conversation.flow_spec import Variant
from tests.behaviour import production as load_behaviour

from .conftest import FLOWS, Clock

# brief bullet -> (flow, state, a phrase the state's text must contain)
BRIEF_STATES = {
    "A. name the feeling first, take time": ("rejection", "feeling", "no need to rush"),
    "A. rarely personal (more experience, skills match, language)": (
        "rejection", "reframe", "rarely personal"),
    "A. employer's investment, 'best' differs, outside your control": (
        "rejection", "reframe", "investment"),
    "A. a rejection message is not feedback nor your worth": (
        "rejection", "reframe", "isn't feedback"),
    "A. bigger picture: competitive market, rejection is normal": (
        "rejection", "reframe", "competitive"),
    "A. not ready: pause and check in later": ("rejection", "rest", "check in"),
    "B. always worth asking, never guaranteed, often generic": (
        "feedback", "why", "replies aren't guaranteed"),
    "B. prefer email so they are not put on the spot": ("feedback", "why", "email works best"),
    "B. stay polite, listen, never argue; they may hire you later": (
        "feedback", "sent", "listen rather than debate"),
    "B. ask once more with specific questions if vague": (
        "feedback_reply", "vague", "ask once more"),
    "B. the bot drafts the email": ("feedback", "draft", "here's a draft"),
    "B. the second request: specific questions to pick from": (
        "feedback_reply", "pick_questions", "a specific question"),
    "B. record what the employer wrote": ("feedback_reply", "reply_text", "what did they write"),
    "B. the bot checks back: did a reply come, was it specific": (
        "feedback_reply", "ask", "did {company} reply"),
    "C. reflect soon, while memory is fresh": ("reflect", "intro", "still fresh"),
    "C. questions asked, caught off guard": ("debrief", "off_guard", "off guard"),
    "C. body language": ("debrief", "body", "body language"),
    "C. objective review: what went well, what to improve": ("reflect", "answers", "happy with"),
    "C. preparation and research": ("reflect", "prep", "researched the company"),
    "C. nerves": ("reflect", "nerves", "nerves"),
    "C. what would you do differently": ("reflect", "differently", "what would you change"),
    "C. did relevant skills come across": ("reflect", "skills_shown", "skills"),
    "C. sort what you can change from what you cannot": ("reflect", "outside_control", "wasn't"),
    "C. recurring themes across rejections": ("reflect", "pattern", "came up in"),
    "D. rethink the search after repeated rejections": ("rethink", "observe", "search itself"),
    "D. roles that fit skills and personality": ("rethink", "fit", "gave you energy"),
    "D. adjacent roles or industries": ("rethink", "adjacent", "roles or industries"),
    "D. network, mentors, careers adviser": ("rethink", "people", "careers adviser"),
    "Offer: celebrate and close the loop": ("outcome", "offer", "congratulations"),
    "No news: a polite follow-up note": ("outcome", "quiet", "friendly nudge"),
}  # fmt: skip

# brief bullet -> (catalogue key, a phrase its title or tip must contain)
BRIEF_CATALOGUE = {
    "D. mock interviews": ("mock_interview", "practice interview"),
    "D. common questions, not scripted": ("common_questions", "without learning a script"),
    "D. research each company and role": ("research_routine", "company"),
    "D. courses, workshops, certifications": ("course", "certification"),
    "D. refresh CV and cover letter": ("cv_refresh", "cv and cover letter"),
    "D. network and careers adviser": ("network", "careers adviser"),
    "D. self-care, strengths, resilience": ("self_care", "proud of"),
    "D. techniques for interview nerves": ("nerves_techniques", "breathe"),
}  # fmt: skip


def _state_text(flow: str, state: str) -> str:
    flows, _ = load_flows(FLOWS)
    assert flow in flows, f"flow {flow!r} is gone"
    assert state in flows[flow].states, f"state {flow}.{state} is gone"
    parts: list[str] = []
    for msg in flows[flow].states[state].say:
        parts.extend(msg.texts() if isinstance(msg, Variant) else [msg])
    return " ".join(parts).lower()


@pytest.mark.parametrize("bullet", sorted(BRIEF_STATES))
def test_brief_bullet_has_a_state(bullet: str) -> None:
    flow, state, phrase = BRIEF_STATES[bullet]
    assert phrase.lower() in _state_text(flow, state), f"{bullet}: {flow}.{state} lost it"


@pytest.mark.parametrize("bullet", sorted(BRIEF_CATALOGUE))
def test_brief_bullet_has_a_plan_action(bullet: str) -> None:
    key, phrase = BRIEF_CATALOGUE[bullet]
    items = yaml.safe_load((FLOWS / "_catalogue.yaml").read_text())
    assert key in items, f"{bullet}: catalogue item {key!r} is gone"
    assert phrase in f"{items[key]['title']} {items[key]['tip']}".lower()


def test_feedback_email_asks_what_went_well_and_offers_a_call() -> None:
    from bot.coaching.feedback import draft_email
    from bot.coaching.templates import Templates
    from bot.conversation.flow_loader import load_yaml

    words = Templates.model_validate(load_yaml(FLOWS / "_templates.yaml"))
    text = draft_email(words, "Acme", "Analyst", "Priya", ["my SQL answer"], "Sam", second=False)
    assert "- What went well in my interview" in text and "done better" in text
    assert "short call at a time that suits you" in text
    assert "Dear Priya," in text and "- My SQL answer" in text and text.endswith("Sam")
    again = draft_email(words, "Acme", "Analyst", "", ["SQL depth"], "Sam", second=True)
    assert again.startswith("Subject:") and "Hello," in again and "- SQL depth" in again
    assert again.splitlines()[0] != text.splitlines()[0] and "Acme" in again.splitlines()[0]


def _words(text: str) -> int:
    return len(re.sub(r"\{[^}]+\}", "x", text).split())


def test_every_message_is_short() -> None:
    """No message over ~60 words (the crisis message's resource list is not counted)."""
    load_behaviour()
    flows, _ = load_flows(FLOWS)
    long = []
    for flow in flows.values():
        for state in flow.states.values():
            for msg in state.say:
                for text in msg.texts() if isinstance(msg, Variant) else [msg]:
                    if _words(text) > 60:
                        long.append(f"{flow.file} [{state.name}]: {_words(text)} words")
    messages = yaml.safe_load((FLOWS / "_messages.yaml").read_text())
    for key, text in messages.items():
        if _words(str(text)) > 60:
            long.append(f"_messages.yaml [{key}]: {_words(str(text))} words")
    assert long == []


def test_flow_files_do_not_contain_tabs_or_trailing_spaces() -> None:
    for path in Path(FLOWS).glob("*.yaml"):
        for no, line in enumerate(path.read_text().splitlines(), 1):
            assert "\t" not in line and line == line.rstrip(), f"{path.name}:{no}"


def test_every_brief_idea_is_reached_in_some_transcript(engine: Engine, clock: Clock) -> None:
    """A state that delivers an idea but that no transcript walks through could break unseen:
    every bullet's phrase (and every catalogue action's title) must show up in what the bot said
    while playing the golden transcripts."""
    from datetime import UTC, datetime

    from bot.conversation.messages import UserKey

    from .test_message_lengths import Recording
    from .transcript import all_transcripts, run

    said: list[str] = []
    for n, path in enumerate(all_transcripts()):
        clock.now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
        driver = Recording(engine, UserKey("terminal", "local", f"reader{n}"), clock)
        run(path, driver)
        for reply in driver.seen:
            said.append(reply.text.lower())
            said.extend(c.label.lower() for c in reply.choices)
    everything = "\n".join(said)
    missing = []
    for bullet, (_flow, _state, phrase) in BRIEF_STATES.items():
        pattern = re.escape(phrase.lower()).replace(r"\{", "{").replace(r"\}", "}")
        if not re.search(re.sub(r"\{[^}]+\}", ".+?", pattern), everything):
            missing.append(bullet)
    items = yaml.safe_load((FLOWS / "_catalogue.yaml").read_text())
    for bullet, (key, _phrase) in BRIEF_CATALOGUE.items():
        if items[key]["title"].lower() not in everything:
            missing.append(bullet)
    assert missing == []
