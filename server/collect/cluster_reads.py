"""The collector's reads of a run's clusters: ``clusters/events`` (None once the cluster is purged),
the instance pool, ``runs/get`` with its for-each iterations, and the node-by-node timeline and usage
built from them. One rule for the collector and a backfill (`server.backfill`).

Split from `server.collect.collector`, which re-exports these names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from server.collect.build import with_pool_node_types
from server.collect.run_parse import for_each_run_ids, with_iterations
from server.collect.usage import ClusterTimeline, cluster_timeline, cluster_usage
from server.costing.run_cost import ClusterUsage
from server.databricks import DatabricksGateway, DatabricksNotFound, DatabricksRejected, call_or_none
from server.domain import Run, Workspace
from server.spec import pool_ids, with_pool_disks

# A cluster gone from clusters/events: 400 INVALID_PARAMETER_VALUE "Cluster <id> does not exist"
# (databricks-sdk maps that message to ResourceDoesNotExist on clusters/get only, so here it comes
# as a rejected request rather than DatabricksNotFound).
_CLUSTER_MISSING = re.compile(r"Cluster \S+ does not exist")


def cluster_events_or_none(gateway: DatabricksGateway, cluster_id: str) -> list[dict[str, Any]] | None:
    """Every event of the cluster; None when the workspace no longer knows the cluster."""
    try:
        return gateway.cluster_events(cluster_id)
    except DatabricksNotFound:
        return None
    except DatabricksRejected as err:
        if _CLUSTER_MISSING.search(str(err)):
            return None
        raise


def run_timeline(spec: Mapping[str, Any], cluster: Mapping[str, Any] | None,
                 events: list[dict[str, Any]] | None, start_ms: int,
                 end_ms: int, *, cloud: str = "",
                 pools: Mapping[str, Mapping[str, Any]] | None = None,
                 policy_values: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], ClusterTimeline]:
    """What a run's cluster ran (its spec with a pool's node types filled in from ``clusters/get``)
    and its node-by-node timeline from ``clusters/events``, with the run's bounds where the events
    lack them (no events: the cluster is gone, its spec's size throughout). One rule for a run's
    usage, the collector's and a backfill's (`server.backfill.runs`), so the same cluster run is
    the same price whichever stored it. ``pools``: the spec's pools (`pools_of`), whose disks its
    nodes carry. ``policy_values``: what its cluster policy fills in, for a cluster record gone
    (`server.collect.build.policy_fallback`)."""
    ran = with_pool_node_types(spec, cluster, pools, policy_values=policy_values)
    return ran, cluster_timeline(ran, events or [], fallback_start_ms=start_ms, fallback_end_ms=end_ms,
                                 driver_is_spot=_driver_spot(cluster), cloud=cloud)


def pools_of(gateway: DatabricksGateway, spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The pools the spec's workers and driver come from, by id (``instance-pools/get``): the workers'
    for its ``disk_spec``, the driver's for whether the driver was spot (`with_pool_node_types`); empty
    off a pool or when the workspace no longer answers for it (its disks are then not priced)."""
    out: dict[str, dict[str, Any]] = {}
    # The driver's pool too (`server.spec.pool_ids`): its availability says whether the driver was spot.
    for pool_id in dict.fromkeys(pool_ids(spec) if spec.get("instance_pool_id") else ()):
        pool = call_or_none(lambda p=pool_id: gateway.get_instance_pool(p))
        if pool:
            out[pool_id] = pool
    return out


def _stored_timeline(gateway: DatabricksGateway, run: Run, cloud: str) -> tuple[ClusterTimeline, dict[str, Any]]:
    """A stored run's cluster timeline and spec, read again from its cluster (`run_usage`): from the
    run's spec and bounds alone once Databricks no longer holds the cluster. ``cloud``: the workspace's
    (`server.spec.default_availability`)."""
    cluster = call_or_none(lambda: gateway.get_cluster(run.cluster_id)) if run.cluster_id else None
    events = (cluster_events_or_none(gateway, run.cluster_id) or []) if cluster else []
    spec = (run.config.spec if run.config and run.config.spec else dict((cluster or {}).get("spec") or {}))
    spec = with_pool_disks(spec, pools_of(gateway, spec))
    timeline = cluster_timeline(spec, events, fallback_start_ms=run.start_ms, fallback_end_ms=run.end_ms,
                                driver_is_spot=_driver_spot(cluster), cloud=cloud)
    return timeline, spec


def run_detail(gateway: DatabricksGateway, run_id: int) -> dict[str, Any]:
    """runs/get of a run, each for-each task in it replaced by its iterations (`with_iterations`).

    A for-each task's iterations are not in the job run's answer: only runs/get of the for-each
    task's own run lists them (``iterations``, paged by the gateway), so without this read a job whose
    cluster runs only for-each iterations would never show a run. A for-each task run Databricks no
    longer answers for is left as it is (its cluster unknown: no piece, as before)."""
    detail = gateway.get_run(run_id)
    found: dict[int, list[dict[str, Any]]] = {}
    for task_run_id in for_each_run_ids(detail):
        task_run = call_or_none(lambda t=task_run_id: gateway.get_run(t))
        if task_run is not None:
            found[task_run_id] = list(task_run.get("iterations") or [])
    return with_iterations(detail, found) if found else detail


def _run_or_none(gateway: DatabricksGateway, run_id: int) -> dict[str, Any] | None:
    return call_or_none(lambda: run_detail(gateway, run_id))


def _cluster_or_none(gateway: DatabricksGateway, cluster_id: str) -> dict[str, Any] | None:
    return call_or_none(lambda: gateway.get_cluster(cluster_id))


def _driver_spot(cluster: Mapping[str, Any] | None) -> bool | None:
    attrs = ((cluster or {}).get("driver") or {}).get("node_aws_attributes") or {}
    return bool(attrs["is_spot"]) if "is_spot" in attrs else None


def run_usage(gateway: DatabricksGateway, workspace: Workspace, run: Run) -> ClusterUsage:
    """A stored run's node-by-node usage, rebuilt from its cluster (for re-costing when a bill lands).

    Databricks keeps a terminated cluster's events for 30 days; after that the
    usage is rebuilt from the run's spec and bounds alone (the spec's size throughout).
    """
    timeline, spec = _stored_timeline(gateway, run, workspace.cloud)
    return cluster_usage(timeline, spec, cloud=workspace.cloud,
                         region=workspace.pricing_region,
                         plan=workspace.plan, input_bytes=run.input_bytes)
