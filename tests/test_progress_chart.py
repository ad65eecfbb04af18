"""The progress chart as a person gets it from "progress", read through matplotlib's objects.

Each person is seeded with 1, 3 or 10 rejections (``tests/progress_seed.py``); the figure the
turn actually drew is caught on its way to the PNG, and its panels are read back: titles, the
full name of every theme with one bar each, dates on the feelings' time axis with the company
named at each point, interviews by stage and outcome, the plan's done / to do / past its date,
and nothing a person wrote beyond the company names.
"""

from __future__ import annotations

import re
import stat
import warnings
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from matplotlib.figure import Figure
from matplotlib.text import Annotation, Text

from bot.coaching import progress
from bot.coaching.interviews import STAGES
from bot.coaching.themes import THEME_NAMES
from bot.conversation.engine import Engine
from bot.conversation.messages import Inbound, UserKey
from bot.storage.db import Database
from bot.storage.models import FeelingEntry, Interview, User

from .conftest import FLOWS, Clock
from .progress_seed import onboard, overdue_in_plan, seed_history

WORDS = yaml.safe_load((FLOWS / "_messages.yaml").read_text(encoding="utf-8"))
DAY_MONTH = re.compile(r"^\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)$")


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Every figure the progress turn builds, as it was drawn into the PNG."""
    figures: list[Figure] = []
    build = progress.build_figure

    def keep(*args: Any) -> Figure:
        figures.append(build(*args))
        return figures[-1]

    monkeypatch.setattr(progress, "build_figure", keep)
    return figures


def _overlapping(texts: list[Text], fig: Figure) -> list[tuple[str, str]]:
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [
        (a, b)
        for i, (a, box) in enumerate(boxes)
        for b, other in boxes[i + 1 :]
        if box.overlaps(other)
    ]


def _texts(ax: Any) -> list[str]:
    return [t.get_text() for t in ax.texts]


def _panel(fig: Figure, key: str) -> Any:
    return next(ax for ax in fig.axes if ax.get_title(loc="left") == WORDS[key])


@pytest.mark.parametrize("size", [1, 3, 10])
def test_chart_panels_read_back_in_full(
    engine: Engine, clock: Clock, db: Database, drawn: list[Figure], size: int
) -> None:
    seeded = seed_history(db, f"p{size}", size, clock.now)
    onboard(engine, seeded.user)
    replies = engine.handle(Inbound(user=seeded.user, text="progress", event_id=f"p{size}"))
    image = next(r.image for r in replies if r.image)
    path = Path(image.path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    fig = drawn[-1]
    fig.canvas.draw()  # tick labels are only known once drawn
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    keys = ("chart_feelings", "chart_themes", "chart_interviews", "chart_plan")
    assert titles == [WORDS[k] for k in keys]
    picked = seeded.rejections

    # Themes: one bar per distinct theme, each named in full, most common first.
    themes = Counter(t for r in picked for t in r[6])
    ax = _panel(fig, "chart_themes")
    assert len(ax.patches) == len(themes) == len(seeded.themes)
    labels = [t for t in _texts(ax) if not t.isdigit()]
    assert set(labels) == {THEME_NAMES[t] for t in themes}
    top = max(themes.values())
    assert labels[0] in {THEME_NAMES[t] for t, n in themes.items() if n == top}
    assert sorted(int(t) for t in _texts(ax) if t.isdigit()) == sorted(themes.values())

    # Feelings: strength against the days they were logged, each point named by its company.
    ax = _panel(fig, "chart_feelings")
    strong = [r for r in picked if r[4]]
    line = ax.lines[0]
    assert list(line.get_xdata()) == [(clock.now - timedelta(days=r[5])).date() for r in strong]
    assert list(line.get_ydata()) == [r[4] for r in strong]
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ticks and all(DAY_MONTH.match(t) for t in ticks), ticks
    if size == 1:
        assert ticks == [f"{(clock.now - timedelta(days=picked[0][5])).day} Nov"]
    names = [a.get_text() for a in ax.texts if isinstance(a, Annotation)]
    assert len(names) == len(strong)
    for name, row in zip(names, strong, strict=True):
        assert name == row[0] or (name.endswith("…") and row[0].startswith(name[:-1])), name
    assert any(name == row[0] for name, row in zip(names, strong, strict=True))
    assert not _overlapping([t for t in ax.texts if isinstance(t, Annotation)], fig)
    assert not _overlapping([t for t in ax.get_xticklabels() if t.get_text()], fig)

    # Interviews: a row per stage reached, with what happened there in words.
    ax = _panel(fig, "chart_interviews")
    stages = Counter(r[2] for r in picked)
    rows = _texts(ax)
    assert len(rows) == len(set(stages) | ({"second_round"} if size >= 3 else set()))
    final = STAGES["final"]
    assert f"{final}: {stages['final']} {WORDS['chart_rejected']}" in rows
    if size >= 3:
        second = f"{STAGES['second_round']}: {stages['second_round']} {WORDS['chart_rejected']}"
        assert f"{second}, 1 {WORDS['chart_waiting']}" in rows

    # The plan: done, to do and past its date, counted, with no action's title.
    ax = _panel(fig, "chart_plan")
    plan = seeded.plan
    done = sum(1 for p in plan if p[3])
    overdue = overdue_in_plan(size)
    counts = [(done, "chart_plan_done"), (len(plan) - done - overdue, "chart_plan_open"),
              (overdue, "chart_plan_overdue")]  # fmt: skip
    assert _texts(ax) == [", ".join(f"{n} {WORDS[k]}" for n, k in counts if n)]

    # Nothing the person wrote but company names: no role, note, evidence or action title.
    everything = " ".join(t.get_text() for t in fig.findobj(Text))
    for private in ("private words", *{r[1] for r in picked}, *(p[1] for p in plan)):
        assert private not in everything


def test_chart_with_nothing_yet_to_show_says_so_in_each_panel(
    engine: Engine, clock: Clock, db: Database, drawn: list[Figure]
) -> None:
    """A rejection logged quickly (no stage), its strength skipped, no themes, no plan yet."""
    with db.transaction() as s:
        user = User(platform="terminal", workspace="local", external_id="quiet")
        s.add(user)
        s.flush()
        interview = Interview(user_id=user.id, company="Initech", role="Analyst",
                              outcome="rejected", stage="other", closed_at=clock.now)  # fmt: skip
        s.add(interview)
        s.flush()
        s.add(FeelingEntry(user_id=user.id, interview_id=interview.id, feeling="numb",
                           created_at=clock.now))  # fmt: skip
    who = UserKey("terminal", "local", "quiet")
    onboard(engine, who)
    replies = engine.handle(Inbound(user=who, text="progress", event_id="quiet-p"))
    assert any(r.image for r in replies)
    fig = drawn[-1]
    assert _texts(_panel(fig, "chart_feelings")) == [WORDS["chart_feelings_none"]]
    assert _texts(_panel(fig, "chart_themes")) == [WORDS["chart_themes_none"]]
    assert _texts(_panel(fig, "chart_plan")) == [WORDS["chart_plan_none"]]
    assert _texts(_panel(fig, "chart_interviews")) == [
        f"{WORDS['chart_stage_other']}: 1 {WORDS['chart_rejected']}"
    ]


def test_feelings_are_dated_in_the_persons_own_time_zone(
    engine: Engine, db: Database, drawn: list[Figure]
) -> None:
    late = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # already the 21st in Tokyo
    with db.transaction() as s:
        user = User(platform="terminal", workspace="local", external_id="kenji",
                    timezone="Asia/Tokyo")  # fmt: skip
        s.add(user)
        s.flush()
        s.add(FeelingEntry(user_id=user.id, feeling="angry", intensity=4, created_at=late))
    who = UserKey("terminal", "local", "kenji")
    onboard(engine, who)
    engine.handle(Inbound(user=who, text="progress", event_id="kenji-p"))
    fig = drawn[-1]
    fig.canvas.draw()
    ax = _panel(fig, "chart_feelings")
    assert list(ax.lines[0].get_xdata()) == [date(2026, 11, 21)]
    assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()] == ["21 Nov"]
    assert not [t for t in ax.texts if isinstance(t, Annotation)]  # no interview, no name
    assert _texts(_panel(fig, "chart_interviews")) == [WORDS["chart_interviews_none"]]


def test_company_names_are_drawn_as_typed_and_shortened_only_when_long(tmp_path: Path) -> None:
    day = date(2026, 11, 1)
    odd = r"$\frac$ & Sons"  # mathtext syntax: shown as typed, never parsed (nor failing)
    data = progress.ChartData(
        feelings=[(day, 3, odd), (day + timedelta(days=9), 4, "Emoji Co 🚀"),
                  (day + timedelta(days=18), 2, "Stark Industries International Holdings")],
        themes=Counter({"nerves": 1}), interviews=Counter({("final", "rejected"): 3}),
        plan=(0, 1, 0),
    )  # fmt: skip
    words = {key: WORDS[key] for key in progress.CHART_WORDS}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would warn with the name's character
        path = progress.draw_chart(tmp_path / "progress-x.png", data, words)
    assert path.stat().st_size > 10_000
    fig = progress.build_figure(data, words)
    names = [t.get_text() for t in fig.axes[0].texts]
    assert names[:2] == [odd, "Emoji Co 🚀"]
    assert names[2].endswith("…") and len(names[2]) <= progress.COMPANY_CHARS


def test_crowded_days_keep_their_dates_and_names_apart(tmp_path: Path) -> None:
    """Four rejections on consecutive days, two the same day: every label still stands alone."""
    day = date(2026, 11, 2)
    data = progress.ChartData(
        feelings=[(day, 4, "Northwind Traders"), (day + timedelta(days=1), 3, "Globex"),
                  (day + timedelta(days=1), 2, "Hooli"), (day + timedelta(days=2), 5, "Initech"),
                  (day + timedelta(days=3), 4, "Wayne Enterprises")],
        interviews=Counter({("first_round", "rejected"): 5}),
    )  # fmt: skip
    fig = progress.build_figure(data, {key: WORDS[key] for key in progress.CHART_WORDS})
    fig.canvas.draw()
    ax = fig.axes[0]
    ticks = [t for t in ax.get_xticklabels() if t.get_text()]
    assert [t.get_text() for t in ticks] == ["2 Nov", "3 Nov", "4 Nov", "5 Nov"]
    names = [t for t in ax.texts if isinstance(t, Annotation)]
    assert {t.get_text() for t in names} == {f[2] for f in data.feelings}
    assert not _overlapping(names, fig) and not _overlapping(ticks, fig)


@pytest.mark.parametrize(
    ("name", "limit", "short"),
    [
        ("Acme", 10, "Acme"),
        ("Stark Industries International Holdings", 16, "Stark…"),
        ("Stark Industries International Holdings", 28, "Stark Industries…"),
        ("Supercalifragilistic Ltd", 10, "Supercali…"),
        ("  Northwind \n Traders ", 28, "Northwind Traders"),
        ("\u202eAcme\x07 Co", 28, "Acme Co"),  # a right-to-left override and a bell dropped
        ("   ", 28, ""),
    ],
)
def test_short_company_cuts_at_a_word(name: str, limit: int, short: str) -> None:
    assert progress.short_company(name, limit) == short
    assert len(progress.short_company(name, limit)) <= limit
