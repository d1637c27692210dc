"""The timeline as inline SVG (no scripts, no fonts or assets fetched from anywhere).

Two panels share the run axis: runtime (with the SLA line) above, cost below. The SLA line steps
where the SLA changed (``line.sla`` per step, ``data-sla-s``; ``line.sla-step`` risers), each step
labelled (``text.sla-label``): a run is drawn against the SLA in force when it was collected.
Phase bands shade both panels, dashed lines mark applied recommendations, a
solid magenta line (``g.rebase-marker``) the run the model learns again from
after a change of the workload, and anomalies sit as labelled dots above their run. Elements carry classes and
``data-*`` attributes (``circle.point.runtime``, ``data-run-id``) so a browser
test can count what was drawn. A run that reported its cluster's setup gets a
pale bar (``rect.setup``) from the runtime axis up to the setup, under its
runtime point: how much of the runtime was the cluster coming up. A run Trimtab
could not price (``known_cost`` None) is a gap in the cost line: no cost point,
the line breaks there, and a dashed mark (``g.unpriced``) says "not priced", so
an unknown cost is never drawn as a free run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from server.render.fmt import (
    ANOMALY_COLORS,
    NOT_PRICED,
    OTHER_COLOR,
    PHASE_COLORS,
    REBASE_COLOR,
    SETUP_COLOR,
    SETUP_OPACITY,
    SLA_COLOR,
    cost_text,
    duration,
    money,
)
from server.render.sla_line import AS_COLLECTED, step_label, step_title
from server.timeline import ANOMALY_LABELS, BASELINE, ProjectTimeline, TimelinePoint

WIDTH = 900
PANEL_HEIGHT = 190
LEFT, RIGHT, TOP, GAP, BOTTOM = 70, 20, 40, 40, 36


DURATION_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600,
                  43200, 86400)
DAY_S = 86400
# At most this many ticks on an axis, whatever the values: a step that cannot keep to it (a value
# beyond what a float step can divide) draws the axis's ends only.
MAX_TICKS = 12


def _round_step(raw: float) -> float:
    """The smallest 1/2/5 x 10^k at or above ``raw`` (> 0)."""
    magnitude = 10 ** math.floor(math.log10(raw))
    return float(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def nice_step(top: float, durations: bool, count: int = 4) -> float:
    """A round step (1/2/5 x 10^k, or a whole number of seconds/minutes/hours; past a day 1/2/5 x 10^k
    days) giving about `count` ticks."""
    raw = top / count if top > 0 and math.isfinite(top) else 1.0
    if durations:
        if raw <= DURATION_STEPS[-1]:
            return float(next(s for s in DURATION_STEPS if s >= raw))
        # Past a day the steps stopped at one: a runtime of 31 years drew 12,617 day ticks.
        return _round_step(raw / DAY_S) * DAY_S
    return _round_step(raw)


def _ticks(top: float, durations: bool) -> list[float]:
    step = nice_step(top, durations)
    count = int(top / step + 1e-9) + 1 if math.isfinite(top) else 0
    if not 0 < count <= MAX_TICKS:
        return [0.0, top] if math.isfinite(top) else [0.0]
    return [step * i for i in range(count)]


class _Panel:
    def __init__(self, y0: float, top_value: float, n: int) -> None:
        self.y0 = y0
        self.top_value = top_value if top_value > 0 else 1.0
        self.n = n

    def x(self, index: int) -> float:
        inner = WIDTH - LEFT - RIGHT
        return LEFT + (inner / 2 if self.n <= 1 else inner * index / (self.n - 1))

    def y(self, value: float) -> float:
        return self.y0 + PANEL_HEIGHT - PANEL_HEIGHT * min(value, self.top_value) / self.top_value


def _stretches(values: Sequence[float | None]) -> list[list[int]]:
    """The indexes of the maximal runs of known values: where a line is drawn unbroken."""
    stretches: list[list[int]] = []
    for i, value in enumerate(values):
        if value is None:
            continue
        if stretches and stretches[-1][-1] == i - 1:
            stretches[-1].append(i)
        else:
            stretches.append([i])
    return stretches


def _panel(out: list[str], panel: _Panel, tl: ProjectTimeline, name: str, values: Sequence[float | None],
           label: Callable[[float], str], color: str) -> None:
    """A panel's grid, line and points; a None value (an unpriced run's cost) breaks the line and
    gets a "not priced" mark instead of a point."""
    out.append(f'<g class="panel panel-{name}">')
    out.append(f'<text x="{LEFT}" y="{panel.y0 - 8:.1f}" class="panel-title" font-size="13" '
               f'font-weight="600">{"runtime" if name == "runtime" else "cost per run"}</text>')
    for tick in _ticks(panel.top_value, durations=name == "runtime"):
        y = panel.y(tick)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10" '
                   f'fill="#4b5563">{escape(label(tick))}</text>')
    if name == "runtime":
        _setup_bars(out, panel, tl)
    if name == "runtime":
        _sla_steps(out, panel, tl)
    for stretch in _stretches(values):
        coords = " ".join(f"{panel.x(i):.1f},{panel.y(values[i] or 0.0):.1f}" for i in stretch)
        out.append(f'<polyline class="line {name}" points="{coords}" fill="none" stroke="{color}" '
                   f'stroke-width="1.5"/>')
    for i, (point, value) in enumerate(zip(tl.points, values, strict=True)):
        if value is None:
            _unpriced_mark(out, panel, i, point)
            continue
        fill = color if point.outcome == "succeeded" else "#dc2626"
        out.append(f'<circle class="point {name}" data-run-id="{point.run_id}" data-index="{i}" '
                   f'cx="{panel.x(i):.1f}" cy="{panel.y(value):.1f}" r="3.5" fill="{fill}">'
                   f'<title>{escape(_tooltip(tl, point))}</title></circle>')
    out.append("</g>")


def _sla_steps(out: list[str], panel: _Panel, tl: ProjectTimeline) -> None:
    """The SLA as it was: one dashed ``line.sla`` per step over its runs' half-run either side (as the
    phase bands span them, so one SLA throughout is one line across the panel), a ``line.sla-step``
    riser where the SLA changed between two runs, and each step's label at its right end."""
    half = (WIDTH - LEFT - RIGHT) / max(1, panel.n - 1) / 2 if panel.n > 1 else (WIDTH - LEFT - RIGHT) / 2
    previous: tuple[int, float, float] | None = None  # the last step's last index, right end and height
    for step in tl.sla_steps:
        x1 = max(LEFT, panel.x(step.first) - half)
        x2 = min(WIDTH - RIGHT, panel.x(step.last) + half)
        y = panel.y(step.sla_s)
        if previous is not None and previous[0] == step.first - 1:
            out.append(f'<line class="sla-step" x1="{x1:.1f}" x2="{x1:.1f}" y1="{previous[2]:.1f}" '
                       f'y2="{y:.1f}" stroke="{SLA_COLOR}" stroke-width="1.5" stroke-dasharray="2 2"/>')
        out.append(f'<line class="sla" data-sla-s="{step.sla_s:g}" x1="{x1:.1f}" x2="{x2:.1f}" y1="{y:.1f}" '
                   f'y2="{y:.1f}" stroke="{SLA_COLOR}" stroke-width="1.5" stroke-dasharray="6 3">'
                   f'<title>{escape(step_title(tl, step))}</title></line>')
        out.append(f'<text class="sla-label" x="{x2:.1f}" y="{y - 4:.1f}" text-anchor="end" font-size="10" '
                   f'fill="{SLA_COLOR}">{escape(step_label(tl, step))}</text>')
        previous = (step.last, x2, y)


