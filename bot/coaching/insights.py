"""Anonymous insights for a careers service's staff: what happens in their workspace, in numbers.

Per workspace or server and since a date: people active (overall and per week), interviews and
rejections by stage, the most common themes, plan actions chosen and completed, feedback
requests sent and answered, and the median days from a rejection to a plan.

k-anonymity is the rule of every figure: each :class:`Cell` carries how many distinct people it
was built from, and any cell from fewer than :data:`K` people is shown as "fewer than 5" (text,
chart and CSV alike), never as its number. Only counts, medians, stage and theme keys and week
start dates (Mondays, never finer) leave this module: no free text, names, companies or ids.
"""

from __future__ import annotations

import csv
import io
import os
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from bot.coaching.community import ADMIN_KEY, admin_workspace, resolve
from bot.coaching.files import new_file, open_private
from bot.coaching.interviews import STAGES
from bot.coaching.themes import THEME_NAMES
from bot.conversation.context import TurnContext
from bot.conversation.messages import Image
from bot.conversation.registry import action, uses_messages
from bot.storage.models import (
    FeedbackRequest,
    FeelingEntry,
    Interview,
    PlanAction,
    Reflection,
    ThemeTag,
    User,
)

K = 5  # a figure from fewer people than this is never shown
TOP_THEMES = 5
IN_APP_WEEKS = 12
CHART_WORDS = (
    "insights_chart_weeks", "insights_chart_stages", "insights_chart_interviews",
    "insights_chart_rejections", "insights_chart_themes", "insights_chart_steps",
    "insights_chart_hidden", "insights_step_chosen", "insights_step_completed",
    "insights_step_sent", "insights_step_answered",
)  # fmt: skip
TEXT_WORDS = (
    "insights_head", "insights_people", "insights_weeks", "insights_interviews",
    "insights_rejections", "insights_themes", "insights_plan", "insights_feedback",
    "insights_median", "insights_fewer", "insights_none", "insights_chart_alt",
)  # fmt: skip
uses_messages(*CHART_WORDS, *TEXT_WORDS)


@dataclass(frozen=True)
class Cell:
    """One figure and the number of distinct people behind it."""

    value: float
    people: int

    @property
    def shown(self) -> bool:
        return self.people >= K


@dataclass
class Insights:
    since: date
    people: Cell
    weeks: dict[date, Cell] = field(default_factory=dict)
    interviews: dict[str, Cell] = field(default_factory=dict)
    rejections: dict[str, Cell] = field(default_factory=dict)
    themes: dict[str, Cell] = field(default_factory=dict)
    plan_chosen: Cell = Cell(0, 0)
    plan_completed: Cell = Cell(0, 0)
    feedback_sent: Cell = Cell(0, 0)
    feedback_answered: Cell = Cell(0, 0)
    median_days_to_plan: Cell = Cell(0, 0)

    def rows(self) -> list[tuple[str, str, Cell]]:
        """Every figure as (metric, group, cell): what the CSV and the tests read."""
        out = [("people_active", "", self.people)]
        out += [("people_active_week", f"{w:%Y-%m-%d}", c) for w, c in sorted(self.weeks.items())]
        out += [("interviews_by_stage", k, c) for k, c in self.interviews.items()]
        out += [("rejections_by_stage", k, c) for k, c in self.rejections.items()]
        out += [("theme", k, c) for k, c in self.themes.items()]
        out += [
            ("plan_actions_chosen", "", self.plan_chosen),
            ("plan_actions_completed", "", self.plan_completed),
            ("feedback_requests_sent", "", self.feedback_sent),
            ("feedback_requests_answered", "", self.feedback_answered),
            ("median_days_rejection_to_plan", "", self.median_days_to_plan),
        ]
        return out


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _cell(pairs: Iterable[tuple[int, Any]]) -> Cell:
    """A count of rows and their distinct people, from (user id, anything) pairs."""
    items = list(pairs)
    return Cell(len(items), len({uid for uid, _ in items}))


def _by(pairs: Iterable[tuple[int, str]]) -> dict[str, Cell]:
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for uid, key in pairs:
        groups[key].append((uid, key))
    return {k: _cell(v) for k, v in sorted(groups.items(), key=lambda kv: -len(kv[1]))}


