"""Property test: whatever a person (or a forged payload) sends, the engine answers and the
stored conversation stays in a state its flow knows."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey
from bot.storage.models import Conversation

from .conftest import Clock

WORDS = ["help", "pause", "back", "start over", "stop", "menu", "resume", "log", "rejected",
         "plan", "progress", "debrief", "feedback", "reflect", "heard back", "1", "2", "3", "9",
         "skip", "tomorrow", "friday 2pm", "", "🙂", "forget me", "export"]  # fmt: skip

actions = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(WORDS)),
    st.tuples(st.just("text"), st.text(max_size=60)),
    st.tuples(st.just("press"), st.integers(min_value=0, max_value=9)),
    st.tuples(st.just("stale"), st.sampled_from(["yes", "opt:1", "opt:999", "log", "x" * 300])),
    st.tuples(
        st.just("form"),
        st.dictionaries(
            st.sampled_from(["company", "role", "when", "interviewer", "decision_by", "evil"]),
            st.text(max_size=30),
            max_size=6,
        ),
    ),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(actions, min_size=1, max_size=25))
def test_engine_always_answers_and_state_stays_known(
    engine: Engine, clock: Clock, moves: list[tuple[str, object]]
) -> None:
    play(engine, clock, moves)


def play(engine: Engine, clock: Clock, moves: list[tuple[str, object]]) -> None:
    """Send the moves as one person; every answer must exist and no turn may fail."""
    clock.now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    user = UserKey("terminal", "local", f"fuzz{id(moves)}")
    last = engine.resume(user)
    for kind, value in moves:
        token = next((r.token for r in reversed(last) if r.token), None)
        if kind == "text":
            inbound = Inbound(user=user, text=str(value))
        elif kind == "press":
            choices = [c for r in last for c in r.choices]
            if not choices:
                continue
            chosen = choices[int(value) % len(choices)]  # type: ignore[call-overload]
            inbound = Inbound(user=user, choice=chosen.id, token=token)
        elif kind == "stale":
            inbound = Inbound(user=user, choice=str(value), token="home.menu.0")
        else:
            inbound = Inbound(user=user, form=dict(value), token=token)  # type: ignore[call-overload]
        replies = engine.handle(inbound)
        assert replies, f"no answer to {kind} {value!r}"
        assert all("went wrong" not in r.text for r in replies), f"{kind} {value!r} crashed a turn"
        last = replies
        clock.advance(minutes=7)
    with engine.db.transaction() as s:
        for conv in s.scalars(select(Conversation)):
            assert conv.flow in engine.flows
            assert conv.state in engine.flows[conv.flow].states
