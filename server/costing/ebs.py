"""EBS advice for a project's AWS cluster: volume type, count and size from what its runs wrote to disk (pure).

Spark writes shuffle files and spills to its local directories. On types with
instance storage (m5d, r6id, i3, ...) those live on the local NVMe; on EBS-only
types they live on the EBS volumes Databricks attaches. What a run puts on disk
is a cluster-wide amount: (spill + shuffle write), or the measured local-disk
peak per node times the measured workers when the agent saw it and that is more.
The scratch space a node needs is the most of that any run had, spread over the
workers of the configuration being advised (not the measured run's: 200 GB
written over 8 workers is 25 GB a node, on 1 worker it is 200 GB). For an
autoscaling configuration, a run on the very same worker range needed what it
measured per node (it succeeded on those nodes); a run on another size is spread
over the range's typical size, the geometric mean of its minimum and maximum
(`typical_workers`). With headroom on top, that sets the size.

The type is gp3 at the speed the node's volumes give now, or gp2 when gp3 at that
speed would not cost less. gp2's speed follows its size (AWS EC2 user guide,
"General Purpose SSD volumes", gp2): 3 IOPS per GiB, at least 100 and at most
16000, and up to 250 MiB/s above 170 GiB. AWS: volumes of 170 GiB and less reach
128 MiB/s at most; above 170 GiB and under 334 GiB they burst to 250 MiB/s while
they have burst credits; from 334 GiB they give 250 MiB/s regardless. The rule
taken is 250 MiB/s above 170 GiB: gp3 has no credits, so a gp3 that matches
gp2's burst ceiling is never slower than the gp2 was, and Spark's shuffle writes
and spills come in bursts (the ones credits serve). Up to 170 GiB the rule takes
gp3's included 125 MiB/s (gp2 peaks 3 MiB/s higher there, while bursting; its
sustained rate is 0.75 MiB/s per GiB, at most 127.5). gp3 includes 3000 IOPS,
which covers gp2's 3000 IOPS burst below 1000 GiB. Spark spreads its scratch
over all the node's EBS volumes, so the speed matched is the node's sum over its
volumes, spread over the advised ones. IOPS and throughput above gp3's included
3000 and 125 MiB/s are priced from the catalog. The projected monthly saving
prices both volume sets with the catalog over the project's node-hours per month.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from server.costing.catalog import PriceCatalog
from server.costing.run_cost import volume_cost_per_hour

GB = 1_000_000_000
MIN_SSD_GB = 100  # Databricks accepts 100-4096 GiB per SSD volume
MAX_VOLUME_GB = 4096
MAX_VOLUMES = 10
SIZE_STEP_GB = 10
DATABRICKS_TYPE = {"gp2": "GENERAL_PURPOSE_SSD", "gp3": "GENERAL_PURPOSE_SSD", "st1": "THROUGHPUT_OPTIMIZED_HDD"}
# gp2's speed from its size (AWS EC2 user guide, gp2 volumes; the module doc says which rule and why).
GP2_IOPS_PER_GB = 3
GP2_MIN_IOPS = 100
GP2_MAX_IOPS = 16_000
GP2_FULL_THROUGHPUT_ABOVE_GB = 170
GP2_FULL_THROUGHPUT = 250  # MiB/s
# gp3: included speed, and the most one volume takes (AWS CreateVolume: 16000 IOPS, 1000 MiB/s,
# at most 0.25 MiB/s per provisioned IOPS).
GP3_BASE_IOPS = 3000
GP3_BASE_THROUGHPUT = 125
GP3_MAX_IOPS = 16_000
GP3_MAX_THROUGHPUT = 1000
GP3_MIBPS_PER_IOPS = 0.25


def typical_workers(autoscale_min: int, autoscale_max: int) -> float:
    """The typical size of an autoscaling range: the geometric mean of its minimum and maximum, the
    size the planner models and prices autoscaling candidates at (`server.plan.candidates`). Sizing
    disks for the minimum gave every node room for the whole job on 2 workers while pricing them on
    all 41 nodes (2..40: 3750 GB a node where runs on that range held 250); for the maximum, a
    cluster that stays small would fill its disks. The geometric mean sits between, as the
    planner's other costs do."""
    if autoscale_max < 1 or autoscale_min > autoscale_max:
        raise ValueError(f"an autoscaling range needs 0 <= min <= max and max >= 1, got "
                         f"{autoscale_min}..{autoscale_max}")
    return math.sqrt(max(autoscale_min, 1) * autoscale_max)


