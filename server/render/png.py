"""The timeline as a PNG through matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # before pyplot: headless servers and CI have no display

from matplotlib.axes import Axes  # noqa: E402  (after choosing the backend)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from server.render.fmt import (  # noqa: E402
    ANOMALY_COLORS,
    NOT_PRICED,
    OTHER_COLOR,
    PHASE_COLORS,
    REBASE_COLOR,
    SETUP_COLOR,
    SETUP_OPACITY,
    SLA_COLOR,
    money,
)
from server.render.sla_line import AS_COLLECTED, step_label  # noqa: E402
from server.timeline import ProjectTimeline  # noqa: E402


def timeline_png(tl: ProjectTimeline, dpi: int = 100) -> bytes:
    fig = timeline_figure(tl, dpi)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def sla_steps(ax: Axes, tl: ProjectTimeline) -> bool:
    """The SLA as it was, as the SVG's line.sla steps: each step over its runs' half-run either side
    (x is a run's position + 1), in minutes, one line per unbroken stretch so a change of SLA between
    two runs is a riser; whether anything was drawn. One SLA throughout keeps the one legend entry
    ``SLA 5m00s``; several are each labelled at their right end."""
    steps = tl.sla_steps
    if not steps:
        return False
    several = len(steps) > 1
    lines: list[tuple[list[float], list[float]]] = []
    for i, step in enumerate(steps):
        if i == 0 or steps[i - 1].last != step.first - 1:
            lines.append(([], []))
        xs, ys = lines[-1]
        xs += [step.first + 0.5, step.last + 1.5]
        ys += [step.sla_s / 60] * 2
        if several:
            ax.text(step.last + 1.5, step.sla_s / 60, step_label(tl, step), ha="right", va="bottom",
                    fontsize=7, color=SLA_COLOR, gid="sla-label")
    for n, (xs, ys) in enumerate(lines):
        label = (AS_COLLECTED if several else step_label(tl, steps[0])) if n == 0 else None
        ax.plot(xs, ys, color=SLA_COLOR, ls="--", lw=1.2, label=label, gid="sla")
    return True


def timeline_figure(tl: ProjectTimeline, dpi: int = 100) -> Figure:
    # A Figure, not pyplot: no global state, safe from the dashboard's threads.
    fig = Figure(figsize=(10, 6), dpi=dpi)
    runtime_ax, cost_ax = fig.subplots(2, 1, sharex=True)
    xs = list(range(1, len(tl.points) + 1))
    runtime_ax.set_title(tl.title or "timeline", fontsize=11)
    for band in tl.bands:
        for ax in (runtime_ax, cost_ax):
            ax.axvspan(band.first + 0.5, band.last + 1.5, color=PHASE_COLORS.get(band.phase, "#f3f4f6"),
                       alpha=0.55, lw=0)
        runtime_ax.text((band.first + band.last) / 2 + 1, 1.0, band.phase, transform=runtime_ax.get_xaxis_transform(),
                        ha="center", va="bottom", fontsize=8)
    setups = [(i + 1, p.setup_s / 60) for i, p in enumerate(tl.points) if p.setup_s is not None]
    if setups:
        # Under the runtime line, like the SVG's rect.setup: how much of each runtime was cluster setup.
        runtime_ax.bar([x for x, _ in setups], [s for _, s in setups], width=0.25, color=SETUP_COLOR,
                       alpha=SETUP_OPACITY, lw=0, label="cluster setup", zorder=1)
    runtime_ax.plot(xs, [p.runtime_s / 60 for p in tl.points], "o-", color="#2563eb", ms=3, lw=1.2, zorder=2)
    # NaN for an unpriced run: matplotlib breaks the line there and draws no point (0 would be a free run).
    cost_ax.plot(xs, [math.nan if p.known_cost is None else p.known_cost for p in tl.points], "o-",
                 color="#059669", ms=3, lw=1.2)
    unpriced = [i + 1 for i, p in enumerate(tl.points) if not p.priced]
    for n, x in enumerate(unpriced):
        # The gap is marked, as the SVG's g.unpriced is, so it does not read as a missing run.
        cost_ax.axvline(x, color=ANOMALY_COLORS["unpriced"], ls=(0, (2, 3)), lw=1,
                        label=NOT_PRICED if n == 0 else None)
    if unpriced:
        cost_ax.legend(loc="upper right", fontsize=8)
    drawn = sla_steps(runtime_ax, tl)
    if drawn or setups:
        runtime_ax.legend(loc="upper right", fontsize=8)
    for marker in tl.markers:
        # A reverted recommendation's apply fainter: its revert is annotated where the job went back.
        for ax in (runtime_ax, cost_ax):
            ax.axvline(marker.index + 1, color="#9ca3af" if marker.reverted else "#111827", ls=":", lw=1)
    for rebase in tl.rebases:
        # As the SVG's g.rebase-marker: where the model learns again, named at the panel's foot.
        for ax in (runtime_ax, cost_ax):
            ax.axvline(rebase.index + 1, color=REBASE_COLOR, lw=1.3)
        runtime_ax.text(rebase.index + 1.1, 0.02, rebase.label.split(":")[0], transform=runtime_ax.get_xaxis_transform(),
                        fontsize=7, color=REBASE_COLOR, va="bottom")
    seen: dict[int, int] = {}
    for note in tl.annotations:
        level = seen.get(note.index, 0)
        seen[note.index] = level + 1
        point = tl.points[note.index]
        runtime_ax.annotate(note.label, (note.index + 1, point.runtime_s / 60), xytext=(4, 6 + 10 * level),
                            textcoords="offset points", fontsize=7,
                            color=ANOMALY_COLORS.get(note.kind, OTHER_COLOR))
        runtime_ax.plot([note.index + 1], [point.runtime_s / 60], "o", ms=6, mfc="none",
                        color=ANOMALY_COLORS.get(note.kind, OTHER_COLOR))
    runtime_ax.set_ylabel("runtime (min)")
    cost_ax.set_ylabel(f"cost per run ({tl.currency})")
    cost_ax.set_xlabel("run id")
    # Runs are counted: ticks only on whole numbers (the axes share x, so this sets both). The view
    # is half a run either side, as the phase bands are, so one run still gets its tick (1).
    if tl.points:
        cost_ax.set_xlim(0.5, len(tl.points) + 0.5)
    cost_ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    # Ticks name the run's id, as the runs table and `trimtab run list` do (x is its position + 1).
    ids = [p.run_id for p in tl.points]
    cost_ax.xaxis.set_major_formatter(
        lambda v, _pos: str(ids[int(v) - 1]) if float(v).is_integer() and 1 <= int(v) <= len(ids) else "")
    runtime_ax.set_ylim(bottom=0)
    cost_ax.set_ylim(bottom=0)
    cost_ax.yaxis.set_major_formatter(lambda v, _pos: money(v, tl.currency))
    fig.tight_layout()
    return fig