def compute(
    session: Session, platform: str, workspace: str, since: date, zone: str = "UTC"
) -> Insights:
    """Every figure for one workspace or server since ``since`` (local midnight in ``zone``)."""
    tz = ZoneInfo(zone)
    start = datetime.combine(since, time(0), tz)
    unmarked = and_(User.community.is_(None), User.workspace == workspace)
    members = select(User.id).where(
        User.platform == platform, or_(User.community == workspace, unmarked)
    )
    ids = set(session.scalars(members))
    if not ids:
        return Insights(since=since, people=Cell(0, 0))

    def rows(model: Any, *columns: Any, when: Any = None) -> list[Any]:
        stamp = when if when is not None else model.created_at
        stmt = select(model.user_id, *columns).where(model.user_id.in_(ids), stamp >= start)
        return list(session.execute(stmt))

    activity: list[tuple[int, datetime]] = []
    for model in (Interview, FeelingEntry, PlanAction, FeedbackRequest, Reflection):
        activity += [(r[0], r[1]) for r in rows(model, model.created_at)]
    seen = session.execute(
        select(User.id, User.last_seen_at).where(User.id.in_(ids), User.last_seen_at >= start)
    )
    active = {uid for uid, _ in activity} | {uid for uid, _ in seen}
    weeks: dict[date, set[int]] = defaultdict(set)
    for uid, when in activity:
        weeks[monday(when.astimezone(tz).date())].add(uid)
    interviews = rows(Interview, Interview.stage, Interview.outcome, Interview.closed_at,
                      Interview.id)  # fmt: skip
    plans = rows(PlanAction, PlanAction.status, PlanAction.created_at, PlanAction.interview_id)
    feedback = rows(FeedbackRequest, FeedbackRequest.reply, when=FeedbackRequest.created_at)
    themes = rows(ThemeTag, ThemeTag.theme)
    theme_cells = _by((uid, theme) for uid, theme in themes)
    top = sorted(theme_cells.items(), key=lambda kv: (-kv[1].people, -kv[1].value))[:TOP_THEMES]
    return Insights(
        since=since,
        people=Cell(len(active), len(active)),
        weeks={w: Cell(len(p), len(p)) for w, p in sorted(weeks.items())},
        interviews=_by((r[0], r[1]) for r in interviews),
        rejections=_by((r[0], r[1]) for r in interviews if r[2] == "rejected"),
        themes=dict(top),
        plan_chosen=_cell((r[0], r[1]) for r in plans),
        plan_completed=_cell((r[0], r[1]) for r in plans if r[1] == "done"),
        feedback_sent=_cell((r[0], r[1]) for r in feedback),
        feedback_answered=_cell((r[0], r[1]) for r in feedback if r[1] not in ("waiting", "none")),
        median_days_to_plan=_median_days(interviews, plans),
    )


def _median_days(interviews: list[Any], plans: list[Any]) -> Cell:
    """Days from each rejection to the first plan action made after it, median over them."""
    first_plan: dict[int, datetime] = {}
    for uid, _status, created, interview_id in plans:
        key = interview_id if interview_id is not None else -uid
        if key not in first_plan or created < first_plan[key]:
            first_plan[key] = created
    days: list[tuple[int, float]] = []
    for uid, _stage, outcome, closed_at, interview_id in interviews:
        if outcome != "rejected" or closed_at is None:
            continue
        made = first_plan.get(interview_id) or first_plan.get(-uid)
        if made is not None and made >= closed_at:
            days.append((uid, (made - closed_at).total_seconds() / 86400))
    if not days:
        return Cell(0, 0)
    return Cell(round(statistics.median(d for _, d in days), 1), len({u for u, _ in days}))


# ---------------------------------------------------------------------- output


def shown(cell: Cell, words: Mapping[str, str]) -> str:
    """The figure as staff may see it: the number, or "fewer than 5"."""
    if not cell.shown:
        return words["insights_fewer"].format(k=K)
    value = cell.value
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _groups(cells: Mapping[Any, Cell], names: Mapping[Any, str], words: Mapping[str, str]) -> str:
    parts = [f"{names.get(k, k)}: {shown(c, words)}" for k, c in cells.items()]
    return "; ".join(parts) or words["insights_none"]


def to_text(data: Insights, words: Mapping[str, str]) -> str:
    weeks = {w: f"{w:%d %b}" for w in data.weeks}
    themes = {k: THEME_NAMES.get(k, k) for k in data.themes}
    lines = [
        words["insights_head"].format(since=f"{data.since:%d %B %Y}", k=K),
        words["insights_people"].format(value=shown(data.people, words)),
        words["insights_weeks"].format(groups=_groups(data.weeks, weeks, words)),
        words["insights_interviews"].format(groups=_groups(data.interviews, STAGES, words)),
        words["insights_rejections"].format(groups=_groups(data.rejections, STAGES, words)),
        words["insights_themes"].format(groups=_groups(data.themes, themes, words)),
        words["insights_plan"].format(
            chosen=shown(data.plan_chosen, words), completed=shown(data.plan_completed, words)
        ),
        words["insights_feedback"].format(
            sent=shown(data.feedback_sent, words), answered=shown(data.feedback_answered, words)
        ),
        words["insights_median"].format(value=shown(data.median_days_to_plan, words)),
    ]
    return "\n".join(lines)