@dataclass(frozen=True)
class DiskUse:
    """What one run put on disk. Bytes are cluster-wide sums except ``local_disk_peak_bytes`` (per node);
    ``workers`` are the measured run's (its maximum when it autoscaled); ``autoscale_min`` is its
    autoscaling minimum, None when it ran on a fixed size."""

    spill_bytes: int
    shuffle_write_bytes: int
    workers: int
    local_disk_peak_bytes: int | None = None
    autoscale_min: int | None = None
    # EBS GB per node the run had (0: none or unknown). The planner reads succeeded runs only
    # (`server.plan.reads.disk_runs`): volumes that held a run on the advised range are not short.
    attached_gb: int = 0

    def ran_on(self, autoscale: tuple[int, int]) -> bool:
        """Whether the run autoscaled over the range ``autoscale`` (min, max)."""
        return self.autoscale_min is not None and (self.autoscale_min, self.workers) == autoscale

    def cluster_bytes(self) -> float:
        """Bytes the run put on disk over all its workers: spill + shuffle write, or the per-node peak
        times the measured workers when that is more."""
        peak = float(self.local_disk_peak_bytes or 0) * max(1, self.workers)
        return max(float(self.spill_bytes + self.shuffle_write_bytes), peak)

    def per_node_bytes(self, workers: float | None = None) -> float:
        """Bytes per node on ``workers`` workers (the measured run's when None): the cluster-wide bytes
        spread over them, as the same work on another worker count spreads them."""
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1 to spread disk use over, got {workers}")
        return self.cluster_bytes() / (workers if workers is not None else max(1, self.workers))


@dataclass(frozen=True)
class VolumeSpec:
    type: str  # gp2 | gp3 | st1
    count: int
    size_gb: int
    iops: int | None = None
    throughput: int | None = None

    def as_usage(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "size_gb": self.size_gb, "count": self.count}
        if self.iops is not None:
            out["iops"] = self.iops
        if self.throughput is not None:
            out["throughput"] = self.throughput
        return out


@dataclass(frozen=True)
class StorageAdvice:
    volumes: VolumeSpec | None  # None: no EBS volumes (local storage is enough)
    needed_gb_per_node: float
    current_monthly_cost: float
    recommended_monthly_cost: float
    changed: bool
    reason: str
    # The costs above are over this many runs, not a month, when the job's cadence is not known
    # (`recommend_storage`'s ``per_runs``); None: a month.
    per_runs: int | None = None

    @property
    def projected_saving(self) -> float:
        """The saving over the costs' period: a month, or ``per_runs`` runs."""
        return self.current_monthly_cost - self.recommended_monthly_cost

    @property
    def projected_monthly_saving(self) -> float | None:
        """The saving a month; None when the costs are over ``per_runs`` runs (no cadence to make a month of)."""
        return self.projected_saving if self.per_runs is None else None

    def aws_attributes(self) -> dict[str, Any]:
        """The ``aws_attributes.ebs_volume_*`` fields to apply with the recommendation.

        Databricks attaches gp3 when IOPS and throughput are given, gp2-equivalent otherwise.
        """
        if self.volumes is None:
            return {"ebs_volume_count": 0}
        v = self.volumes
        out: dict[str, Any] = {"ebs_volume_type": DATABRICKS_TYPE[v.type], "ebs_volume_count": v.count,
                               "ebs_volume_size": v.size_gb}
        if v.type == "gp3":
            out["ebs_volume_iops"] = v.iops or 3000
            out["ebs_volume_throughput"] = v.throughput or 125
        return out


def _monthly(cloud: str, region: str, volumes: list[VolumeSpec], node_hours_per_month: float,
             catalog: PriceCatalog) -> float:
    return node_hours_per_month * sum(volume_cost_per_hour(cloud, region, v.as_usage(), catalog) for v in volumes)


def _baseline(volume: VolumeSpec) -> VolumeSpec:
    if volume.type != "gp3":
        return volume
    return dataclasses.replace(volume, iops=volume.iops or GP3_BASE_IOPS,
                               throughput=volume.throughput or GP3_BASE_THROUGHPUT)


def gp2_speed(size_gb: int) -> tuple[int, int]:
    """(IOPS, MiB/s) of one gp2 volume of ``size_gb``, as the gp3 that replaces it must give."""
    iops = min(GP2_MAX_IOPS, max(GP2_MIN_IOPS, GP2_IOPS_PER_GB * size_gb))
    throughput = GP2_FULL_THROUGHPUT if size_gb > GP2_FULL_THROUGHPUT_ABOVE_GB else GP3_BASE_THROUGHPUT
    return iops, throughput


def _node_speed(volumes: list[VolumeSpec]) -> tuple[int, int] | None:
    """(IOPS, MiB/s) summed over a node's gp2/gp3 volumes; None when there are none to match (no
    volumes, or st1, whose speed is not matched here)."""
    speeds = []
    for v in volumes:
        if v.type == "gp2":
            speeds.append((v.count, *gp2_speed(v.size_gb)))
        elif v.type == "gp3":
            b = _baseline(v)
            speeds.append((v.count, int(b.iops or GP3_BASE_IOPS), int(b.throughput or GP3_BASE_THROUGHPUT)))
    if not speeds:
        return None
    return sum(c * i for c, i, _ in speeds), sum(c * t for c, _, t in speeds)