def _unpriced_mark(out: list[str], panel: _Panel, index: int, point: TimelinePoint) -> None:
    """A dashed line across the panel at the run, with "not priced" written along it: the cost is
    unknown, so nothing is drawn at any height, least of all at $0."""
    x = panel.x(index)
    color = ANOMALY_COLORS["unpriced"]
    bottom = panel.y0 + PANEL_HEIGHT
    out.append(f'<g class="unpriced" data-run-id="{point.run_id}" data-index="{index}" data-x="{x:.1f}">'
               f'<title>run {point.run_id}: {NOT_PRICED}</title>'
               f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{panel.y0:.1f}" y2="{bottom:.1f}" stroke="{color}" '
               f'stroke-dasharray="2 3"/>'
               f'<text x="{x - 3:.1f}" y="{bottom - 4:.1f}" transform="rotate(-90 {x - 3:.1f} {bottom - 4:.1f})" '
               f'font-size="9" fill="{color}">{NOT_PRICED}</text></g>')


def _setup_bars(out: list[str], panel: _Panel, tl: ProjectTimeline) -> None:
    """One pale bar per run with a known setup, drawn before the line and points so it sits under them;
    runs without one draw nothing, so a timeline without setups renders as it always did."""
    known = [(i, p) for i, p in enumerate(tl.points) if p.setup_s is not None]
    if not known:
        return
    spacing = (WIDTH - LEFT - RIGHT) / max(1, panel.n - 1)
    width = min(10.0, max(2.0, spacing * 0.5))  # thin, and never wider than half the gap between runs
    base = panel.y(0)
    for i, point in known:
        top = panel.y(point.setup_s or 0.0)
        out.append(f'<rect class="setup" data-run-id="{point.run_id}" data-setup-s="{point.setup_s:g}" '
                   f'x="{panel.x(i) - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
                   f'height="{base - top:.1f}" fill="{SETUP_COLOR}" fill-opacity="{SETUP_OPACITY}">'
                   f'<title>run {point.run_id}: cluster setup {escape(duration(point.setup_s))} of '
                   f'{escape(duration(point.runtime_s))}</title></rect>')
    # The legend entry sits beside the panel's title, only on charts that have a setup to explain.
    x = LEFT + 70
    out.append(f'<g class="legend-setup"><rect x="{x}" y="{panel.y0 - 18:.1f}" width="10" height="10" '
               f'fill="{SETUP_COLOR}" fill-opacity="{SETUP_OPACITY}"/><text x="{x + 14}" y="{panel.y0 - 9:.1f}" '
               f'font-size="11" fill="#374151">cluster setup</text></g>')


