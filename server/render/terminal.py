"""A compact timeline for the terminal: one column per run, a few rows.

    runtime  ▇▆▅▃▂▂▂▂  21m40s .. 48m10s (setup ~4m05s)  SLA 45m00s: 7/8 met
    cost     ▇▆▅▃▂▂▂▂  $1.20 .. $4.00
    phase    LLLLOOOO
    applied      ^ ^
    events    s  d  F

Only the last `width` runs fit; the header says how many were left out. The
runtime row names the median cluster setup of the shown runs that reported one.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median

from server.render.fmt import duration, money
from server.timeline import ProjectTimeline

BLOCKS = "▁▂▃▄▅▆▇█"
PHASE_LETTERS = {"learning": "L", "optimizing": "O", "monitoring": "M"}
ANOMALY_LETTERS = {"spot_loss": "s", "data_growth": "d", "failure": "F", "launch_failed": "c", "user_edit": "e"}


def spark(values: Sequence[float], top: float) -> str:
    """Block characters scaled to ``top`` (so runtime bars and the SLA share a scale)."""
    if top <= 0:
        return BLOCKS[0] * len(values)
    return "".join(BLOCKS[min(len(BLOCKS) - 1, max(0, round(v / top * (len(BLOCKS) - 1))))] for v in values)


LEGEND = ("         L learning  O optimizing  M monitoring  ^ recommendation applied  "
          "s spot loss  d data growth  F failure  c cloud failure  e user edit")


def render_terminal(timeline: ProjectTimeline, width: int = 72, legend: bool = True) -> str:
    points = timeline.points
    title = timeline.title or "timeline"
    if not points:
        return f"{title}: no runs yet"
    offset = max(0, len(points) - width)
    shown = points[offset:]
    header = f"{title}  ({len(points)} runs"
    header += f", last {len(shown)} shown)" if offset else ")"
    runtimes = [p.runtime_s for p in shown]
    costs = [p.cost for p in shown]
    lines = [header]
    sla_note = ""
    if timeline.sla_seconds is not None:
        met = sum(1 for p in points if timeline.sla_met(p))
        sla_note = f"  SLA {duration(timeline.sla_seconds)}: {met}/{len(points)} met"
    setups = [p.setup_s for p in shown if p.setup_s is not None]
    setup_note = f" (setup ~{duration(median(setups))})" if setups else ""
    lines.append(f"runtime  {spark(runtimes, timeline.max_runtime_s)}  "
                 f"{duration(min(runtimes))} .. {duration(max(runtimes))}{setup_note}{sla_note}")
    lines.append(f"cost     {spark(costs, max(costs))}  "
                 f"{money(min(costs), timeline.currency)} .. {money(max(costs), timeline.currency)}")
    lines.append("phase    " + "".join(PHASE_LETTERS.get(p.phase, "?") for p in shown))
    marked = {m.index - offset for m in timeline.markers if m.index >= offset}
    lines.append(("applied  " + "".join("^" if i in marked else " " for i in range(len(shown)))).rstrip())
    events = [" "] * len(shown)
    for note in timeline.annotations:
        if note.index >= offset:
            # One letter per column: the most serious anomaly wins (failure over the rest).
            letter = ANOMALY_LETTERS.get(note.kind, "?")
            if events[note.index - offset] != "F":
                events[note.index - offset] = letter
    lines.append(("events   " + "".join(events)).rstrip())
    if legend:
        lines.append(LEGEND)
    return "\n".join(lines)
