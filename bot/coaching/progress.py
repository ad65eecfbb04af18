"""Progress: interviews, outcomes, feelings over time, themes and the plan, in words and a chart.

The chart is made to be read in a chat preview on a phone: one column of four panels in large
type. How strongly each rejection hit, against the days it was logged, with the company named at
each point; one bar per theme under its full name (each label on its own line above its bar, so
nothing is cut or wrapped); interviews by stage, with what happened at each in words; and the
plan as done, to do and past its date. The only words a person typed that reach it are the
company names they entered; notes, roles, evidence and action titles never do.

matplotlib is imported only when a chart is drawn (it costs ~0.3 s), through its object API with
the Agg canvas (no pyplot: no global figure state shared between threads, no display needed),
so the terminal chat still starts fast and servers need no display.
"""

from __future__ import annotations

import os
import unicodedata
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from bot.coaching.files import new_file, open_private
from bot.coaching.interviews import STAGES
from bot.coaching.themes import THEME_NAMES
from bot.conversation.context import TurnContext
from bot.conversation.messages import Image
from bot.conversation.registry import action, uses_messages
from bot.storage.models import FeelingEntry, Interview, PlanAction, ThemeTag

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.transforms import Bbox

OUTCOME_WORDS = {"pending": "waiting", "offer": "offer", "rejected": "not this time"}
CHART_WORDS = (
    "chart_feelings", "chart_feelings_none", "chart_themes", "chart_themes_none",
    "chart_interviews", "chart_interviews_none", "chart_stage", "chart_stage_other",
    "chart_count", "chart_waiting", "chart_offer", "chart_rejected", "chart_plan",
    "chart_plan_none", "chart_plan_done", "chart_plan_open", "chart_plan_overdue",
)  # fmt: skip
uses_messages(
    "progress_interviews", "progress_none_yet", "progress_plan", "progress_plan_empty",
    "progress_themes", "progress_last", "progress_chart", "progress_chart_alt", *CHART_WORDS,
)  # fmt: skip

OUTCOME_ORDER = ("rejected", "pending", "offer")  # most common first: the bars start with it
OUTCOME_KEYS = {"rejected": "chart_rejected", "pending": "chart_waiting", "offer": "chart_offer"}
# Okabe-Ito colours: told apart with the common kinds of colour blindness, and each bar is
# labelled in words as well.
BLUE, ORANGE, GREEN, VERMILION, SKY, GREY = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#999999",
)  # fmt: skip
OUTCOME_COLOURS = {"rejected": VERMILION, "pending": GREY, "offer": GREEN}
# A company's name is tried whole up to COMPANY_CHARS, then cut at a word to fit beside its
# neighbours, with an ellipsis.
COMPANY_CHARS, COMPANY_CUTS = 28, (16, 10)
BAR_SCALE = 4  # bars are drawn on a scale of at least this many
CENTRE_FIRST = ("center", "left", "right")  # how a company's name sits on its point
COMPANY_SIZE, LABEL_SIZE, TICK_SIZE, TITLE_SIZE = 12, 13, 12, 15  # points


@dataclass
class ChartData:
    """Everything the chart shows, gathered in the turn so drawing needs no database."""

    feelings: list[tuple[date, int, str]] = field(default_factory=list)  # day, 1-5, company
    themes: Counter[str] = field(default_factory=Counter)
    interviews: Counter[tuple[str, str]] = field(default_factory=Counter)  # (stage, outcome)
    plan: tuple[int, int, int] = (0, 0, 0)  # done, open, open and past its date


