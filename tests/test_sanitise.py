"""NUL bytes and lone surrogates from a platform never reach the database (issue 11, item 8).

PostgreSQL refuses NUL in text and neither driver can encode a lone surrogate, so before the
fix every turn carrying one (in a display name, an id, an event id or the text) got the error
reply, again and again. Each adapter's own converter is used to build the ``Inbound``; the
turn runs on SQLite and, when REBOUND_TEST_POSTGRES_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bot.config import load_settings
from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey, clean_external
from bot.platforms.discord import convert as discord_render
from bot.platforms.slack import convert as slack_render
from bot.platforms.terminal import app as console_app
from bot.platforms.terminal import convert as console
from bot.storage.db import Database
from bot.storage.models import Base, ProcessedEvent, User
from tests.behaviour import production

from .conftest import FLOWS, Clock

PG_URL = os.environ.get("REBOUND_TEST_POSTGRES_URL")
BAD = "\x00\ud800"  # a NUL byte and a lone (high) surrogate


@pytest.fixture(params=["\x00", "\ud800", BAD], ids=["nul", "surrogate", "both"])
def bad(request: pytest.FixtureRequest) -> str:
    """PostgreSQL refuses the NUL; neither driver can encode the surrogate."""
    return str(request.param)


@pytest.fixture(scope="module")
def pg() -> Iterator[Database | None]:
    """One throwaway PostgreSQL database for the module (emptied after each test)."""
    if not PG_URL:
        yield None
        return
    from .test_postgres import create_database, drop_database

    url, admin, name = create_database(PG_URL)
    database = Database(url, pool_size=2)
    try:
        yield database
    finally:
        database.dispose()
        drop_database(admin, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: Clock,
    db: Database,
    pg: Database | None,
) -> Iterator[Engine]:
    settings = load_settings(None, flows_dir=str(FLOWS), data_dir=str(tmp_path / "out"))
    if request.param == "sqlite":
        yield Engine(db, settings, production(), clock=clock)
        return
    if pg is None:
        pytest.skip("REBOUND_TEST_POSTGRES_URL is not set")
    try:
        yield Engine(pg, settings, production(), clock=clock)
    finally:
        with pg.transaction() as s:
            for table in reversed(Base.metadata.sorted_tables):
                s.execute(table.delete())


def _stored_people(engine: Engine) -> list[tuple[str, str, str | None]]:
    with engine.db.transaction() as s:
        return [(u.workspace, u.external_id, u.display_name) for u in s.scalars(select(User))]


def _stored_events(engine: Engine) -> list[str]:
    with engine.db.transaction() as s:
        return list(s.scalars(select(ProcessedEvent.key)))


def _no_error(replies: list) -> None:  # type: ignore[type-arg]
    assert replies, "no reply at all"
    assert not any("went wrong" in r.text for r in replies), [r.text for r in replies]


def _no_bad_characters(values: list[str]) -> None:
    for value in values:
        assert "\x00" not in value and "\ud800" not in value, repr(value)


def test_clean_external_keeps_ordinary_text_and_real_emoji() -> None:
    assert clean_external("Zoë 🙂 <b>") == "Zoë 🙂 <b>"
    assert clean_external(f"a{BAD}b") == "a\ufffd\ufffdb"
    assert clean_external("\ud83d\ude42") == "🙂"  # a surrogate pair is the character it encodes


def test_inbound_built_anywhere_is_clean() -> None:
    inbound = Inbound(
        user=UserKey("slack", f"T{BAD}", f"U{BAD}"),
        text=f"hi{BAD}",
        choice=f"c{BAD}",
        form={f"k{BAD}": f"v{BAD}", "n": 3, "none": None},
        event_id=f"E{BAD}",
        token=f"t{BAD}",
        display_name=f"Sam{BAD}",
    )
    _no_bad_characters(
        [
            inbound.user.workspace,
            inbound.user.user_id,
            *(v for v in (inbound.text, inbound.choice, inbound.event_id, inbound.token) if v),
            inbound.display_name or "",
            *(inbound.form or {}),
            *(v for v in (inbound.form or {}).values() if isinstance(v, str)),
        ]
    )
    assert inbound.form is not None and inbound.form["n"] == 3 and inbound.form["none"] is None


def test_slack_converters(engine: Engine, bad: str) -> None:
    user = slack_render.user_key(f"T{bad}", None, f"U{bad}")
    first = engine.handle(slack_render.message_to_inbound(user, f"hi{bad}", f"Ev0{bad}"))
    assert "I'm Rebound" in " ".join(r.text for r in first)
    # every turn, not just the first, used to fail
    _no_error(engine.handle(slack_render.message_to_inbound(user, f"hi{bad}", f"Ev1{bad}")))
    view = {"state": {"values": {"company": {"rb_input": {"value": f"Acme{bad}"}}}}}
    _no_error(engine.handle(slack_render.form_to_inbound(user, view)))
    action = {"value": slack_render.encode_value(f"t{bad}", f"c{bad}"), "text": {"text": "x"}}
    _no_error(engine.handle(slack_render.choice_to_inbound(user, action)[0]))
    people = _stored_people(engine)
    assert len(people) == 1
    _no_bad_characters([people[0][0], people[0][1], *_stored_events(engine)])


def _discord_author(name: str) -> SimpleNamespace:
    return SimpleNamespace(id=4242, global_name=name, name="sam")


def test_discord_converters(engine: Engine, bad: str) -> None:
    author = _discord_author(f"Sam{bad}")
    for n in range(2):
        message = SimpleNamespace(author=author, content=f"hi{bad}", id=900 + n)
        _no_error(engine.handle(discord_render.message_to_inbound(message)))  # type: ignore[arg-type]
    command = SimpleNamespace(user=author, id=77, guild_id=None)
    inbound = discord_render.command_to_inbound(command, f"help{bad}")  # type: ignore[arg-type]
    _no_error(engine.handle(inbound))
    submit = SimpleNamespace(user=author, id=78, guild_id=None)
    form = discord_render.form_to_inbound(submit, f"t{bad}", {"company": f"A{bad}"})  # type: ignore[arg-type]
    _no_error(engine.handle(form))
    [(_, external_id, display_name)] = _stored_people(engine)
    assert external_id == "4242" and display_name == "Sam" + "\ufffd" * len(bad)


def test_console_adapter(engine: Engine, bad: str) -> None:
    out = io.StringIO()
    user = console.user_key(f"me{bad}")
    chat = console_app.Console(
        engine.handle, user, stdin=io.StringIO(f"hi{bad}\n1\n"), stdout=out, interactive=False
    )
    chat.run(engine.resume(user))
    assert "went wrong" not in out.getvalue()
    [(_, external_id, _)] = _stored_people(engine)
    _no_bad_characters([external_id])
