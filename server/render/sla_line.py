"""What the charts write on the SLA line: one label per step (`ProjectTimeline.sla_steps`), the same
words in the SVG and the PNG."""

from __future__ import annotations

from server.render.fmt import duration
from server.timeline import ProjectTimeline, SlaStep

# The legend's words for the line when it has more than one step.
AS_COLLECTED = "SLA in force when each run was collected"


def step_label(tl: ProjectTimeline, step: SlaStep) -> str:
    """``SLA 5m00s`` for a step of today's SLA, ``SLA 10m00s then`` for one since changed. The latest
    runs' step also names today's SLA when it changed after them, which no run has been drawn against
    yet: ``SLA 10m00s then (now 5m00s)``, ``(no SLA now)``."""
    if step.sla_s == tl.sla_seconds:
        return f"SLA {duration(step.sla_s)}"
    label = f"SLA {duration(step.sla_s)} then"
    if step.last == len(tl.points) - 1:
        label += " (no SLA now)" if tl.sla_seconds is None else f" (now {duration(tl.sla_seconds)})"
    return label


def step_title(tl: ProjectTimeline, step: SlaStep) -> str:
    """A step's tooltip: which runs were judged against it."""
    first, last = tl.points[step.first].run_id, tl.points[step.last].run_id
    count = step.last - step.first + 1
    runs = f"run {first}" if count == 1 else f"{count} runs, {first} to {last},"
    return f"{step_label(tl, step)}: {runs} judged against {duration(step.sla_s)}, the SLA when collected"
