"""The search window: the total worker cores a project's candidates may have, and what to say when the
plan's pick sits at its edge.

A cluster far from the clusters the job ran on is an extrapolation of the runtime model, so the
search keeps within `CORE_SPAN` times the cores of two centres: the cluster as imported (raised to
min_workers), which keeps the space from wandering, and the cluster the job runs on once a run has
measured it (a trust region around the best configuration found so far). Anchored on the import
alone the window never moved: a job imported on 80 cores was never offered fewer than 20, however
well the 20-core cluster it settled on at that edge did. The live centre moves only when Trimtab
(or the user) moves the job and a run confirms it, so the search walks as far as runs confirm and
no further in one step; the project's own bounds (min/max_workers, families) still hold inside.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from models.observation import OUT_OF_MEMORY
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
        """What the low (else high) edge is reckoned from, for a reason."""
        factor = f"1/{CORE_SPAN:g}" if low else f"{CORE_SPAN:g}x"
        if self.live is not None and (self.live_cores < self.start_cores if low else self.live_cores > self.start_cores):
            return f"{factor} of the cores of {config_label(self.live)} ({self.live_cores}), the cluster the job runs on"
        return f"{factor} of the imported cores ({self.start_cores})"


def measured_live(current: ClusterConfig, ran: Iterable[tuple[Run, ClusterConfig]]) -> ClusterConfig | None:
    """``current`` (the cluster the job runs on) when one of ``ran`` (each run with its configuration as
    the planner reads it: on its pool's node type) ran successfully on its workers, else None: the
    trust region's second centre. Trimtab put the job there as the best it knew (or its owner did),
    and the runtime model has evidence there now. A run that ran out of memory (repaired or not) is
    no evidence that its size is safe."""
    size = (current.node_type_id, search_workers(current))
    ok = any(r.outcome == "succeeded" and OUT_OF_MEMORY not in r.anomalies
             and (config.node_type_id, search_workers(config)) == size for r, config in ran)
    return current if ok else None


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
    ``high_workers``: the most workers the bounds allow (a default maximum included)."""
    try:
        vcpus = catalog.node_type(cloud, chosen.node_type_id).vcpus
    except TrimtabCostError:
        return ""
    low_workers = settings.min_workers if settings.min_workers is not None else MIN_WORKERS
    if high_workers < low_workers:
        return ""
    workers = search_workers(chosen)
    counts = worker_counts(low_workers, high_workers)
    below = [n for n in counts if n < workers]
    above = [n for n in counts if n > workers]
    # Once the job has run on the pick, it is the live centre and the window reaches past it.
    ran = window.live is not None and (window.live.node_type_id, search_workers(window.live)) == \
        (chosen.node_type_id, workers)
    name = config_label(chosen)
    if below and not window.holds(vcpus * below[-1]):
        then = "" if ran else "; smaller ones are searched once the job has run on it"
        return f"{name} is the smallest size searched, {window.edge_from(low=True)}{then}"
    if above and not window.holds(vcpus * above[0]):
        then = "" if ran else "; larger ones are searched once the job has run on it"
        return f"{name} is the largest size searched, {window.edge_from(low=False)}{then}"
    return ""


def plan_edge_note(settings: ProjectSettings, start: ClusterConfig, current: ClusterConfig, runs: Sequence[Run],
                   chosen: ClusterConfig, catalog: PriceCatalog, cloud: str) -> str:
    """`edge_note` for a plan: the window `server.plan.candidates.project_candidates` searched (around
    ``start``, the cluster as imported or else the live one, and ``current``, the live one, once
    ``runs`` measured it)."""
    live = measured_live(current, [(r, r.config) for r in runs if r.config is not None])
    low = settings.min_workers if settings.min_workers is not None else MIN_WORKERS
    high = settings.max_workers if settings.max_workers is not None else default_max_workers(search_workers(start), low)
    try:
        window = search_window(start, settings, catalog, cloud, live)
    except TrimtabCostError:
        return ""
    return edge_note(chosen, window, settings, high, catalog, cloud)