def _gp3_count(count: int, speed: tuple[int, int] | None) -> int:
    """At least as many gp3 volumes as the node's speed needs (one gp3 gives at most 16000 IOPS, 1000 MiB/s)."""
    if speed is None:
        return count
    return min(MAX_VOLUMES, max(count, math.ceil(speed[0] / GP3_MAX_IOPS), math.ceil(speed[1] / GP3_MAX_THROUGHPUT)))


def _gp3_at(count: int, size: int, speed: tuple[int, int] | None) -> VolumeSpec:
    """``count`` gp3 volumes of ``size`` that together give at least ``speed`` (their included speed when None)."""
    if speed is None:
        return VolumeSpec("gp3", count, size, GP3_BASE_IOPS, GP3_BASE_THROUGHPUT)
    throughput = max(GP3_BASE_THROUGHPUT, math.ceil(speed[1] / count))
    iops = max(GP3_BASE_IOPS, math.ceil(speed[0] / count), math.ceil(throughput / GP3_MIBPS_PER_IOPS))
    return VolumeSpec("gp3", count, size, min(GP3_MAX_IOPS, iops), min(GP3_MAX_THROUGHPUT, throughput))


def _describe(volumes: list[VolumeSpec]) -> str:
    return ", ".join(f"{v.count}x {v.type} {v.size_gb} GB" for v in volumes) or "no EBS volumes"


