"""EBS advice for a recommendation, from what the project's runs put on disk (AWS only).

The advice is written as it is priced (`server.spec.ebs_overlay`): gp3 volumes are written with
their IOPS and throughput, as Databricks attaches gp2-equivalent volumes when those are unset
(databricks-sdk ``AwsAttributes.ebs_volume_iops``), and volumes to drop as ``ebs_volume_count`` 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from server.cadence import cadence
from server.costing.catalog import PriceCatalog
from server.costing.ebs import DiskUse, StorageAdvice, VolumeSpec, recommend_storage
from server.costing.errors import TrimtabCostError
from server.costing.run_cost import ebs_volume_type
from server.domain import ClusterConfig, Project, Run, Stage
from server.plan.range_use import RangeUse, model_workers
from server.spec import ebs_size_problem

# Runs the storage advice is priced over when the job's cadence is not known (one run, or none): its
# figures are then "per 30 runs", a nightly job's month, and say so rather than claim a month.
RUNS_WHEN_NO_CADENCE = 30
# Where `Project.state` keeps the volume changes the user turned down: ``{"workers": <config_id_of>,
# "volumes": <volume_set>, "from": <volume_set>}`` for each rejected or reverted recommendation that
# changed the disks of the very workers the job kept (``from``: their volumes then). The workers'
# configuration id does not name the volumes: for a change of the disks alone it is the job's own
# cluster, so nothing was remembered and the next plan advised the same disks again (review diffrev).
# While the job's workers still run on those volumes the advice holds them (`held_volumes`); a change
# of the job's disks by hand, or applying the turned-down change by hand, ends it.
TURNED_DOWN_VOLUMES_KEY = "rejected_volumes"
TURNED_DOWN_VOLUMES_KEPT = 20  # the newest, as `server.plan.candidates.REJECTED_KEPT`


def volume_set(config: ClusterConfig) -> list[Any]:
    """What a recommendation decides of a configuration's disks, as JSON: ``[ebs_volume_type,
    ebs_volume_count, ebs_volume_size_gb]``, compared as `server.plan.config_id.same_hardware` does."""
    return [config.ebs_volume_type, config.ebs_volume_count, config.ebs_volume_size_gb]


def held_volumes(state: Mapping[str, Any], live: ClusterConfig) -> dict[str, list[Any]]:
    """The workers' configurations (`config_id_of`) whose volume change the user turned down while the
    job ran on ``live``'s volumes, each with the volumes turned down (the newest): their advice keeps
    the live volumes. Older state without `TURNED_DOWN_VOLUMES_KEY` holds none."""
    kept = state.get(TURNED_DOWN_VOLUMES_KEY)
    now = volume_set(live)
    return {str(e["workers"]): list(e.get("volumes") or []) for e in kept
            if isinstance(e, dict) and e.get("workers") and e.get("from") == now} if isinstance(kept, list) else {}


def held_note(turned_down: Sequence[Any], label: str) -> str:
    """Why the advice keeps the live volumes of ``label`` (`server.spec.config_label`)."""
    volumes = f"{turned_down[1]}x {turned_down[0]} {turned_down[2]} GB" \
        if len(turned_down) == 3 and turned_down[1] else "no EBS volumes"
    return (f"the volume change for {label} (to {volumes}) was turned down (a rejected or reverted "
            "recommendation): its volumes are kept")


def disk_use(run: Run, stages: Sequence[Stage]) -> DiskUse | None:
    if run.config is None:
        return None
    workers = run.config.autoscale_max or run.config.num_workers
    spill = sum(s.metrics.get("disk_bytes_spilled", 0) for s in stages)
    shuffle = sum(s.metrics.get("shuffle_bytes_written", 0) for s in stages)
    attached = run.config.ebs_volume_count * run.config.ebs_volume_size_gb if run.config.ebs_volume_type else 0
    return DiskUse(spill_bytes=int(spill), shuffle_write_bytes=int(shuffle), workers=max(1, workers),
                   autoscale_min=run.config.autoscale_min if run.config.autoscale_max > 0 else None,
                   attached_gb=max(0, attached))


def volumes_of(config: ClusterConfig, live_attrs: Mapping[str, Any] | None = None) -> list[VolumeSpec]:
    """The volumes ``config`` runs with, typed by the rule costing uses (`run_cost.ebs_volume_type`:
    GENERAL_PURPOSE_SSD is gp2 unless IOPS or throughput are given). Those come from the config's
    own spec, else from the live cluster's ``aws_attributes`` (``live_attrs``), which applying a
    recommendation keeps (`server.spec.recommended_spec`)."""
    if not config.ebs_volume_type or config.ebs_volume_count <= 0:
        return []
    attrs = (config.spec or {}).get("aws_attributes") or {}
    if not (attrs.get("ebs_volume_iops") or attrs.get("ebs_volume_throughput")):
        attrs = live_attrs or {}
    vtype = ebs_volume_type(config.ebs_volume_type, iops=attrs.get("ebs_volume_iops"),
                            throughput=attrs.get("ebs_volume_throughput"))
    kind = vtype.lower()
    if kind != "gp3":
        return [VolumeSpec(kind, config.ebs_volume_count, config.ebs_volume_size_gb)]
    # A gp3's own IOPS and throughput: without them a live 6000 IOPS / 500 MiB/s volume was
    # priced and matched as a baseline 3000 / 125 one, and the advice cut it down to that.
    iops, throughput = attrs.get("ebs_volume_iops"), attrs.get("ebs_volume_throughput")
    return [VolumeSpec(kind, config.ebs_volume_count, config.ebs_volume_size_gb,
                       int(iops) if iops else None, int(throughput) if throughput else None)]


def advised_workers(config: ClusterConfig, use: RangeUse | None = None) -> float:
    """The workers runs measured on another size spread their disk use over on ``config``: its fixed
    count, or the workers an autoscaling range runs at as its candidates are priced
    (`server.plan.range_use.model_workers`: as far into the range as the project's runs went,
    ``use``, else the geometric mean of min and max; runs on the very same range count what they
    measured per node instead, `advise`); a single-node cluster (0 workers) writes on its one node."""
    return max(1.0, model_workers(config, use))


def runs_per_month(project: Project, runs: Sequence[Run]) -> float | None:
    """The job's runs a month, from its cadence (`server.cadence`: its schedule's fires as many as can
    start, else the observed); None when not known (fewer than two runs and no schedule)."""
    per_year = cadence(project, runs).runs_per_year
    return per_year / 12.0 if per_year > 0 else None


def advise(config: ClusterConfig, uses: Sequence[DiskUse], mean_runtime_s: float, catalog: PriceCatalog, *,
           cloud: str, region: str, live_attrs: Mapping[str, Any] | None = None,
           runs_per_month: float | None = None,
           use: RangeUse | None = None) -> tuple[ClusterConfig, StorageAdvice | None]:
    """The configuration with the advised volumes, and the advice (None when there is none to give).

    Node-hours per month price both volume sets over the same use: workers plus driver, for the mean
    runtime, ``runs_per_month`` times (the job's cadence, `runs_per_month`). Without it the figures
    are over `RUNS_WHEN_NO_CADENCE` runs and labelled so (no monthly saving): a fixed 30 a month made
    an hourly job's saving 24x too low. ``live_attrs``: the live cluster's ``aws_attributes``, whose
    gp3 IOPS apply keeps (`volumes_of`).

    The disks are sized per node for ``config``'s own workers (`advised_workers`), not the measured
    runs': 200 GB of shuffle measured over 8 workers is 200 GB on one node of a 1-worker config. An
    autoscaling config is sized from what runs on its very range measured per node, others' bytes
    spread over its typical size: sized for its minimum, 2..40 workers advised 3750 GB a node where
    the runs on it had held 250. Where the project's runs measured how far into their ranges they
    went (``use``), that size and the node-hours both volume sets are priced over are the workers the
    range runs at by it (`advised_workers`): priced at its max, a range that stays at its min had its
    volumes' monthly cost, and any saving, several times too large.
    """
    if cloud != "aws" or not uses:
        return config, None
    scaling = config.autoscale_max > 0
    # Without runs that measured the range, its max as before: no measure says where in it the job runs.
    nodes = (advised_workers(config, use) if scaling and use is not None
             else config.autoscale_max or config.num_workers) + 1
    known = runs_per_month is not None and runs_per_month > 0
    hours = nodes * mean_runtime_s / 3600.0 * (runs_per_month if known else RUNS_WHEN_NO_CADENCE)
    try:
        advice = recommend_storage(list(uses), volumes_of(config, live_attrs), config.node_type_id, catalog,
                                   region=region, node_hours_per_month=hours, cloud=cloud,
                                   workers=None if scaling else max(1, config.num_workers),
                                   autoscale=(config.autoscale_min, config.autoscale_max) if scaling else None,
                                   typical=advised_workers(config, use) if scaling and use is not None else None,
                                   per_runs=None if known else RUNS_WHEN_NO_CADENCE)
    except TrimtabCostError:
        return config, None
    if advice is None or not advice.changed:
        return config, advice
    if advice.volumes is None and catalog.node_type(cloud, config.node_type_id).local_disk_gb <= 0:
        # Databricks: "For node types with no instance store, at least one EBS volume needs to be
        # specified; otherwise, cluster creation will fail" (AwsAttributes.ebs_volume_count).
        return config, None
    attrs = advice.aws_attributes()
    if advice.volumes is not None and ebs_size_problem(str(attrs["ebs_volume_type"]),
                                                       int(attrs["ebs_volume_size"])) is not None:
        return config, None  # a size Databricks would refuse is never advised
    changed = dataclasses.replace(
        config,
        ebs_volume_type=str(attrs.get("ebs_volume_type", "")),
        ebs_volume_count=int(attrs.get("ebs_volume_count", 0)),
        ebs_volume_size_gb=int(attrs.get("ebs_volume_size", 0)),
        # gp3's IOPS/throughput, and a count of 0, have no named field: the overlay reads them here.
        spec={"aws_attributes": attrs},
    )
    return changed, advice
