"""EBS advice for a recommendation, from what the project's runs put on disk (AWS only)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from server.costing.catalog import PriceCatalog
from server.costing.ebs import DiskUse, StorageAdvice, VolumeSpec, recommend_storage
from server.costing.errors import TrimtabCostError
from server.domain import ClusterConfig, Run, Stage

# Databricks' GENERAL_PURPOSE_SSD is gp3 in workspaces created since gp3 became
# the default (see server.costing.run_cost.shape_volumes).
_VOLUME_TYPE = {"GENERAL_PURPOSE_SSD": "gp3", "THROUGHPUT_OPTIMIZED_HDD": "st1"}
RUNS_PER_MONTH = 30.0  # nightly jobs: the usual cadence of the jobs Trimtab tunes


def disk_use(run: Run, stages: Sequence[Stage]) -> DiskUse | None:
    if run.config is None:
        return None
    workers = run.config.autoscale_max or run.config.num_workers
    spill = sum(s.metrics.get("disk_bytes_spilled", 0) for s in stages)
    shuffle = sum(s.metrics.get("shuffle_bytes_written", 0) for s in stages)
    return DiskUse(spill_bytes=int(spill), shuffle_write_bytes=int(shuffle), workers=max(1, workers))


def volumes_of(config: ClusterConfig) -> list[VolumeSpec]:
    if not config.ebs_volume_type or config.ebs_volume_count <= 0:
        return []
    vtype = _VOLUME_TYPE.get(config.ebs_volume_type, config.ebs_volume_type.lower())
    return [VolumeSpec(vtype, config.ebs_volume_count, config.ebs_volume_size_gb)]


def advise(config: ClusterConfig, uses: Sequence[DiskUse], mean_runtime_s: float, catalog: PriceCatalog, *,
           cloud: str, region: str) -> tuple[ClusterConfig, StorageAdvice | None]:
    """The configuration with the advised volumes, and the advice (None when there is none to give).

    Node-hours per month price both volume sets over the same use: workers plus
    driver, for the mean runtime, at the usual nightly cadence.
    """
    if cloud != "aws" or not uses:
        return config, None
    nodes = (config.autoscale_max or config.num_workers) + 1
    hours = nodes * mean_runtime_s / 3600.0 * RUNS_PER_MONTH
    try:
        advice = recommend_storage(list(uses), volumes_of(config), config.node_type_id, catalog,
                                   region=region, node_hours_per_month=hours, cloud=cloud)
    except TrimtabCostError:
        return config, None
    if advice is None or not advice.changed:
        return config, advice
    attrs = advice.aws_attributes()
    changed = dataclasses.replace(
        config,
        ebs_volume_type=str(attrs.get("ebs_volume_type", "")),
        ebs_volume_count=int(attrs.get("ebs_volume_count", 0)),
        ebs_volume_size_gb=int(attrs.get("ebs_volume_size", 0)),
        # The IOPS/throughput of gp3 have no named field; the overlay reads them from here.
        spec={"aws_attributes": attrs},
    )
    return changed, advice
