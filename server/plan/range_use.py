"""How far into their autoscale range a project's runs really went, from what their costs measured.

A range min..max is not billed at any fixed size: Databricks adds workers as the job asks for them.
Pricing it at a fixed point of the range (the geometric mean did) priced a job that stays at its
min 40% too dear, and one that runs at its max 35-50% too cheap, and so cut a max whose headroom
cost nothing. The runs' stored DBUs are the measure: every node of the cluster's timeline burnt its
type's DBUs for the hours it was up, so the workers' part over the span is their mean count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from server.costing.catalog import PriceCatalog
from server.costing.errors import TrimtabCostError
from server.domain import ClusterConfig, Run

MS_PER_HOUR = 3_600_000.0
# The newest autoscaling runs read: enough to smooth one odd run, few enough that a job whose load
# changed is priced by its recent use.
RUNS_READ = 10


@dataclass(frozen=True)
class RangeUse:
    """The mean share of the way from min to max the runs' workers stood (0: at min, 1: at max), and
    what it was read from, for a reason line."""

    share: float
    runs: int
    mean_workers: float  # the runs' mean workers up, averaged over the runs
    # The most workers any of those runs had up at once (`Run.peak_workers`); None when none of them
    # has it (collected before it was kept, or without cluster events). The mean hides a burst: a
    # job at 3 workers but for one stage at 7 used 3.4 on average and still needed a max of 7.
    peak_workers: int | None = None
    # The same peak in worker cores (a run's peak times its node type's vCPUs), which compares across
    # node types: 12 m5d.2xlarge workers are not the 12 m5d.4xlarge a run reached. None when unknown.
    peak_cores: int | None = None
    # The run whose peak was that many cores: its peak workers and their node type, to name it.
    peak_cores_workers: int | None = None
    peak_node_type: str = ""
    # A run reached its own range's max: capped there, it may have wanted more.
    peak_at_max: bool = False
    # The autoscale ranges (min, max) and worker node types those runs ran at, newest first.
    ranges: tuple[tuple[int, int], ...] = ()
    node_types: tuple[str, ...] = ()

    def workers(self, low: int, high: int) -> float:
        """The workers a range ``low``..``high`` is expected to run at by the same use."""
        return low + self.share * max(high - low, 0)


def model_workers(config: ClusterConfig, use: RangeUse | None = None) -> float:
    """The workers ``config`` is modelled, priced, and its spot node-hours and disks reckoned at: a
    fixed size's count; an autoscaling range's as far into it as the project's runs went (``use``),
    else the geometric mean of the range, which no run measured. One rule for all of them: spot
    losses counted over the geometric mean of a 3-16 range a job ran at 3 spread each loss over
    2.3 times the node-hours it had, and priced the next spot run's risk that much too low."""
    if config.autoscale_max > 0:
        if use is not None:
            return use.workers(config.autoscale_min, config.autoscale_max)
        return math.sqrt(max(config.autoscale_min, 1) * config.autoscale_max)
    return float(max(config.num_workers, 0))


def run_mean_workers(run: Run, config: ClusterConfig, catalog: PriceCatalog, cloud: str, sku: str) -> float | None:
    """The mean workers up over ``run``'s cluster timeline, from its stored DBUs; None when its cost,
    span or node types do not tell. ``config``: the run's configuration with its node types known."""
    cost = run.cost
    if cost is None or cost.dbus <= 0 or not config.node_type_id:
        return None
    start = cost.window_start_ms if cost.window_start_ms is not None else run.start_ms
    end = cost.window_end_ms if cost.window_end_ms is not None else run.end_ms
    hours = (end - start) / MS_PER_HOUR
    if hours <= 0:
        return None
    try:
        multiplier = catalog.dbu_multiplier(cloud, sku)
        worker_rate = catalog.dbus_per_hour(cloud, config.node_type_id) * multiplier
        driver_rate = catalog.dbus_per_hour(cloud, config.driver_node_type_id or config.node_type_id) * multiplier
    except TrimtabCostError:
        return None
    if worker_rate <= 0:
        return None
    # The driver is up for the whole timeline; what is left is the workers'.
    return max(0.0, (cost.dbus - driver_rate * hours) / worker_rate / hours)


