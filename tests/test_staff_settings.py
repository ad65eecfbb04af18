"""One place resolves what applies to a person: the workspace's row in the database first, then
the config file's per-workspace lists, then its defaults; every lookup on ``ctx.settings``
(crisis, support, counselling, careers links, time zone) answers for the person's community."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.coaching.community import read_form, settings_for
from bot.config import Settings, load_settings
from bot.conversation.engine import Engine
from bot.storage.models import CommunitySettings, User


def person(platform: str, workspace: str, community: str | None = None) -> User:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    return User(
        platform=platform, workspace=workspace, external_id="u", community=community,
        quiet_start="21:00", quiet_end="08:00", created_at=now, last_seen_at=now,
    )  # fmt: skip


def config(tmp: str) -> Settings:
    return load_settings(
        None,
        data_dir=tmp,
        coaching={
            "workspace_crisis_resources": {"G1": ["config G1 crisis"]},
            "workspace_support_resources": {"G1": ["config G1 support"]},
        },
    )


def test_the_database_row_comes_first_then_the_config_workspace_then_the_default(
    engine: Engine, tmp_path: object
) -> None:
    base = config(str(tmp_path))
    with engine.db.transaction() as s:
        s.add(CommunitySettings(platform="discord", workspace="G1", values={
            "crisis_resources": ["db G1 crisis"], "careers_links": [["Careers", "https://c.example"]],
            "timezone": "Europe/Paris", "quiet_start": "22:00"}))  # fmt: skip
        s.flush()
        from_guild = settings_for(s, person("discord", "@me", "G1"), base)
        assert from_guild.crisis_resources_for("@me") == ["db G1 crisis"]
        assert from_guild.support_resources_for("anything") == ["config G1 support"]
        assert from_guild.counselling_resources_for("@me") == base.coaching.counselling_resources
        assert [(lk.name, lk.url) for lk in from_guild.coaching.careers_links] == [
            ("Careers", "https://c.example")]  # fmt: skip
        assert from_guild.timezone == "Europe/Paris"
        assert from_guild.reminders.quiet_start == "22:00"
        dm_only = settings_for(s, person("discord", "@me"), base)
        assert dm_only.crisis_resources_for("@me") == base.coaching.crisis_resources
        slack_g1 = settings_for(s, person("slack", "G1"), base)  # another platform's G1
        assert slack_g1.crisis_resources_for("G1") == ["config G1 crisis"]
    assert base.crisis_resources_for("G1") == ["config G1 crisis"]  # the config is untouched


def test_the_form_is_read_strictly() -> None:
    keys = ("admin_bad_url", "admin_bad_zone", "admin_bad_time", "admin_bad_channel",
            "admin_bad_link", "admin_too_many_lines", "admin_line_too_long",
            "digest_needs_channel")  # fmt: skip
    words = {k: k for k in keys}
    values, errors = read_form("slack", {
        "crisis_resources": "\n".join(f"line {n}" for n in range(11)),
        "support_resources": "x" * 301,
        "careers_links": "Careers javascript:alert(1)",
        "booking_url": "https://ok.example/book",
        "staff_channel": "<#C0123456789|careers-staff>",
        "timezone": "Europe/London", "quiet_end": "8am"}, words)  # fmt: skip
    assert errors == {"crisis_resources": "admin_too_many_lines",
                      "support_resources": "admin_line_too_long",
                      "careers_links": "admin_bad_link", "quiet_end": "admin_bad_time"}  # fmt: skip
    assert values["staff_channel"] == "C0123456789"
    assert values["booking_url"] == "https://ok.example/book"
    _, errors = read_form("discord", {"staff_channel": "C0123456789"}, words)
    assert errors == {"staff_channel": "admin_bad_channel"}


def test_the_resolver_reads_a_community_row_once_and_afresh_after_a_save(
    engine: Engine, tmp_path: object
) -> None:
    """One round trip fewer per turn: the row is kept for a few seconds, and a save in this
    process is seen on the very next turn."""
    from sqlalchemy import event

    from bot.coaching import community

    base = config(str(tmp_path))
    statements: list[str] = []
    sa_engine = engine.db.engine

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "community_settings" in statement and statement.lstrip().startswith("SELECT"):
            statements.append(statement)

    event.listen(sa_engine, "before_cursor_execute", count)
    try:
        with engine.db.transaction() as s:
            s.add(CommunitySettings(platform="slack", workspace="T5",
                                    values={"crisis_resources": ["first"]}))  # fmt: skip
        for _ in range(3):
            with engine.db.transaction() as s:
                got = settings_for(s, person("slack", "U1", "T5"), base)
                assert got.crisis_resources_for("T5") == ["first"]
        assert len(statements) == 1
        with engine.db.transaction() as s:
            row = s.scalars(select(CommunitySettings)).one()
            row.values = {"crisis_resources": ["second"]}
            community.forget_recent_values(s, "slack", "T5")
        before = len(statements)
        with engine.db.transaction() as s:
            assert settings_for(s, person("slack", "U1", "T5"), base).crisis_resources_for(
                "T5") == ["second"]  # fmt: skip
        assert len(statements) == before + 1
    finally:
        event.remove(sa_engine, "before_cursor_execute", count)
