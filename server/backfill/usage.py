"""A backfilled run's cluster usage and price.

A run the workspace still answers ``runs/get`` for is sized and priced as the collector does it:
from its cluster's ``clusters/get`` and ``clusters/events`` (Databricks keeps them 30 days after the
cluster ends), through the collector's own `run_timeline`, so the same cluster run costs the same
whichever stored it (an autoscaling cluster's workers count from each RESIZING request, billed as
the instances are acquired). Once the workspace no longer holds the cluster only the event log is
left, which has no cluster events: an autoscaling cluster's workers follow its executors
(`executor_events`), and the run's cost note says so (`EXECUTORS_NOTE`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from server.collect.build import with_pool_node_types
from server.collect.collector import GONE_NOTE, run_timeline
from server.collect.run_parse import ClusterRun
from server.collect.usage import ClusterTimeline, cluster_timeline, cluster_usage, node_types_unknown
from server.costing.billing import price_run
from server.costing.catalog import PriceCatalog
from server.costing.errors import TrimtabCostError
from server.domain import CostBreakdown, Executor

# The cost note of a run whose cluster the workspace no longer held, sized by its log's executors.
EXECUTORS_NOTE = ("the workspace no longer had the cluster's events: its node hours come from the event "
                  "log's executors (an upsize counts from when its executors registered, after its "
                  "instances were up and billed, so it may be priced a little low)")


@dataclass(frozen=True)
class ClusterRecord:
    """A cluster as the workspace still holds it: ``clusters/get`` and every ``clusters/events`` event."""

    cluster: Mapping[str, Any]
    events: list[dict[str, Any]]
    # The instance pool its workers came from, by id (`server.collect.collector.pools_of`): its
    # ``disk_spec`` is priced as the collector prices it.
    pools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


# clusters/get + clusters/events for a cluster id; None when the workspace no longer holds the
# cluster (or cannot be asked).
ClusterLookup = Callable[[str], ClusterRecord | None]


@dataclass(frozen=True)
class Pricing:
    """How the project's workspace is billed (see `server.collect.collector`)."""

    catalog: PriceCatalog
    cloud: str
    region: str
    plan: str


def executor_events(spec: dict[str, Any], executors: Sequence[Executor], start_ms: int,
                    end_ms: int) -> list[dict[str, Any]]:
    """Cluster events standing in for the ones a log lacks, for an autoscaling cluster: its worker
    count over ``start_ms..end_ms`` as the executors show it; none for a fixed-size one.

    Databricks runs one executor per worker node, so the workers up at a time are the distinct
    hosts with an executor then (the driver's own is not one), kept within the spec's
    ``min_workers..max_workers``: the first workers are up, and billed, before their executors
    register. A node's instance is up a little before its executor registers and after it is
    removed, so this still slightly under-counts an upsize.
    """
    autoscale = spec.get("autoscale") or {}
    if not autoscale or not executors:
        return []
    low = int(autoscale.get("min_workers") or 0)
    high = int(autoscale.get("max_workers") or low)
    workers = [e for e in executors if e.executor_id != "driver"]
    times = sorted({t for e in workers for t in (e.added_ms, e.removed_ms) if start_ms < t < end_ms})

    def count(at: int) -> int:
        hosts = {e.host or e.executor_id for e in workers
                 if e.added_ms <= at and not (e.removed_ms and e.removed_ms <= at)}
        return min(high, max(low, len(hosts)))

    events: list[dict[str, Any]] = [
        {"type": "CREATING", "timestamp": start_ms, "details": {}},
        {"type": "RUNNING", "timestamp": start_ms, "details": {"current_num_workers": count(start_ms)}}]
    current = count(start_ms)
    for at in times:
        now = count(at)
        if now != current:
            events.append({"type": "RESIZING", "timestamp": at,
                           "details": {"current_num_workers": current, "target_num_workers": now}})
            if now > current:  # the executors show the nodes up: a count, which an upsize is billed on
                events.append({"type": "UPSIZE_COMPLETED", "timestamp": at,
                               "details": {"current_num_workers": now, "target_num_workers": now}})
            current = now
    events.append({"type": "TERMINATING", "timestamp": end_ms, "details": {}})
    return events


@dataclass(frozen=True)
class Usage:
    """A run's cluster as far as it can be known: what it ran, its timeline, and (``note``) what the
    cost is short of when the workspace no longer held the cluster ("" when it did)."""

    spec: dict[str, Any]
    timeline: ClusterTimeline
    cluster: Mapping[str, Any] | None = None
    note: str = ""


def usage_of(piece: ClusterRun, record: ClusterRecord | None, executors: Sequence[Executor],
             cloud: str = "", *, policy_values: Mapping[str, Any] | None = None) -> Usage:
    """The cluster's usage over the run: from its events, as the collector reads them, while the
    workspace holds the cluster; else from the log, whose executors size an autoscaling cluster
    (min_workers throughout would under-price it much more) and whose spec sizes a fixed one.
    ``policy_values``: what the run's cluster policy fills in, as the project keeps it
    (`server.collect.build.policy_fallback`), read as the collector reads it when the cluster
    record is gone: a spec whose policy fills the node types in names none."""
    if record is not None:
        ran, timeline = run_timeline(piece.spec, record.cluster, record.events, piece.start_ms, piece.end_ms,
                                     cloud=cloud, pools=record.pools, policy_values=policy_values)
        return Usage(ran, timeline, record.cluster)
    ran = with_pool_node_types(piece.spec, None, policy_values=policy_values)
    events = executor_events(ran, executors, piece.start_ms, piece.end_ms)
    timeline = cluster_timeline(ran, events, fallback_start_ms=piece.start_ms,
                                fallback_end_ms=piece.end_ms, cloud=cloud)
    return Usage(ran, timeline, None, EXECUTORS_NOTE if events else GONE_NOTE)


def run_cost(pricing: Pricing | None, piece: ClusterRun, input_bytes: int | None,
             usage: Usage) -> CostBreakdown | None:
    """The run's estimated cost over ``usage``, with its note; None without a catalog or for what it
    cannot price (a node type it lacks: the run is stored unpriced, `run_cost_why` says why)."""
    return run_cost_why(pricing, piece, input_bytes, usage)[0]


def run_cost_why(pricing: Pricing | None, piece: ClusterRun, input_bytes: int | None,
                 usage: Usage) -> tuple[CostBreakdown | None, str]:
    """`run_cost`, and why the run could not be priced ("" when it was, or without a catalog): the
    reason the collector gives for the same run (`server.collect.run_notes.unpriced_note`)."""
    if pricing is None:
        return None, ""
    if unknown := node_types_unknown(usage.spec):  # said so, not "unknown node type ''"
        return None, unknown
    nodes = cluster_usage(usage.timeline, usage.spec, cloud=pricing.cloud, region=pricing.region,
                          plan=pricing.plan, input_bytes=input_bytes)
    try:
        # Over the timeline's span, as the collector prices (and re-costing asks the bill for those days).
        cost = price_run(nodes, pricing.catalog, cluster_id=piece.cluster_id, start_ms=usage.timeline.start_ms,
                         end_ms=usage.timeline.end_ms, bill_source=None)
    except TrimtabCostError as err:  # e.g. a node type the catalog lacks: stored unpriced
        return None, err.message
    if not usage.note:
        return cost, ""
    return dataclasses.replace(cost, note=_joined(cost.note, usage.note)), ""


def _joined(first: str, second: str) -> str:
    return f"{first}; {second}" if first and second else first or second