def range_use(runs: Iterable[tuple[Run, ClusterConfig]], catalog: PriceCatalog, cloud: str,
              sku: str) -> RangeUse | None:
    """How far into their range the newest (`RUNS_READ`) autoscaling runs went, ``runs`` oldest first
    with each one's configuration; None without such a run whose cost tells."""
    shares: list[float] = []
    means: list[float] = []
    # (workers, cores, node type) of each run whose peak is known
    peaks: list[tuple[int, int | None, str]] = []
    ranges: list[tuple[int, int]] = []
    node_types: list[str] = []
    at_max = False
    for run, config in reversed(list(runs)):
        if config.autoscale_max <= config.autoscale_min or config.autoscale_max <= 0:
            continue
        mean = run_mean_workers(run, config, catalog, cloud, sku)
        if mean is None:
            continue
        low, high = config.autoscale_min, config.autoscale_max
        shares.append(min(1.0, max(0.0, (mean - low) / (high - low))))
        means.append(mean)
        if run.peak_workers is not None:
            cores = _vcpus(catalog, cloud, config.node_type_id)
            peaks.append((run.peak_workers, None if cores is None else run.peak_workers * cores,
                          config.node_type_id))
            at_max = at_max or run.peak_workers >= high
        ranges.extend([(low, high)] if (low, high) not in ranges else [])
        node_types.extend([config.node_type_id] if config.node_type_id not in node_types else [])
        if len(shares) >= RUNS_READ:
            break
    if not shares:
        return None
    known = [(c, w, t) for w, c, t in peaks if c is not None]
    top = max(known) if peaks and len(known) == len(peaks) else None
    return RangeUse(share=sum(shares) / len(shares), runs=len(shares), mean_workers=sum(means) / len(means),
                    peak_workers=max(w for w, _, _ in peaks) if peaks else None,
                    peak_cores=None if top is None else top[0],
                    peak_cores_workers=None if top is None else top[1],
                    peak_node_type="" if top is None else top[2],
                    peak_at_max=at_max, ranges=tuple(ranges), node_types=tuple(node_types))


def _vcpus(catalog: PriceCatalog | None, cloud: str, node_type: str) -> int | None:
    if catalog is None or not node_type:
        return None
    try:
        return catalog.node_type(cloud, node_type).vcpus
    except TrimtabCostError:
        return None


def range_note(current: ClusterConfig, chosen: ClusterConfig, use: RangeUse | None,
               catalog: PriceCatalog | None = None, cloud: str = "") -> str:
    """What the runs measured (``use``), when ``chosen`` moves the autoscale range's min or max, for the
    recommendation's reason: the range is priced by the runs' mean (`model_workers`), so a person sees
    why the range moved, and how far the runs went at most. A max that takes fewer workers than the runs
    reached is said plainly: those runs will have less to run on. Across node types the peak is compared
    in cores (``catalog``, on ``cloud``). "" when the range does not move or nothing measured it."""
    if current.autoscale_max <= 0 or chosen.autoscale_max <= 0 or \
            (current.autoscale_min, current.autoscale_max) == (chosen.autoscale_min, chosen.autoscale_max):
        return ""
    if use is None:
        return ""
    peak = "" if use.peak_workers is None else \
        f", {use.peak_workers} at most{' (their max)' if use.peak_at_max else ''}"
    ranges = " and ".join(f"{low}-{high}" for low, high in sorted(use.ranges)) or \
        f"{current.autoscale_min}-{current.autoscale_max}"
    note = (f"autoscale {current.autoscale_min}-{current.autoscale_max} -> {chosen.autoscale_min}-"
            f"{chosen.autoscale_max}: its last {use.runs} autoscaling run{'' if use.runs == 1 else 's'} used "
            f"{use.mean_workers:.1f} workers on average{peak}, of {ranges} "
            f"({use.share:.0%} of the way from min to max)")
    cut = _max_cut(current, chosen, use, catalog, cloud)
    return f"{note}; {cut}" if cut else note


def _max_cut(current: ClusterConfig, chosen: ClusterConfig, use: RangeUse, catalog: PriceCatalog | None,
             cloud: str) -> str:
    """How ``chosen``'s max stands to the runs' peak when it takes capacity away; "" when it does not, or
    the peak is not known in units that compare."""
    if use.peak_workers is not None and set(use.node_types) == {chosen.node_type_id} == {current.node_type_id}:
        if chosen.autoscale_max >= current.autoscale_max:
            return ""
        cut = f"max {current.autoscale_max} -> {chosen.autoscale_max}"
        if chosen.autoscale_max < use.peak_workers:
            return f"{cut} although the runs reached {use.peak_workers}: those runs will have fewer workers"
        return f"{cut}: the runs never went above {use.peak_workers}"
    now, then = _vcpus(catalog, cloud, current.node_type_id), _vcpus(catalog, cloud, chosen.node_type_id)
    if use.peak_cores is None or now is None or then is None or \
            chosen.autoscale_max * then >= current.autoscale_max * now:
        return ""
    cores = (f"max {current.autoscale_max} {current.node_type_id} workers ({current.autoscale_max * now} cores) -> "
             f"{chosen.autoscale_max} {chosen.node_type_id} ({chosen.autoscale_max * then} cores)")
    if chosen.autoscale_max * then < use.peak_cores:
        return f"{cores} although the runs reached {use.peak_cores} cores: those runs will have fewer cores"
    return f"{cores}: the runs never went above {use.peak_cores} cores"