def to_csv(data: Insights, words: Mapping[str, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["metric", "group", "value"])
    for metric, group, cell in data.rows():
        writer.writerow([metric, group, shown(cell, words)])
    return out.getvalue()


def draw_chart(path: Path, data: Insights, words: Mapping[str, str]) -> Path:
    """Four panels; a hidden figure is drawn as no bar, labelled "fewer than 5". A plain
    ``Figure`` (no pyplot): pyplot's global state is shared by every thread, and turns run in
    several."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    hidden = words["insights_chart_hidden"].format(k=K)
    fig = Figure(figsize=(11, 7), dpi=100)
    axes = fig.subplots(2, 2)

    def bars(ax: Any, labels: list[str], cells: list[Cell], color: str) -> None:
        values = [c.value if c.shown else 0 for c in cells]
        ax.bar(labels, values, color=color, width=0.6)
        top = max([*values, 1])
        for x, cell in enumerate(cells):
            if not cell.shown:
                ax.text(x, top * 0.03, hidden, ha="center", va="bottom", fontsize=7,
                        rotation=90, color="#666666")  # fmt: skip
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(axis="x", labelsize=8, rotation=30)

    ax = axes[0][0]
    weeks = sorted(data.weeks)
    bars(ax, [f"{w:%d %b}" for w in weeks], [data.weeks[w] for w in weeks], "#4a7bd0")
    ax.set_title(words["insights_chart_weeks"])
    ax = axes[0][1]
    stages = [s for s in STAGES if s in data.interviews or s in data.rejections]
    xs = list(range(len(stages)))
    for offset, source, color, key in (
        (-0.2, data.interviews, "#999999", "insights_chart_interviews"),
        (0.2, data.rejections, "#c05050", "insights_chart_rejections"),
    ):
        cells = [source.get(s, Cell(0, 0)) for s in stages]
        ax.bar([x + offset for x in xs], [c.value if c.shown else 0 for c in cells], width=0.4,
               color=color, label=words[key])  # fmt: skip
        for x, cell in zip(xs, cells, strict=True):
            if cell.people and not cell.shown:
                ax.text(x + offset, 0.05, hidden, ha="center", va="bottom", fontsize=6,
                        rotation=90, color="#666666")  # fmt: skip
    ax.set_xticks(xs, [STAGES[s].split(" or ")[0] for s in stages], fontsize=8, rotation=20)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    ax.set_title(words["insights_chart_stages"])
    ax = axes[1][0]
    names = [t.replace("_", " ") for t in data.themes]
    bars(ax, names, list(data.themes.values()), "#e0a040")
    ax.set_title(words["insights_chart_themes"])
    ax = axes[1][1]
    steps = [
        (words["insights_step_chosen"], data.plan_chosen),
        (words["insights_step_completed"], data.plan_completed),
        (words["insights_step_sent"], data.feedback_sent),
        (words["insights_step_answered"], data.feedback_answered),
    ]
    bars(ax, [n for n, _ in steps], [c for _, c in steps], "#3c9c5c")
    ax.set_title(words["insights_chart_steps"])
    fig.tight_layout()
    with os.fdopen(open_private(path), "wb") as out:
        fig.savefig(out, format="png")
    return path


# ---------------------------------------------------------------------- the flow


@action("insights_report", provides=["insights_text"])
def insights_report(ctx: TurnContext) -> None:
    """For a confirmed admin: the last twelve weeks of their workspace, in words and a chart."""
    workspace = admin_workspace(ctx)
    ctx.slots.pop(ADMIN_KEY, None)  # one report per check
    if workspace is None:
        ctx.slots["insights_text"] = ""
        return
    community = resolve(ctx.session, ctx.settings_base, ctx.user.platform, workspace)
    zone = community.settings.timezone
    since = monday(ctx.now.astimezone(ZoneInfo(zone)).date()) - timedelta(weeks=IN_APP_WEEKS - 1)
    data = compute(ctx.session, ctx.user.platform, workspace, since, zone)
    ctx.slots["insights_text"] = to_text(data, ctx.messages)
    path = new_file(ctx.settings, ctx.user.id, "insights", ".png", ctx.now)
    words = {k: ctx.text(k) for k in CHART_WORDS}
    ctx.after_commit.append(lambda: draw_chart(path, data, words))
    ctx.say(ctx.text("insights_chart_alt"), image=Image(str(path), ctx.text("insights_chart_alt")))
