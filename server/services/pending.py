"""A recommendation as people review it: whether the job already runs it, what the job ran when it
was made, and what the current cluster costs a run (what its predicted cost is weighed against)."""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from server.already_runs import already_on_job
from server.domain import ClusterConfig, Project, Recommendation, Run
from server.plan.candidates import on_pool, same_hardware
from server.store import Store

# The current cluster's cost per run is the median of its latest this many succeeded, priced runs,
# looked for among the project's latest `SCANNED_RUNS`: one run's cost swings with its input.
RECENT_RUNS = 5
SCANNED_RUNS = 50


@dataclass(frozen=True)
class ShownRecommendation:
    """A recommendation with what its listing and `recommendation show` say beside it."""

    recommendation: Recommendation
    # Pending, and the job's cluster already runs its configuration (`on_job`).
    already_on_job: bool = False
    # The cluster of the job's last run stored before it was made (`planned_from`).
    planned_from: ClusterConfig | None = None


def on_job(store: Store, project: Project, rec: Recommendation) -> bool:
    """Whether ``rec`` is pending and the job's cluster already runs it, as Trimtab last read the job
    (`server.already_runs.already_on_job`, on the workspace's cloud): the rule `server.apply` holds an
    apply to, and the one auto-apply skips a recommendation by."""
    from server.job_write import project_cloud  # imports databricks-sdk: only when a recommendation is shown

    if rec.state != "pending" or not project.current_spec:
        return False
    return already_on_job(project, rec.config, cloud=project_cloud(store, project))


def planned_from(runs: Sequence[Run], stored: Sequence[int], rec: Recommendation) -> ClusterConfig | None:
    """The configuration of the last of ``runs`` (in the order they were stored, ``stored`` their
    times: `by_storing`) that Trimtab had stored when ``rec`` was made: the cluster the job last ran
    as the plan saw it. None when no run was stored by then."""
    at = bisect.bisect_right(stored, rec.created_at_ms)
    return runs[at - 1].config if at else None


def by_storing(runs: Sequence[Run]) -> tuple[list[Run], list[int]]:
    """``runs`` in the order they were stored, and when each was (what `planned_from` reads). By the
    time stored, not started: a past run backfilled later was no run the plans before it saw."""
    ordered = sorted(runs, key=lambda r: (r.created_at_ms, r.id or 0))
    return ordered, [r.created_at_ms for r in ordered]


def current_cost_per_run(store: Store, project_id: int, current: ClusterConfig | None) -> float | None:
    """The median cost of the latest `RECENT_RUNS` succeeded, priced runs of the project on the
    ``current`` configuration (the same hardware to the plan: `same_hardware`; a run's record holds no
    more of what its cluster was written with); None when there is no such run among its latest
    `SCANNED_RUNS`."""
    if current is None:
        return None
    costs = [r.cost.total for r in store.runs.newest_first(project_id, limit=SCANNED_RUNS)
             if r.outcome == "succeeded" and r.cost is not None and r.config is not None
             and same_hardware(on_pool(r.config, current), current)][:RECENT_RUNS]
    return statistics.median(costs) if costs else None
