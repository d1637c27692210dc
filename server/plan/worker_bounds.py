"""The worker counts a project's candidates may have: the grid, the default bounds, and the check of a
configuration against the project's bounds."""

from __future__ import annotations

from server.costing.catalog import PriceCatalog
from server.costing.errors import TrimtabCostError
from server.domain import ClusterConfig, ProjectSettings
from server.plan.pools import PoolBacking

# Worker counts tried: a geometric grid, dense where clusters are small.
WORKER_GRID: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128)
# How far from the current total cores the search reaches by default.
CORE_SPAN = 4.0
# The fewest workers a candidate has when the project sets no min_workers: a job cluster with no
# worker runs Spark on the driver alone (single-node clusters are not sized), so 0 is never one.
# `server.services.projects` validates the bounds against the same number.
MIN_WORKERS = 1
# With no max_workers set, the search reaches up to DEFAULT_MAX_FACTOR times the workers of the
# cluster it starts from, and at least DEFAULT_MAX_FLOOR workers (`default_max_workers`).
DEFAULT_MAX_FACTOR = 2
DEFAULT_MAX_FLOOR = 8
# The most workers a project's bounds may name (`server.services.projects.check_worker_bounds`), and so
# the most the default maximum reaches: twice a minimum of 9000 read 18000, above every bound a person
# may set. It only stops a typo (2**31-1) from pricing clusters no workspace could start; a workspace's
# own cluster size limit is lower (Databricks refuses the apply, kept as the project's problem).
MAX_WORKERS = 10_000


def search_workers(config: ClusterConfig) -> int:
    """The worker count a search starts from: an autoscaling cluster's maximum, else its size (at least 1)."""
    return config.autoscale_max if config.autoscale_max > 0 else max(config.num_workers, 1)


def default_max_workers(workers: int, min_workers: int | None) -> int:
    """The most workers the planner tries when the project sets no max_workers: twice the larger of
    ``workers`` (the cluster the search starts from: the one the project was imported with) and
    ``min_workers``, and at least `DEFAULT_MAX_FLOOR`.

    A minimum above the cluster moves the starting point up to it, so the search gets the same room
    above the minimum as it has above the cluster (a minimum of 50 on a 4-worker job searches 50..100),
    and an unset maximum never falls below the minimum (which left no worker count to choose). Never
    above `MAX_WORKERS`, the cap on the bounds a person sets."""
    start = max(workers, min_workers if min_workers is not None else MIN_WORKERS)
    return min(max(DEFAULT_MAX_FACTOR * start, DEFAULT_MAX_FLOOR), max(MAX_WORKERS, start))


def worker_counts(low: int, high: int) -> list[int]:
    """The worker counts tried between ``low`` and ``high`` (both included); ValueError for bounds
    that hold no valid count, rather than counts outside them."""
    if low < MIN_WORKERS or high < low:
        raise ValueError(f"worker bounds {low}..{high}: need {MIN_WORKERS} <= low <= high")
    counts = [n for n in WORKER_GRID if low <= n <= high]
    for edge in (low, high):  # the bounds themselves are always candidates
        if edge not in counts:
            counts.append(edge)
    return sorted(counts)


def outside_bounds(config: ClusterConfig, settings: ProjectSettings, catalog: PriceCatalog, cloud: str, *,
                   pool: PoolBacking | None = None) -> str:
    """Why ``config`` is outside the bounds the project's settings set ("" when it is inside): its
    workers (an autoscaling range's ends) against min/max_workers, its family against
    allowed_families, spot against spot_allowed. A pool-backed cluster's types and availability are
    the pool's, so only its workers are judged. The driver is no bound here: every candidate is
    given the driver the user fixed (`server.plan.candidates.build_candidates`)."""
    # Callers put these reasons in parentheses (apply's refusal, the leaving note): none of their own.
    why: list[str] = []
    low, high = (config.autoscale_min, config.autoscale_max) if config.autoscale_max > 0 else \
        (config.num_workers, config.num_workers)
    if settings.min_workers is not None and low < settings.min_workers:
        why.append(f"{low} workers is below min_workers {settings.min_workers}")
    if settings.max_workers is not None and high > settings.max_workers:
        why.append(f"{high} workers is above max_workers {settings.max_workers}")
    if pool is None and settings.allowed_families:
        try:
            family = catalog.node_type(cloud, config.node_type_id).family
        except TrimtabCostError:
            family = config.node_type_id
        if family not in settings.allowed_families:
            why.append(f"{family} is not among allowed_families {', '.join(settings.allowed_families)}")
    if pool is None and not settings.spot_allowed and config.availability.upper().startswith("SPOT"):
        why.append("spot is not allowed: spot_allowed is off")
    return "; ".join(why)


def no_autoscale_range(settings: ProjectSettings, low: int, high: int, pool: PoolBacking | None) -> str:
    """Why an autoscaling project's bounds hold no autoscale range (``low``..``high``: the worker
    counts they allow, ``high`` after the pool's room), and what to change."""
    capped = pool is not None and (settings.max_workers is None or high < settings.max_workers)
    held = f"; its instance pool {pool.pool_id or '(unnamed)'} holds at most {high}" if pool is not None and capped \
        else ""
    maximum = settings.max_workers if settings.max_workers is not None else high
    return (f"the project keeps autoscaling (keep_autoscaling on), but its worker bounds leave no autoscale range: "
            f"Databricks needs max_workers above min_workers, and min_workers {low} with max_workers "
            f"{maximum}{held} leaves only {low}; "
            "raise max_workers or lower min_workers (`trimtab project set --min-workers/--max-workers`), "
            f"or turn autoscaling off (`--keep-autoscaling off`) to size a fixed cluster of {low} workers")
