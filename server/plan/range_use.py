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
    for run, config in reversed(list(runs)):
        if config.autoscale_max <= config.autoscale_min or config.autoscale_max <= 0:
            continue
        mean = run_mean_workers(run, config, catalog, cloud, sku)
        if mean is None:
            continue
        low, high = config.autoscale_min, config.autoscale_max
        shares.append(min(1.0, max(0.0, (mean - low) / (high - low))))
        means.append(mean)
        if len(shares) >= RUNS_READ:
            break
    if not shares:
        return None
    return RangeUse(share=sum(shares) / len(shares), runs=len(shares), mean_workers=sum(means) / len(means))
