"""EBS advice for a project's AWS cluster: volume type, count and size from what its runs wrote to disk (pure).

Spark writes shuffle files and spills to its local directories. On types with
instance storage (m5d, r6id, i3, ...) those live on the local NVMe; on EBS-only
types they live on the EBS volumes Databricks attaches. So the scratch space a
node needs is the most any run put on one node: the measured local-disk peak
when the agent saw it, else (spill + shuffle write) spread over the workers.
With headroom on top, that sets the size; gp3 is recommended over gp2 because
it costs less per GB and its baseline (3000 IOPS, 125 MiB/s) is at least what
gp2 gives below 1 TB. The projected monthly saving prices both volume sets with
the catalog over the project's node-hours per month.
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


@dataclass(frozen=True)
class DiskUse:
    """What one run put on disk. Bytes are cluster-wide sums except ``local_disk_peak_bytes`` (per node)."""

    spill_bytes: int
    shuffle_write_bytes: int
    workers: int
    local_disk_peak_bytes: int | None = None

    def per_node_bytes(self) -> float:
        spread = (self.spill_bytes + self.shuffle_write_bytes) / max(1, self.workers)
        return max(spread, float(self.local_disk_peak_bytes or 0))


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

    @property
    def projected_monthly_saving(self) -> float:
        return self.current_monthly_cost - self.recommended_monthly_cost

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
    return dataclasses.replace(volume, iops=volume.iops or 3000, throughput=volume.throughput or 125)


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
) -> StorageAdvice | None:
    """EBS volumes per node for ``node_type``; None for Azure (managed disks are not sized here) or no runs."""
    if cloud != "aws" or not runs:
        return None
    info = catalog.node_type(cloud, node_type)
    peak_gb = max(r.per_node_bytes() for r in runs) / GB
    needed_gb = peak_gb * headroom
    current_cost = _monthly(cloud, region, current, node_hours_per_month, catalog)
    current_gb = sum(v.count * v.size_gb for v in current)
    seen = f"runs put up to {peak_gb:.1f} GB per node on disk (largest of {len(runs)} runs)"

    # headroom is a factor (1.5): the margin over the peak is headroom - 1 (50%).
    margin = f"{headroom - 1:.0%} headroom"
    if info.local_disk_gb >= needed_gb:
        # Scratch fits on the instance's own storage: EBS volumes only add cost.
        advice_cost = 0.0
        reason = (f"{seen}; {node_type} has {info.local_disk_gb:.0f} GB local storage, enough with "
                  f"{margin}, so {_describe(current)} can go")
        return StorageAdvice(None, needed_gb, current_cost, advice_cost, bool(current), reason)

    count = min(MAX_VOLUMES, max(1, math.ceil(needed_gb / MAX_VOLUME_GB)))
    size = max(MIN_SSD_GB, SIZE_STEP_GB * math.ceil(needed_gb / count / SIZE_STEP_GB))
    size = min(size, MAX_VOLUME_GB)
    new = VolumeSpec("gp3", count, size, 3000, 125)
    new_cost = _monthly(cloud, region, [new], node_hours_per_month, catalog)
    # gp3 without IOPS/throughput gets its baseline (3000, 125): the same volumes, not a change (it read
    # "1x gp3 100 GB -> 1x gp3 100 GB (saves 0.00 USD/month)" as advice).
    changed = [_baseline(v) for v in current] != [new]
    gp2_note = " gp3 costs less per GB than gp2 with at least the same baseline speed;" \
        if any(v.type == "gp2" for v in current) else ""
    if current_gb < needed_gb:
        why = f"attached {current_gb} GB is short of the {needed_gb:.0f} GB needed (risk of disk-full failures)"
    else:
        why = f"{needed_gb:.0f} GB covers it with {margin}"
    reason = f"{seen}; {why};{gp2_note} {_describe(current)} -> {_describe([new])}" if changed else \
        f"{seen}; {why}; {_describe(current)} kept"
    if changed:
        saving = current_cost - new_cost
        reason += f" ({'saves' if saving >= 0 else 'costs'} {abs(saving):.2f} {catalog.currency}/month)"
    return StorageAdvice(new, needed_gb, current_cost, new_cost, changed, reason)
