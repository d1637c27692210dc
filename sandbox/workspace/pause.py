"""A shared job cluster waiting between its tasks: where its simulated timeline may pause, and
how the rest of that timeline moves later when it resumes (pure functions on a SimulatedRun).

On Databricks a shared job cluster stays up while tasks that use it are still to come: in
`a1 -> b -> a2` (a1, a2 on one job cluster, b elsewhere) it serves a1, idles while b runs on
its own cluster, then serves a2; its nodes run (and are billed) through the wait. The simulator
computes a cluster's whole timeline up front, so the player pauses it at a wave boundary and,
when the wave's outside dependencies have ended, moves everything after the boundary later by
the wait: cluster events, nodes' lifetimes, the end, and the times inside event-log lines.

The boundary is put at a moment when no Spark task of the simulated application runs (where
one Spark job ends and the next begins, when there is such a place), so no task seems to run
through the wait; the driver logs no heartbeats while it idles (a simplification).
"""

from __future__ import annotations

import json
from typing import Any

# Event-log fields that hold an epoch-millisecond time (SparkListener* events and the SQL ones).
TIME_KEYS = frozenset({"Timestamp", "Submission Time", "Completion Time", "Launch Time",
                       "Finish Time", "Getting Result Time", "time"})
# The SQL execution a Spark job belongs to starts this long before the job (sandbox.sim.eventlog).
SQL_LEAD_MS = 5


def quiet_points(eventlog: list[tuple[int, str]]) -> list[int]:
    """Moments when no Spark task runs, after the first task: where a paused timeline can be cut
    without a task running through the pause. A job's start (its SQL execution's) is preferred;
    a job whose first tasks start while the job before still runs some gives the end of the
    busy stretch instead."""
    busy: list[tuple[int, int]] = []
    job_starts: list[int] = []
    for t, line in eventlog:
        if '"SparkListenerJobStart"' in line:
            job_starts.append(t - SQL_LEAD_MS)
        elif '"SparkListenerTaskEnd"' in line:
            info = json.loads(line).get("Task Info") or {}
            busy.append((int(info.get("Launch Time", t)), int(info.get("Finish Time", t))))
    if not busy:
        return []
    busy.sort()
    merged = [list(busy[0])]
    for start, end in busy[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    quiet = [(a[1], b[0]) for a, b in zip(merged, merged[1:], strict=False)]
    points = set()
    for low, high in quiet:
        inside = [j for j in job_starts if low < j < high]
        points.add(inside[0] if inside else low + 1)
    return sorted(points)


def boundaries(even: list[int], pausable: set[int], cuts: list[int], end_ms: int) -> list[int]:
    """The wave ends: `even` (the Spark time split evenly), except that a boundary where the
    cluster may pause (its index in `pausable`) moves to the nearest of `cuts` that keeps the
    boundaries in order and before `end_ms` (the cluster's TERMINATING)."""
    out = list(even)
    for i in sorted(pausable):
        low = out[i - 1] if i > 0 else -1  # the caller keeps `cuts` after RUNNING
        high = out[i + 1] if i + 1 < len(out) else end_ms
        fits = [c for c in cuts if low < c < high]
        if fits:
            out[i] = min(fits, key=lambda c: abs(c - even[i]))
    return out


def shift_line(line: str, from_ms: int, delta_ms: int) -> str:
    """The event-log line with every time at or after `from_ms` moved `delta_ms` later."""
    event = json.loads(line)
    if not _shift(event, from_ms, delta_ms):
        return line
    return json.dumps(event, separators=(",", ":"))


def _shift(value: Any, from_ms: int, delta_ms: int) -> bool:
    changed = False
    if isinstance(value, dict):
        for key, item in value.items():
            if (key in TIME_KEYS and isinstance(item, int) and not isinstance(item, bool)
                    and item >= from_ms):
                value[key] = item + delta_ms
                changed = True
            else:
                changed = _shift(item, from_ms, delta_ms) or changed
    elif isinstance(value, list):
        for item in value:
            changed = _shift(item, from_ms, delta_ms) or changed
    return changed


def shift_run(sim: Any, from_ms: int, delta_ms: int) -> None:
    """Move what the simulated cluster does after `from_ms` `delta_ms` later (in place): its nodes
    stay up through the wait (so they are billed for it), nodes that join later join later, and
    the event log the observers read follows. Cluster events are moved by the player, which
    holds them."""
    for n in sim.nodes:
        if n.start_ms > from_ms:
            n.start_ms += delta_ms
        if n.end_ms > from_ms:
            n.end_ms += delta_ms
    sim.eventlog = [(t + delta_ms, shift_line(line, from_ms, delta_ms)) if t > from_ms
                    else (t, line) for t, line in sim.eventlog]
    sim.end_time_ms += delta_ms
    summary = getattr(sim, "summary", None)
    if isinstance(summary, dict) and "runtime_s" in summary:
        summary["runtime_s"] = float(summary["runtime_s"]) + delta_ms / 1000.0
        summary["idle_wait_s"] = float(summary.get("idle_wait_s", 0.0)) + delta_ms / 1000.0


def cut_short(sim: Any, at_ms: int) -> None:
    """The cluster ends at `at_ms` because no task is left for it: nodes stop then, and the
    simulated work after it never happens."""
    for n in sim.nodes:
        n.end_ms = min(n.end_ms, at_ms)
    sim.eventlog = [(t, line) for t, line in sim.eventlog if t <= at_ms]
    sim.end_time_ms = at_ms