@action("progress_report", provides=["progress_text"])
def progress_report(ctx: TurnContext) -> None:
    uid = ctx.user.id
    interviews = ctx.session.scalars(select(Interview).where(Interview.user_id == uid)).all()
    feelings = ctx.session.scalars(
        select(FeelingEntry).where(FeelingEntry.user_id == uid).order_by(FeelingEntry.created_at)
    ).all()
    themes = Counter(
        t.theme for t in ctx.session.scalars(select(ThemeTag).where(ThemeTag.user_id == uid))
    )
    plan = ctx.session.scalars(select(PlanAction).where(PlanAction.user_id == uid)).all()
    outcomes = Counter(i.outcome for i in interviews)
    done = sum(1 for p in plan if p.status == "done")
    tally = ", ".join(f"{n} {OUTCOME_WORDS.get(k, k)}" for k, n in outcomes.items())
    lines = [
        ctx.text(
            "progress_interviews",
            count=len(interviews),
            tally=tally or ctx.text("progress_none_yet"),
        ),
        ctx.text("progress_plan", done=done, total=len(plan))
        if plan
        else ctx.text("progress_plan_empty"),
    ]
    if themes:
        top = ", ".join(f"{THEME_NAMES.get(t, t)} ({n})" for t, n in themes.most_common(3))
        lines.append(ctx.text("progress_themes", top=top))
    if feelings:
        last = feelings[-1]
        lines.append(
            ctx.text("progress_last", feeling=last.feeling, intensity=last.intensity or "?")
        )
    ctx.slots["progress_text"] = "\n".join(lines)
    if interviews or feelings:
        # A new name each time: never last week's picture if drawing fails (the engine drops
        # an image whose file is missing), and never a name that points at anyone else.
        path = new_file(ctx.settings, uid, "progress", ".png", ctx.now)
        company = {i.id: i.company for i in interviews}
        overdue = sum(
            1 for p in plan if p.status == "open" and p.due_on is not None and p.due_on < ctx.today
        )
        data = ChartData(
            # A check-in whose strength was skipped has nothing to plot.
            feelings=[
                (local_day(f.created_at, ctx.zone), f.intensity, company.get(f.interview_id, ""))
                for f in feelings
                if f.intensity
            ],
            themes=themes,
            interviews=Counter((i.stage, i.outcome) for i in interviews),
            plan=(done, len(plan) - done - overdue, overdue),
        )
        words = {key: ctx.text(key) for key in CHART_WORDS}
        ctx.after_commit.append(lambda: draw_chart(path, data, words))
        ctx.say(ctx.text("progress_chart"), image=Image(str(path), ctx.text("progress_chart_alt")))


def local_day(moment: datetime, zone: tzinfo) -> date:
    """The person's own calendar day for a stored moment (SQLite may hand back naive UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).date()


def draw_chart(path: Path, data: ChartData, words: dict[str, str]) -> Path:
    """Draw the chart into ``path`` (0600) and keep only the newest picture in the folder."""
    fig = build_figure(data, words)
    with os.fdopen(open_private(path), "wb") as out:  # 0600, in the person's 0700 folder
        # zlib level 3: ~10% quicker to write than the default 6, for ~4% more bytes.
        fig.savefig(out, format="png", pil_kwargs={"compress_level": 3})
    for older in path.parent.glob("progress-*.png"):  # only the newest picture is kept
        if older != path:
            older.unlink(missing_ok=True)
    return path


# Layout, in inches. Fixed margins instead of a layout engine: nothing on the chart sits left of
# the panels but the 1-5 scale (labels of bars sit above the bars), and laying out by hand keeps
# drawing fast.
WIDTH, LEFT, RIGHT, TOP = 6.0, 0.45, 0.25, 0.1
TITLE, ROW, GAP = 0.4, 0.46, 0.25
FEELINGS_HEIGHT, DATES = 2.3, 0.35
DPI = 150  # 900 pixels wide: sharp on a phone's dense screen, ~10% slower to draw than 100


def build_figure(data: ChartData, words: dict[str, str]) -> Figure:
    """The four panels, top to bottom; ``words`` are the ``chart_*`` messages."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # A company name with a character the font lacks (an emoji) draws as a box; matplotlib's
    # warning would carry that character into the logs.
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
    stages = [s for s in STAGES if any(k[0] == s for k in data.interviews)]
    stages += sorted({k[0] for k in data.interviews} - set(stages))
    panels = [  # (height of the plotting area, room below it)
        (_feelings_height(data.feelings), DATES if data.feelings else 0),
        (ROW * max(len(data.themes), 1), 0),
        (ROW * max(len(stages), 1), 0),
        (ROW, 0),
    ]
    height = TOP + sum(TITLE + h + below + GAP for h, below in panels) - GAP + 0.1
    fig = Figure(figsize=(WIDTH, height), dpi=DPI)
    FigureCanvasAgg(fig)
    axes, top = [], height - TOP
    for h, below in panels:
        top -= TITLE
        axes.append(fig.add_axes(((LEFT / WIDTH), (top - h) / height,
                                  (WIDTH - LEFT - RIGHT) / WIDTH, h / height)))  # fmt: skip
        top -= h + below + GAP
    _feelings(axes[0], data.feelings, words)
    _themes(axes[1], data.themes, words)
    _interviews(axes[2], data.interviews, stages, words)
    _plan(axes[3], data.plan, words)
    return fig


def _feelings_height(feelings: list[tuple[date, int, str]]) -> float:
    """Room for the 1-5 scale; less for a single day (a lone point needs no width of story)."""
    if not feelings:
        return ROW
    return FEELINGS_HEIGHT if len({f[0] for f in feelings}) > 1 else FEELINGS_HEIGHT * 0.75


def short_company(name: str, limit: int = COMPANY_CHARS) -> str:
    """A company name in at most ``limit`` characters: whole words, then "…" if cut. Control
    and formatting characters (a right-to-left override, a bell) are dropped: they would
    draw as boxes or turn the name around."""
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C" or ch.isspace())
    name = " ".join(name.split())
    if len(name) <= limit:
        return name
    kept = ""
    for word in name.split(" "):
        if len(kept) + len(word) + 1 > limit - 1:
            break
        kept = f"{kept} {word}".strip()
    return (kept or name[: limit - 1]).rstrip(" ,.-&+") + "…"