def recommend_storage(
    runs: list[DiskUse],
    current: list[VolumeSpec],
    node_type: str,
    catalog: PriceCatalog,
    *,
    region: str,
    node_hours_per_month: float,
    cloud: str = "aws",
    headroom: float = 1.5,
    workers: int | None = None,
    autoscale: tuple[int, int] | None = None,
    per_runs: int | None = None,
    typical: float | None = None,
) -> StorageAdvice | None:
    """EBS volumes per node for ``node_type``; None for Azure (managed disks are not sized here) or no runs.

    ``node_hours_per_month``: the nodes' hours in a month of the job's runs, or in ``per_runs`` runs
    when its cadence is not known: the costs are then over that many runs, and the reason says so.

    ``workers``: the fixed worker count of the configuration advised, over which the runs'
    cluster-wide disk use is spread. ``autoscale``: the (min, max) range of an autoscaling one
    instead: runs on that very range count what they measured per node, others are spread over
    its typical size (`typical_workers`), or over ``typical`` workers when the caller knows what the
    range's runs used (`server.plan.range_use`). Neither keeps each run's own measured workers.
    """
    if cloud != "aws" or not runs:
        return None
    if workers is not None and autoscale is not None:
        raise ValueError(f"give the advised workers ({workers}) or its autoscale range ({autoscale}), not both")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1 to size disks per node, got {workers}")
    measured = typical is not None
    if autoscale is not None and typical is None:
        typical = typical_workers(*autoscale)
    if typical is not None and typical < 1:
        raise ValueError(f"typical workers must be at least 1 to spread disk use over, got {typical}")
    same = [r for r in runs if autoscale is not None and r.ran_on(autoscale)]

    def per_node(run: DiskUse) -> float:
        if autoscale is None:
            return run.per_node_bytes(workers)
        # A run on this very range succeeded with what it measured per node; one on another size
        # writes its cluster-wide bytes over the range's typical size.
        return run.per_node_bytes() if run.ran_on(autoscale) else run.per_node_bytes(typical)

    info = catalog.node_type(cloud, node_type)
    per = "/month" if per_runs is None else f" per {per_runs} runs"  # after the currency: "USD/month"
    peak_gb = max(per_node(r) for r in runs) / GB
    needed_gb = peak_gb * headroom
    current_cost = _monthly(cloud, region, current, node_hours_per_month, catalog)
    current_gb = sum(v.count * v.size_gb for v in current)
    total_gb = max(r.cluster_bytes() for r in runs) / GB
    largest = "one run" if len(runs) == 1 else f"largest of {len(runs)} runs"
    span = f"{autoscale[0]}-{autoscale[1]} workers" if autoscale is not None else ""
    if autoscale is not None:
        if len(same) == len(runs):
            seen = f"runs on {span} put up to {peak_gb:.1f} GB per node on disk ({largest})"
        else:
            where = (f"as far into {span} as the job's autoscaling runs went" if measured
                     else f"the geometric mean of {span}, its typical size")
            spread = (f"over {typical:.1f} workers ({where})"
                      if not same else f"({span} runs as measured per node, others over {typical:.1f} workers, "
                                       f"{'as far into the range as its runs went' if measured else 'the geometric mean of the range'})")
            seen = (f"runs put up to {total_gb:.1f} GB on disk across the cluster ({largest}), "
                    f"{peak_gb:.1f} GB per node {spread}")
    elif workers is None:
        seen = f"runs put up to {peak_gb:.1f} GB per node on disk ({largest})"
    else:
        seen = (f"runs put up to {total_gb:.1f} GB on disk across the cluster ({largest}), "
                f"{peak_gb:.1f} GB per node over {workers} worker{'s' if workers != 1 else ''}")
    # Attached volumes that runs on this very range succeeded with are not short, whatever headroom asks.
    held = any(0 < r.attached_gb <= current_gb for r in same)

    # headroom is a factor (1.5): the margin over the peak is headroom - 1 (50%).
    margin = f"{headroom - 1:.0%} headroom"
    if info.local_disk_gb >= needed_gb:
        # Scratch fits on the instance's own storage: EBS volumes only add cost.
        advice_cost = 0.0
        reason = (f"{seen}; {node_type} has {info.local_disk_gb:.0f} GB local storage, enough with "
                  f"{margin}, so {_describe(current)} can go")
        return StorageAdvice(None, needed_gb, current_cost, advice_cost, bool(current), reason, per_runs)

    speed = _node_speed(current)
    count = _gp3_count(min(MAX_VOLUMES, max(1, math.ceil(needed_gb / MAX_VOLUME_GB))), speed)
    size = max(MIN_SSD_GB, SIZE_STEP_GB * math.ceil(needed_gb / count / SIZE_STEP_GB))
    size = min(size, MAX_VOLUME_GB)
    gp3 = _gp3_at(count, size, speed)
    new, new_cost = gp3, _monthly(cloud, region, [gp3], node_hours_per_month, catalog)
    from_gp2 = bool(current) and all(v.type == "gp2" for v in current)
    type_note = ""
    if from_gp2 and speed is not None:
        gp2 = VolumeSpec("gp2", count, size)
        gp2_cost = _monthly(cloud, region, [gp2], node_hours_per_month, catalog)
        gp2_iops, gp2_throughput = gp2_speed(size)
        as_fast = count * gp2_iops >= speed[0] and count * gp2_throughput >= speed[1]
        at_speed = f"gp3 at {gp3.iops} IOPS and {gp3.throughput} MiB/s per volume"
        if as_fast and gp2_cost <= new_cost:
            # gp3 at the same speed costs no less (e.g. gp2 of 171-250 GiB, whose 250 MiB/s gp3 charges for).
            type_note = (f" {at_speed} (the speed of {_describe(current)}) would cost "
                         f"{new_cost - gp2_cost:.2f} {catalog.currency}{per} more than gp2, so gp2 stays;")
            new, new_cost = gp2, gp2_cost
        elif count * int(gp3.iops or 0) >= speed[0] and count * int(gp3.throughput or 0) >= speed[1]:
            type_note = (f" {at_speed} gives each node at least the {speed[0]} IOPS and {speed[1]} MiB/s of "
                         f"{_describe(current)} (gp2: 3 IOPS per GiB, 250 MiB/s above 170 GiB);")
        else:  # more than MAX_VOLUMES gp3 at their most would match: said, not claimed matched
            type_note = (f" {at_speed} gives each node {count * int(gp3.iops or 0)} IOPS and "
                         f"{count * int(gp3.throughput or 0)} MiB/s, short of the {speed[0]} IOPS and "
                         f"{speed[1]} MiB/s of {_describe(current)};")
    # gp3 without IOPS/throughput gets its baseline (3000, 125): the same volumes, not a change (it read
    # "1x gp3 100 GB -> 1x gp3 100 GB (saves 0.00 USD/month)" as advice).
    changed = [_baseline(v) for v in current] != [new]
    if current_gb < needed_gb and held:
        why = f"attached {current_gb} GB held the runs on {span}; {needed_gb:.0f} GB gives {margin}"
    elif current_gb < needed_gb:
        why = f"attached {current_gb} GB is short of the {needed_gb:.0f} GB needed (risk of disk-full failures)"
    else:
        why = f"{needed_gb:.0f} GB covers it with {margin}"
    reason = f"{seen}; {why};{type_note} {_describe(current)} -> {_describe([new])}" if changed else \
        f"{seen}; {why};{type_note} {_describe(current)} kept"
    if changed:
        saving = current_cost - new_cost
        reason += f" ({'saves' if saving >= 0 else 'costs'} {abs(saving):.2f} {catalog.currency}{per})"
    return StorageAdvice(new, needed_gb, current_cost, new_cost, changed, reason, per_runs)
