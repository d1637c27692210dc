"""Runs a year of a project's job: its schedule's fires, as many as its runs can start, else the
observed cadence (pure). The projected annual saving multiplies by it (`server.services.savings`,
docs/savings.md "Runs a year"), and the storage advice prices a month of runs with it
(`server.plan.storage`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from server.domain import JobSchedule, Project, Run
from server.schedule import CronError, UnsupportedCron, fires_per_year

YEAR_MS = 365 * 24 * 3600 * 1000
# Databricks starts a job's scheduled runs at least this far apart, however often the cron fires.
SCHEDULED_GAP_S = 10.0
TYPICAL_SPAN_RUNS = 10  # the latest runs whose median span says how long a run holds its slot


def runs_per_year(runs: Sequence[Run]) -> float:
    starts = sorted(r.start_ms for r in runs if r.start_ms)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False) if b > a]
    return YEAR_MS / statistics.median(gaps) if gaps else 0.0


@dataclass(frozen=True)
class Cadence:
    runs_per_year: float
    basis: str  # schedule | observed
    note: str = ""


def cadence(project: Project, runs: Sequence[Run]) -> Cadence:
    """Runs a year: the job's unpaused schedule when it can be counted, else the observed cadence."""
    schedule = project.schedule
    if schedule is None:
        return Cadence(runs_per_year(runs), "observed")
    if schedule.paused:
        # A paused schedule starts nothing: the runs that happen are triggered some other way.
        return Cadence(runs_per_year(runs), "observed", "the job's schedule is paused")
    if schedule.max_concurrent_runs <= 0:
        # Databricks skips every new run of a job allowed none at a time: its runs come another way.
        return Cadence(runs_per_year(runs), "observed",
                       "the job's max_concurrent_runs is 0: its schedule starts no run")
    if schedule.interval_s:
        # A periodic trigger: one run every interval, as many as its runs allow.
        return _kept_up(YEAR_MS / 1000.0 / schedule.interval_s, schedule, runs)
    # Counted from the latest run so the result does not depend on when it is asked (pure).
    start_ms = max((r.start_ms for r in runs if r.start_ms), default=0)
    try:
        fires = fires_per_year(schedule.quartz_cron_expression, schedule.timezone_id, start_ms)
    except UnsupportedCron as exc:
        return Cadence(runs_per_year(runs), "observed", f"schedule not counted: {exc}")
    except CronError as exc:
        return Cadence(runs_per_year(runs), "observed", f"schedule not understood: {exc}")
    if fires == 0:  # e.g. a year field that has passed
        return Cadence(runs_per_year(runs), "observed", "the job's schedule fires no more")
    return _kept_up(float(fires), schedule, runs)


def _run_span_s(run: Run) -> float:
    """How long a run held one of the job's run slots: start to end (cluster setup included)."""
    start, end = run.start_ms or 0, run.end_ms or 0
    wall = (end - start) / 1000.0 if start and end > start else 0.0
    return max(wall, run.runtime_s or 0.0)


def _kept_up(fires: float, schedule: JobSchedule, runs: Sequence[Run]) -> Cadence:
    """The schedule's fires a year, but no more runs than can start: with ``max_concurrent_runs``
    runs going, Databricks skips a fire (or queues it until one ends), so at most
    max_concurrent_runs x a year / the typical run's span start; and scheduled runs start at
    least `SCHEDULED_GAP_S` apart. A 15-minute cron of 40-minute runs fires 35,040 times a year and
    runs about 11,700 times (at most 13,140): counting every fire tripled the projected saving."""
    year_s = YEAR_MS / 1000.0
    limits = [(year_s / SCHEDULED_GAP_S, f"Databricks starts a job's scheduled runs at least "
                                         f"{SCHEDULED_GAP_S:.0f} s apart")]
    latest = sorted((r for r in runs if _run_span_s(r) > 0), key=lambda r: (r.start_ms, r.databricks_run_id))
    spans = [_run_span_s(r) for r in latest[-TYPICAL_SPAN_RUNS:]]
    if spans:
        typical = statistics.median(spans)
        slots = schedule.max_concurrent_runs
        limits.append((slots * year_s / typical,
                       f"its runs take {typical / 60:,.0f} min (median of the last {len(spans)}) and "
                       f"max_concurrent_runs is {slots}: Databricks skips or queues the fires while "
                       f"{'that many runs are' if slots > 1 else 'a run is'} going"))
    cap, why = min(limits)
    if cap >= fires:
        return Cadence(fires, "schedule")
    return Cadence(cap, "schedule", f"the schedule fires {fires:,.0f} times a year but at most {cap:,.0f} runs "
                                    f"can start: {why}")
