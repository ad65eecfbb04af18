"""Anonymous insights: k-anonymity (4 people hidden, 5 shown), no person's words anywhere, the
same suppression in the CSV, over the command line and in the app for an admin only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.coaching import insights
from bot.conversation.engine import Engine
from bot.conversation.messages import UserKey
from bot.storage.db import Database
from bot.storage.models import (
    FeedbackRequest,
    FeelingEntry,
    Interview,
    PlanAction,
    Reflection,
    ThemeTag,
    User,
)
from tests.conftest import EngineDriver

WS = "T0001"
SINCE = date(2026, 11, 2)  # a Monday
WHEN = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def marker(kind: str, n: int) -> str:
    return f"ZQX{kind}{n}MARK"


def seed(
    db: Database, finals: int, firsts: int, other_ws: int = 0, when: datetime = WHEN
) -> list[str]:
    """People in WS: ``finals`` rejected at a final round, ``firsts`` rejected at a first round,
    each with every free-text field holding a unique marker. Returns the markers."""
    markers: list[str] = []
    with db.transaction() as s:
        people = [("final", i) for i in range(finals)] + [("first_round", i) for i in range(firsts)]
        people += [("other", i) for i in range(other_ws)]
        for n, (stage, i) in enumerate(people):
            ws = "TOTHER" if stage == "other" else WS

            def m(kind: str, n: int = n) -> str:
                markers.append(marker(kind, n))
                return markers[-1]

            user = User(platform="slack", workspace=ws, external_id=m("ext"),
                        display_name=m("name"), sign_name=m("sign"), quiet_start="21:00",
                        quiet_end="08:00", reminders_on=True, weekly_summary=False,
                        created_at=when, last_seen_at=when)  # fmt: skip
            s.add(user)
            s.flush()
            iv = Interview(user_id=user.id, company=m("company"), role=m("role"),
                           stage="final" if stage == "other" else stage,
                           interviewer=m("interviewer"), outcome="rejected",
                           debrief={"notes": m("debrief")}, created_at=when,
                           closed_at=when)  # fmt: skip
            s.add(iv)
            s.flush()
            s.add(FeelingEntry(user_id=user.id, interview_id=iv.id, feeling="gutted",
                               intensity=4, note=m("feeling"), created_at=when))  # fmt: skip
            s.add(FeedbackRequest(user_id=user.id, interview_id=iv.id, points=m("points"),
                                  draft=m("draft"), sent_at=when, reply="specific",
                                  positives=m("pos"), negatives=m("neg"),
                                  reply_text=m("reply"), created_at=when))  # fmt: skip
            s.add(Reflection(user_id=user.id, interview_id=iv.id, answers={"a": m("answer")},
                             in_control=m("inctl"), outside_control=m("outctl"),
                             created_at=when))  # fmt: skip
            s.add(ThemeTag(user_id=user.id, interview_id=iv.id, theme="nerves", source="reflect",
                           evidence=m("evidence"), created_at=when))  # fmt: skip
            s.add(PlanAction(user_id=user.id, interview_id=iv.id, kind="mock", title=m("plan"),
                             status="done" if i % 2 else "open",
                             created_at=when + timedelta(days=2)))  # fmt: skip
    return markers


def figures(engine: Engine) -> insights.Insights:
    with engine.db.transaction() as s:
        return insights.compute(s, "slack", WS, SINCE)


def test_a_cell_of_four_people_is_hidden_and_five_is_shown(engine: Engine) -> None:
    seed(engine.db, finals=5, firsts=4, other_ws=3)
    data = figures(engine)
    assert data.rejections["final"] == insights.Cell(5, 5)
    assert data.rejections["first_round"].people == 4
    text = insights.to_text(data, engine.messages)
    assert "final round: 5" in text
    assert "first round: fewer than 5" in text
    assert "first round: 4" not in text
    assert data.people.value == 9  # the other workspace's three are not counted
    assert data.median_days_to_plan == insights.Cell(2.0, 9)
    rows = {(r["metric"], r["group"]): r["value"] for r in csv.DictReader(
        io.StringIO(insights.to_csv(data, engine.messages)))}  # fmt: skip
    assert rows[("rejections_by_stage", "final")] == "5"
    assert rows[("rejections_by_stage", "first_round")] == "fewer than 5"
    assert rows[("people_active_week", "2026-11-09")] == "9"
    # Four finishing their plan out of nine: hidden; five open: shown.
    assert rows[("plan_actions_completed", "")] == "fewer than 5"
    assert rows[("plan_actions_chosen", "")] == "9"


def test_three_people_hide_everything_but_the_zero(engine: Engine) -> None:
    seed(engine.db, finals=3, firsts=0)
    text = insights.to_text(figures(engine), engine.messages)
    assert "People active: fewer than 5" in text
    assert "3" not in text.split("\n", 1)[1].replace("2026", "")


def test_no_string_from_anyone_appears_in_text_csv_or_chart_words(
    engine: Engine, tmp_path: Path
) -> None:
    markers = seed(engine.db, finals=6, firsts=5)
    data = figures(engine)
    out = insights.to_text(data, engine.messages) + insights.to_csv(data, engine.messages)
    out += repr(data)
    chart = insights.draw_chart(tmp_path / "c.png", data, engine.messages)
    assert chart.read_bytes()[:4] == b"\x89PNG"
    for m in markers:
        assert m not in out
        assert m.encode() not in chart.read_bytes()
    assert "ZQX" not in out


def test_the_command_line_prints_and_writes_the_same_suppression(
    engine: Engine, tmp_path: Path, monkeypatch: object
) -> None:
    seed(engine.db, finals=5, firsts=4)
    url = engine.db.engine.url.render_as_string(hide_password=False)
    out_csv, out_png = tmp_path / "i.csv", tmp_path / "i.png"
    result = CliRunner().invoke(
        main,
        ["insights", "--workspace", WS, "--since", "2026-11-04", "--db", url,
         "--csv", str(out_csv), "--chart", str(out_png)],
        env={"REBOUND_DATA_DIR": str(tmp_path / "out")},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "first round: fewer than 5" in result.output
    assert "Since 02 November 2026" in result.output  # rounded back to the Monday
    written = out_csv.read_text(encoding="utf-8")
    assert "rejections_by_stage,first_round,fewer than 5" in written
    assert "rejections_by_stage,final,5" in written
    assert "ZQX" not in written + result.output
    assert out_csv.stat().st_mode & 0o777 == 0o600
    assert out_png.read_bytes()[:4] == b"\x89PNG"


def test_insights_in_the_app_are_for_admins_only(engine: Engine) -> None:
    seed(engine.db, finals=5, firsts=0)
    chat = EngineDriver(engine, UserKey("slack", WS, "UADMIN"))
    chat.text("hi")
    chat.press("Yes, that's right")
    refused = chat.text("insights")
    text = " ".join(r.text for r in refused)
    assert "only for this workspace's admins" in text
    assert "final round" not in text
    shown = chat._send(text="insights", admin_of=WS)
    text = " ".join(r.text for r in shown)
    assert "Rejections by stage: final round: 5" in text
    assert any(r.image is not None and Path(r.image.path).exists() for r in shown)
    assert "ZQX" not in text