def _title(ax: Axes, text: str) -> None:
    # Flush with the figure's left edge (less a margin), over the scale; an explicit ``y``
    # spares matplotlib measuring every tick to place it.
    ax.set_title(text, loc="left", fontsize=TITLE_SIZE, fontweight="bold", pad=8, y=1,
                 x=-(LEFT - 0.1) / (WIDTH - LEFT - RIGHT))  # fmt: skip
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _empty(ax: Axes, text: str) -> None:
    ax.text(0, 0.5, text, ha="left", va="center", fontsize=LABEL_SIZE, color=GREY,
            transform=ax.transAxes)  # fmt: skip
    ax.set_axis_off()


def _feelings(ax: Axes, feelings: list[tuple[date, int, str]], words: dict[str, str]) -> None:
    _title(ax, words["chart_feelings"])
    if not feelings:
        _empty(ax, words["chart_feelings_none"])
        return
    from matplotlib.dates import AutoDateLocator, date2num, num2date
    from matplotlib.ticker import FixedLocator, FuncFormatter

    days = [f[0] for f in feelings]
    ys = [f[1] for f in feelings]
    ax.plot(days, ys, marker="o", markersize=8, linewidth=2, color=BLUE)
    ax.set_ylim(0.2, 5.9)
    ax.set_yticks([1, 2, 3, 4, 5])
    ax.tick_params(labelsize=TICK_SIZE)
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    span = (days[-1] - days[0]).days
    pad = max(span * 0.1, 1) if span else 3  # days either side: room for the names
    ax.set_xlim(date2num(days[0]) - pad, date2num(days[-1]) + pad)
    distinct = sorted(set(days))
    if len(distinct) <= 4 and all((b - a).days >= span / 5 for a, b in pairwise(distinct)):
        ax.xaxis.set_major_locator(FixedLocator([date2num(d) for d in distinct]))
    else:
        ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=5))
    with_year = days[0].year != days[-1].year

    def label(x: float, _pos: object) -> str:
        d = num2date(x)
        return f"{d.day} {d:%b}" + (f" {d:%Y}" if with_year else "")

    ax.xaxis.set_major_formatter(FuncFormatter(label))
    _name_points(ax, days, ys, [f[2] for f in feelings])


def _name_points(ax: Axes, days: list[date], ys: list[int], companies: list[str]) -> None:
    """Name the company at each point where it is clear of the points and of the names already
    placed and inside the panel: on the open side of the line first (above a peak, below a
    dip), centred, then shifted either way, then further out; shortened only where the whole
    name finds no room.

    Each name is measured once and its places are tried as boxes in pixels, so only the names
    kept become text artists (which are slow to make and measure)."""
    from matplotlib.dates import date2num
    from matplotlib.path import Path as Polyline
    from matplotlib.patheffects import withStroke
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    points = ax.transData.transform([(date2num(d), y) for d, y in zip(days, ys, strict=True)])
    px = fig.dpi / 72  # pixels per point
    # A marker's radius; the least room beside a name (more than a space between words, so two
    # names never read as one) and above or below it.
    dot, side, edge = 4 * px, 8 * px, 2 * px
    taken: list[Bbox] = [Bbox.from_bounds(x - dot, y - dot, 2 * dot, 2 * dot) for x, y in points]
    halo = [withStroke(linewidth=3, foreground="white")]
    line = Polyline(points)
    sizes: dict[str, tuple[float, float]] = {}

    def size(label: str) -> tuple[float, float]:
        if label not in sizes:
            probe = Text(0, 0, label, fontsize=COMPANY_SIZE, parse_math=False, figure=fig)
            box = probe.get_window_extent(renderer)
            sizes[label] = (box.width, box.height)
        return sizes[label]

    for i, company in enumerate(companies):
        again = i and (companies[i - 1], days[i - 1]) == (company, days[i])
        if again or not short_company(company):
            continue  # a second check-in that day about the same interview, or no name
        before = ys[i - 1] if i else ys[i]
        after = ys[i + 1] if i + 1 < len(ys) else ys[i]
        up = 8 if ys[i] >= (before + after) / 2 else -8
        labels = dict.fromkeys(short_company(company, n) for n in (COMPANY_CHARS, *COMPANY_CUTS))
        near = [(dy, ha) for dy in (up, -up) for ha in CENTRE_FIRST]
        far = [(dy, "center") for dy in (up * 2.75, -up * 2.75)]
        # The whole name before a shortened one; beside its point before further out; clear of
        # the line before across it (where the white edge keeps it readable).
        tries = [
            (label, dy, ha, cross)
            for label in labels
            for places in (near, far)
            for cross in (False, True)
            for dy, ha in places
        ]
        x, y = points[i]
        for label, dy, ha, cross in tries:
            width, height = size(label)
            x0 = {"center": x - width / 2, "left": x, "right": x - width}[ha]
            y0 = y + dy * px if dy > 0 else y + dy * px - height
            box = Bbox.from_bounds(x0, y0, width, height)
            fits = inside.x0 + edge <= box.x0 and box.x1 <= inside.x1
            fits = fits and inside.y0 <= box.y0 and box.y1 <= inside.y1
            room = Bbox.from_extents(box.x0 - side, box.y0 - edge, box.x1 + side, box.y1 + edge)
            clear = fits and not any(room.overlaps(other) for other in taken)
            if clear and (cross or not line.intersects_bbox(box, filled=False)):
                ax.annotate(
                    label, (days[i], ys[i]), textcoords="offset points", xytext=(0, dy),
                    ha=ha, va="bottom" if dy > 0 else "top", fontsize=COMPANY_SIZE,
                    parse_math=False, annotation_clip=False, path_effects=halo,
                )  # fmt: skip
                taken.append(box)
                break
        # Nowhere clear (many interviews close together): the point stays unnamed rather
        # than named over another; the interviews panel still counts it.


