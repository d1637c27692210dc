"""The search window: the total worker cores a project's candidates may have, and what to say when the
plan's pick sits at its edge.

A cluster far from the clusters the job ran on is an extrapolation of the runtime model, so the
search keeps within `CORE_SPAN` times the cores of two centres: the cluster as imported (raised to
min_workers), which keeps the space from wandering, and the cluster the job runs on once a run has
measured it (a trust region around the best configuration found so far). Anchored on the import
alone the window never moved: a job imported on 80 cores was never offered fewer than 20, however
well the 20-core cluster it settled on at that edge did.

The walk is deliberate, and bounded by evidence rather than by a number: each confirmed step may
reach `CORE_SPAN` times further (80 imported -> 20 run -> down to 5 -> 8 run -> down to 2), never
more than one step ahead of the runs. Only a run the model learns from confirms a step
(`measured_live`): succeeded, no anomaly of `models.observation.NOT_LEARNED` (a lost spot node, a
retry, a repair), not out of memory, in the current segment (after the change point the planner
keeps: runs before a change in input or code say nothing of the job now) and, for an SLA job,
within the SLA. A cluster that misses the SLA or whose run was not clean never moves the window,
so an SLA job cannot walk down past what met its SLA. Moving back up needs no confirmation: the
imported centre stays, and the project's own bounds (min/max_workers, families, a pool's
capacity) still hold inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from models.observation import NOT_LEARNED, OUT_OF_MEMORY
from server.costing.catalog import PriceCatalog
from server.costing.errors import TrimtabCostError
from server.domain import ClusterConfig, ProjectSettings, Run
from server.plan.worker_bounds import (
    CORE_SPAN,
    MIN_WORKERS,
    default_max_workers,
    search_workers,
    worker_counts,
)
from server.spec import config_label
from server.timeline import met_sla

if TYPE_CHECKING:
    from server.plan.policy import ClusterPolicy
    from server.plan.pools import PoolBacking


@dataclass(frozen=True)
class SearchWindow:
    """Total worker cores from ``low`` to ``high`` (both included), around ``start_cores`` (the cluster
    as imported, raised to min_workers) and ``live_cores`` (``live``: the cluster the job runs on, once
    measured; None and 0 when it is not a centre)."""

    low: float
    high: float
    start_cores: int
    live: ClusterConfig | None = None
    live_cores: int = 0

    def holds(self, cores: float) -> bool:
        return self.low <= cores <= self.high

    def line(self) -> str:
        """The window as `trimtab project show` prints it."""
        around = f"the imported {self.start_cores}"
        if self.live is not None and self.live_cores != self.start_cores:
            around += f" and the {self.live_cores} of {config_label(self.live)}, the cluster the job runs on"
        return f"{self.low:g}..{self.high:g} worker cores ({CORE_SPAN:g}x either way of {around})"

    def edge_from(self, low: bool) -> str:
        """What the low (else high) edge is reckoned from, for a reason: the window's reach, not the
        pick's size, which is the grid's first size inside it (8 cores when the edge is 20 / 4 = 5)."""
        factor = f"down to 1/{CORE_SPAN:g} of" if low else f"up to {CORE_SPAN:g}x"
        if self.live is not None and (self.live_cores < self.start_cores if low else self.live_cores > self.start_cores):
            return f"{factor} the {self.live_cores} cores of {config_label(self.live)}, the cluster the job runs on"
        return f"{factor} the imported {self.start_cores} cores"


def measured_live(current: ClusterConfig, ran: Sequence[tuple[Run, ClusterConfig]], *, sla_s: float | None = None,
                  segment_from: int | None = None) -> ClusterConfig | None:
    """``current`` (the cluster the job runs on) when one of ``ran`` (each run with its configuration as
    the planner reads it: on its pool's node type; oldest first) confirms it, else None: the trust
    region's second centre. Trimtab put the job there as the best it knew (or its owner did), and a
    run confirms it only when the runtime model learns from it and it did the job: succeeded, with no
    anomaly the model leaves out (`NOT_LEARNED`) and not out of memory (repaired or not: no evidence
    that its size is safe), from ``segment_from`` on (the id of the run the current segment starts
    at; None: all runs) and, with ``sla_s`` (the project's SLA), within it: a cluster that missed the
    SLA must not pull the search further down."""
    at = next((i for i, (r, _) in enumerate(ran) if r.id == segment_from), None) if segment_from is not None else None
    segment = ran if at is None else ran[at:]
    size = (current.node_type_id, search_workers(current))
    ok = any(confirms(r, sla_s) and (config.node_type_id, search_workers(config)) == size for r, config in segment)
    return current if ok else None


def confirms(run: Run, sla_s: float | None) -> bool:
    """Whether ``run`` may move the window to its cluster (`measured_live`)."""
    anomalies = set(run.anomalies)
    # The one SLA rule of every figure (`met_sla`): a runtime without the cluster's setup (a backfilled
    # run) within the SLA is no proof that the run met it.
    return run.outcome == "succeeded" and not anomalies & NOT_LEARNED and OUT_OF_MEMORY not in anomalies \
        and (sla_s is None or met_sla(run.outcome, run.runtime_s, sla_s, execution_only=run.execution_only) is True)


def search_window(start: ClusterConfig, settings: ProjectSettings, catalog: PriceCatalog, cloud: str,
                  live: ClusterConfig | None = None) -> SearchWindow:
    """The window around ``start`` (the cluster as imported, else the live one) and ``live``
    (`measured_live`; None: the import alone). Each centre's workers are raised to min_workers first:
    from the cluster itself, a minimum far above it (50 workers on a 4-worker job) would leave no new
    candidate at all. A live cluster of a node type the catalog lacks is no centre (it cannot be priced)."""
    low_workers = settings.min_workers if settings.min_workers is not None else MIN_WORKERS
    start_cores = catalog.node_type(cloud, start.node_type_id).vcpus * max(search_workers(start), low_workers)
    live_cores = 0
    if live is not None:
        try:
            live_cores = catalog.node_type(cloud, live.node_type_id).vcpus * max(search_workers(live), low_workers)
        except TrimtabCostError:
            live = None
    cores = [start_cores, live_cores] if live is not None else [start_cores]
    # Between the two centres is interpolation, not extrapolation: the window covers it whole.
    return SearchWindow(low=min(cores) / CORE_SPAN, high=max(cores) * CORE_SPAN, start_cores=start_cores,
                        live=live, live_cores=live_cores)


def edge_note(chosen: ClusterConfig, window: SearchWindow, settings: ProjectSettings, high_workers: int,
              catalog: PriceCatalog, cloud: str) -> str:
    """What the recommendation's reason says when ``chosen`` is the smallest (largest) size of its node
    type the window let the search try while the project's bounds allowed a smaller (larger) one
    ("" otherwise): the cheapest pick there may be capped by the window, not by the job.
    ``high_workers``: the most workers the candidates may have (a default maximum, a pool's capacity
    included). A pick outside the window (the cluster a user edited, kept as the job's own) is at no
    edge of it, and an autoscaling pick is compared with the ranges that exist: each max is above
    min_workers (Databricks refuses a range whose max is not above its min)."""
    try:
        vcpus = catalog.node_type(cloud, chosen.node_type_id).vcpus
    except TrimtabCostError:
        return ""
    low_workers = settings.min_workers if settings.min_workers is not None else MIN_WORKERS
    if high_workers < low_workers:
        return ""
    workers = search_workers(chosen)
    if not window.holds(vcpus * workers):
        return ""
    autoscale = chosen.autoscale_max > 0
    counts = [n for n in worker_counts(low_workers, high_workers) if not autoscale or n > low_workers]
    below = [n for n in counts if n < workers]
    above = [n for n in counts if n > workers]
    # Once the job has run on the pick, it is the live centre and the window reaches past it.
    ran = window.live is not None and (window.live.node_type_id, search_workers(window.live)) == \
        (chosen.node_type_id, workers)
    # The pick's own cores beside the edge's: "8 cores" where the edge is 20 / 4 = 5 (the grid's first
    # size inside), which "1/4 of the 20 cores" alone misstated.
    name = f"{config_label(chosen)} ({vcpus * workers:g} cores{' at most' if autoscale else ''})"
    # What it takes for the pick to become a centre (`measured_live`).
    confirmed = "a run on it succeeds" + (" within the SLA" if settings.sla_seconds else "")
    if below and not window.holds(vcpus * below[-1]):
        then = "" if ran else f"; smaller ones are searched once {confirmed}"
        return f"{name} is the smallest size searched: the window reaches " \
            f"{window.edge_from(low=True)}{then}"
    if above and not window.holds(vcpus * above[0]):
        then = "" if ran else f"; larger ones are searched once {confirmed}"
        return f"{name} is the largest size searched: the window reaches " \
            f"{window.edge_from(low=False)}{then}"
    return ""


def plan_edge_note(settings: ProjectSettings, start: ClusterConfig, current: ClusterConfig, runs: Sequence[Run],
                   chosen: ClusterConfig, catalog: PriceCatalog, cloud: str, *, segment_from: int | None = None,
                   pool: PoolBacking | None = None, policy: ClusterPolicy | None = None) -> str:
    """`edge_note` for a plan: the window `server.plan.candidates.project_candidates` searched (around
    ``start``, the cluster as imported or else the live one, and ``current``, the live one, once
    ``runs`` confirmed it from ``segment_from`` on), within the worker counts the candidates could
    have: up to the instance ``pool``'s capacity, and none but its own when the cluster ``policy``
    fixes the autoscale range of an autoscaling pick."""
    if policy is not None and chosen.autoscale_max > 0 and policy.fixed_autoscale() is not None:
        return ""
    live = measured_live(current, [(r, r.config) for r in runs if r.config is not None],
                         sla_s=settings.sla_seconds, segment_from=segment_from)
    low = settings.min_workers if settings.min_workers is not None else MIN_WORKERS
    high = settings.max_workers if settings.max_workers is not None else default_max_workers(search_workers(start), low)
    if pool is not None and pool.max_workers is not None:
        high = min(high, max(pool.max_workers, 1))  # as `build_candidates` caps it
    try:
        window = search_window(start, settings, catalog, cloud, live)
    except TrimtabCostError:
        return ""
    return edge_note(chosen, window, settings, high, catalog, cloud)