def _tooltip(tl: ProjectTimeline, p: TimelinePoint) -> str:
    parts = [f"run {p.run_id}", p.phase, duration(p.runtime_s)]
    if p.setup_s is not None:
        parts.append(f"setup {duration(p.setup_s)}")
    parts += [cost_text(p.known_cost, tl.currency), p.outcome]
    if p.input_gb is not None:
        parts.append(f"{p.input_gb:.1f} GB in")
    if p.anomalies:
        parts.append(", ".join(p.anomalies))
    return " · ".join(parts)


def timeline_svg(tl: ProjectTimeline) -> str:
    n = len(tl.points)
    height = TOP + 2 * PANEL_HEIGHT + GAP + BOTTOM
    runtime = _Panel(TOP, tl.max_runtime_s * 1.1, n)
    cost = _Panel(TOP + PANEL_HEIGHT + GAP, tl.max_cost * 1.1, n)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" data-points="{n}" '
           f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
           f'font-family="sans-serif" role="img" aria-label="{escape(tl.title or "timeline")}">']
    out.append(f'<rect width="{WIDTH}" height="{height}" fill="white"/>')
    if n == 0:
        out.append(f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle" fill="#6b7280">'
                   f'no runs yet</text></svg>')
        return "".join(out)
    half = (WIDTH - LEFT - RIGHT) / max(1, n - 1) / 2 if n > 1 else (WIDTH - LEFT - RIGHT) / 2
    for band in tl.bands:
        x1 = max(LEFT, runtime.x(band.first) - half)
        x2 = min(WIDTH - RIGHT, runtime.x(band.last) + half)
        color = PHASE_COLORS.get(band.phase, "#f3f4f6")
        for panel in (runtime, cost):
            out.append(f'<rect class="band band-{escape(band.phase)}" data-phase="{escape(band.phase)}" '
                       f'x="{x1:.1f}" y="{panel.y0:.1f}" width="{x2 - x1:.1f}" height="{PANEL_HEIGHT}" '
                       f'fill="{color}" fill-opacity="0.55"/>')
        out.append(f'<text x="{(x1 + x2) / 2:.1f}" y="{TOP - 22}" text-anchor="middle" font-size="11" '
                   f'fill="#374151">{escape(band.phase)}</text>')
    for marker in tl.markers:
        x = runtime.x(marker.index)
        out.append(f'<line class="apply-marker" data-run-id="{marker.run_id}" '
                   f'data-recommendation-id="{marker.recommendation_id}" x1="{x:.1f}" x2="{x:.1f}" '
                   f'y1="{TOP:.1f}" y2="{cost.y0 + PANEL_HEIGHT:.1f}" stroke="#111827" '
                   f'data-reverted="{str(marker.reverted).lower()}" '
                   f'stroke-dasharray="3 3"><title>{escape(marker.label)}</title></line>')
    for rebase in tl.rebases:
        # The run the model learns again from: a solid line across both panels, named at the foot of
        # the runtime panel (the anomalies' dots sit at its head).
        x = runtime.x(rebase.index)
        foot = TOP + PANEL_HEIGHT - 4
        out.append(f'<g class="rebase-marker" data-run-id="{rebase.run_id}" data-kind="{escape(rebase.kind)}">'
                   f'<title>run {rebase.run_id}: {escape(rebase.label)}</title>'
                   f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP:.1f}" y2="{cost.y0 + PANEL_HEIGHT:.1f}" '
                   f'stroke="{REBASE_COLOR}" stroke-width="1.5"/>'
                   f'<text x="{x + 3:.1f}" y="{foot:.1f}" font-size="10" fill="{REBASE_COLOR}">'
                   f'{escape(rebase.label.split(":")[0])}</text></g>')
    _panel(out, runtime, tl, "runtime", [p.runtime_s for p in tl.points], duration, "#2563eb")
    _panel(out, cost, tl, "cost", [p.known_cost for p in tl.points], lambda v: money(v, tl.currency), "#059669")
    stacked: dict[int, int] = {}
    for note in tl.annotations:
        level = stacked.get(note.index, 0)
        stacked[note.index] = level + 1
        x = runtime.x(note.index)
        y = TOP + 6 + 9 * level
        color = ANOMALY_COLORS.get(note.kind, OTHER_COLOR)
        out.append(f'<circle class="anomaly anomaly-{escape(note.kind)}" data-run-id="{note.run_id}" '
                   f'cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{color}"><title>run {note.run_id}: '
                   f'{escape(note.label)}</title></circle>')
    axis_y = cost.y0 + PANEL_HEIGHT + 16
    step = max(1, n // 12)
    for i in range(0, n, step):
        # The run's id, as the runs table, `trimtab run list` and the points' titles name it (the
        # position read as another run: "run 2" on the chart was run 4 in the table).
        out.append(f'<text class="tick" x="{runtime.x(i):.1f}" y="{axis_y:.1f}" text-anchor="middle" '
                   f'font-size="10" fill="#4b5563">{tl.points[i].run_id}</text>')
    out.append(f'<text x="{WIDTH / 2}" y="{axis_y + 16:.1f}" text-anchor="middle" font-size="11" '
               f'fill="#374151">run id</text>')
    out.append("</svg>")
    return "".join(out)


def legend_html() -> str:
    """A legend for pages that embed the SVG (kinds and phases with their colours)."""
    # The baseline (the cluster as found, `server.timeline.BASELINE`) is drawn in the bands' default grey.
    items = [f'<span class="key"><i style="background:{c}"></i>{escape(p)}</span>'
             for p, c in {BASELINE: "#f3f4f6", **PHASE_COLORS}.items()]
    items += [f'<span class="key"><i style="background:{c};border-radius:50%"></i>'
              f'{escape(ANOMALY_LABELS.get(k, k.replace("_", " ")))}</span>' for k, c in ANOMALY_COLORS.items()]
    items.append('<span class="key"><i style="border-left:2px dashed #111827"></i>recommendation applied</span>')
    items.append(f'<span class="key"><i style="border-top:2px dashed {SLA_COLOR}"></i>{AS_COLLECTED}</span>')
    items.append(f'<span class="key"><i style="border-left:2px solid {REBASE_COLOR}"></i>learning again '
                 "(code change, input size shift or runtime regression)</span>")
    return '<div class="legend">' + "".join(items) + "</div>"