def _rows(
    ax: Axes, labels: list[str], values: list[list[int]], colours: list[str], totals: bool = True
) -> None:
    """Bars one under another, each with its words above it (the full width of the panel, so
    long names need no wrapping) and, if ``totals``, its total at its end."""
    # At least BAR_SCALE wide, so one interview or one theme is not a full-width bar.
    total = max(max((sum(v) for v in values), default=0), BAR_SCALE)
    bars: list[tuple[int, int, int, str]] = []  # y, length, left, colour: drawn in one go
    for i, (label, parts) in enumerate(zip(labels, values, strict=True)):
        left = 0
        for part, colour in zip(parts, colours, strict=True):
            if part:
                bars.append((-i, part, left, colour))
            left += part
        ax.text(0, 0.2 - i, label, ha="left", va="bottom", fontsize=LABEL_SIZE, parse_math=False)
        if totals:
            ax.text(left + total * 0.01, -i, str(left), ha="left", va="center", fontsize=LABEL_SIZE)
    if bars:
        ys, lengths, lefts, fills = zip(*bars, strict=True)
        ax.barh(ys, lengths, left=lefts, height=0.34, color=fills)
    ax.set_ylim(-len(labels) + 0.55, 0.75)
    ax.set_xlim(0, total * 1.08)
    ax.set_axis_off()  # no scale: each bar says its number (and drawing is faster)


def _themes(ax: Axes, themes: Counter[str], words: dict[str, str]) -> None:
    _title(ax, words["chart_themes"])
    if not themes:
        _empty(ax, words["chart_themes_none"])
        return
    ranked = themes.most_common()  # one bar per theme, most common first
    _rows(ax, [THEME_NAMES.get(t, t.replace("_", " ")) for t, _ in ranked],
          [[n] for _, n in ranked], [ORANGE])  # fmt: skip


def _interviews(
    ax: Axes, interviews: Counter[tuple[str, str]], stages: list[str], words: dict[str, str]
) -> None:
    _title(ax, words["chart_interviews"])
    if not stages:
        _empty(ax, words["chart_interviews_none"])
        return
    outcomes = [*OUTCOME_ORDER, *sorted({k[1] for k in interviews} - set(OUTCOME_ORDER))]
    labels, values = [], []
    for stage in stages:
        counts = [interviews.get((stage, o), 0) for o in outcomes]
        tally = ", ".join(
            words["chart_count"].format(count=n, outcome=words.get(OUTCOME_KEYS.get(o, ""), o))
            for o, n in zip(outcomes, counts, strict=True)
            if n
        )
        # "other" is "something else" or a rejection logged without its stage.
        named = words["chart_stage_other"] if stage == "other" else STAGES.get(stage, stage)
        labels.append(words["chart_stage"].format(stage=named, tally=tally))
        values.append(counts)
    _rows(ax, labels, values, [OUTCOME_COLOURS.get(o, SKY) for o in outcomes], totals=False)


def _plan(ax: Axes, plan: tuple[int, int, int], words: dict[str, str]) -> None:
    _title(ax, words["chart_plan"])
    if not any(plan):
        _empty(ax, words["chart_plan_none"])
        return
    keys = ("chart_plan_done", "chart_plan_open", "chart_plan_overdue")
    label = ", ".join(
        words["chart_count"].format(count=n, outcome=words[k])
        for k, n in zip(keys, plan, strict=True)
        if n
    )
    _rows(ax, [label], [list(plan)], [GREEN, SKY, ORANGE], totals=False)
