"""Progress: interviews, outcomes, feelings over time, themes and the plan, in words and a chart.

matplotlib is imported only when a chart is drawn (it costs ~0.3 s), with the headless Agg
backend, so the terminal chat still starts fast and servers need no display.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from bot.coaching.files import new_file, open_private
from bot.coaching.themes import THEME_NAMES
from bot.conversation.context import TurnContext
from bot.conversation.messages import Image
from bot.conversation.registry import action, uses_messages
from bot.storage.models import FeelingEntry, Interview, PlanAction, ThemeTag

OUTCOME_WORDS = {"pending": "waiting", "offer": "offer", "rejected": "not this time"}
CHART_WORDS = (
    "chart_feelings", "chart_check_in", "chart_themes", "chart_themes_none", "chart_outcomes",
    "chart_waiting", "chart_offer", "chart_rejected", "chart_plan_done", "chart_plan_open",
)  # fmt: skip
uses_messages(
    "progress_interviews", "progress_none_yet", "progress_plan", "progress_plan_empty",
    "progress_themes", "progress_last", "progress_chart", "progress_chart_alt", *CHART_WORDS,
)  # fmt: skip


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
        points = [(f.created_at, f.intensity or 0, f.feeling) for f in feelings]
        plan_counts = (done, len(plan) - done)
        words = {key: ctx.text(key) for key in CHART_WORDS}
        ctx.after_commit.append(
            lambda: draw_chart(path, points, themes, outcomes, plan_counts, words)
        )
        ctx.say(ctx.text("progress_chart"), image=Image(str(path), ctx.text("progress_chart_alt")))


def draw_chart(
    path: Path,
    feelings: list[tuple[object, int, str]],
    themes: Counter[str],
    outcomes: Counter[str],
    plan: tuple[int, int],
    words: dict[str, str],
) -> Path:
    """Draw the three panels; ``words`` are the ``chart_*`` messages (titles and labels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), dpi=100)
    ax = axes[0]
    if feelings:
        xs = list(range(1, len(feelings) + 1))
        ys = [f[1] for f in feelings]
        ax.plot(xs, ys, marker="o", color="#4a7bd0")
        for x, y, (_, _, name) in zip(xs, ys, feelings, strict=True):
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(0, 7), ha="center",
                        fontsize=8)  # fmt: skip
        ax.set_xticks(xs)
        ax.margins(x=0.15)
    ax.set_ylim(0, 5.8)
    ax.set_title(words["chart_feelings"])
    ax.set_xlabel(words["chart_check_in"])
    ax = axes[1]
    labels = [THEME_NAMES.get(t, t).split(" ")[0] for t, _ in themes.most_common(5)]
    ax.barh(labels[::-1], [n for _, n in themes.most_common(5)][::-1], color="#e0a040", height=0.5)
    ax.set_title(words["chart_themes"])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(-0.6, max(len(labels), 4) - 0.4)
    if not themes:
        ax.text(
            0.5, 0.5, words["chart_themes_none"], ha="center", va="center", transform=ax.transAxes
        )
    ax = axes[2]
    names = [words[k] for k in CHART_WORDS[5:]]
    values = [outcomes.get("pending", 0), outcomes.get("offer", 0), outcomes.get("rejected", 0),
              plan[0], plan[1]]  # fmt: skip
    ax.bar(names, values, color=["#999999", "#3c9c5c", "#c05050", "#3c9c5c", "#bbbbbb"])
    ax.set_title(words["chart_outcomes"])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="x", labelsize=8, rotation=20)
    fig.tight_layout()
    with os.fdopen(open_private(path), "wb") as out:  # 0600, in the person's 0700 folder
        fig.savefig(out, format="png")
    plt.close(fig)
    for older in path.parent.glob("progress-*.png"):  # only the newest picture is kept
        if older != path:
            older.unlink(missing_ok=True)
    return path
