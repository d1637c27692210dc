"""A cluster's node-by-node up time, from its spec and its cluster events (pure).

Costing prices each node for the time it was up (``server.costing``). The
Clusters API does not list past nodes, so the timeline is rebuilt from the
events: the worker count is a step function (``RUNNING`` starts it, a ``RESIZING`` downsize
and ``UPSIZE_COMPLETED``, ``ADD_NODES_FAILED`` or any count in ``current_num_workers`` change it,
``NODES_LOST`` drops nodes; the nodes a ``RESIZING`` upsize asked for count from the request once a
count shows them) between the cluster's first event and ``TERMINATING``. A lost node's span ends at the loss; its replacement is a
new span. Which nodes were spot follows Databricks' rule: the first
``first_on_demand`` nodes (the driver is node 0) are on-demand, the rest
follow ``availability``. Disks EBS autoscaling attached to a node (``EXPANDED_DISK``) are priced from
then to the node's end (`_with_attached`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.costing.run_cost import (
    ClusterUsage,
    NodeUsage,
    cloud_attributes,
    ebs_volume_type,
    first_on_demand_of,
    sku_of,
)
from server.spec import default_availability, pool_fields, pool_first_on_demand

START_TYPES = frozenset({"CREATING", "STARTING"})
END_TYPES = frozenset({"TERMINATING", "TERMINATED"})
RESIZE_TYPES = frozenset({"RUNNING", "UPSIZE_COMPLETED", "RESIZING", "AUTOSCALING_STATS_REPORT"})
# The end of an upsize: completed, or given up when the cloud would not provide the nodes
# (ADD_NODES_FAILED, its details' current_num_workers the nodes there are, reason.code such as
# AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE).
UPSIZE_END_TYPES = frozenset({"UPSIZE_COMPLETED", "ADD_NODES_FAILED"})
# EBS autoscaling attached storage to a node running low on disk; details: instance_id,
# previous_disk_size and disk_size (bytes: "Current disk size in bytes", the Clusters API's EventDetails),
# free_space. The volumes it attaches are st1 (`_with_attached`).
EXPANDED_DISK = "EXPANDED_DISK"
ATTACHED_VOLUME_TYPE = "st1"
GIB = 2**30  # EBS sizes and $/GB-month are in GiB
# DRIVER_NOT_RESPONDING alone is a pause (often GC) the driver may come back from; a driver the
# cluster gives up on is DRIVER_UNAVAILABLE.
DRIVER_GONE_TYPES = frozenset({"DRIVER_UNAVAILABLE"})
SPOT_AVAILABILITY = frozenset({"SPOT", "SPOT_WITH_FALLBACK", "SPOT_AZURE", "SPOT_WITH_FALLBACK_AZURE"})
# compute.TerminationReasonCode of a cluster that failed before RUNNING on instances it had already
# acquired: the nodes booted, pulled their image, ran their init scripts or started Spark, and failed
# there (or stopped answering). Every node of the spec was launched, and billed, from CREATING. A
# cluster that failed to get its instances (no capacity, a quota, a refused request) got no workers.
NODES_ACQUIRED_FAILURES = frozenset({
    "INIT_SCRIPT_FAILURE", "GLOBAL_INIT_SCRIPT_FAILURE", "BOOTSTRAP_TIMEOUT", "BOOTSTRAP_TIMEOUT_DUE_TO_MISCONFIG",
    "SELF_BOOTSTRAP_FAILURE", "SSH_BOOTSTRAP_FAILURE", "SPARK_STARTUP_FAILURE", "SPARK_ERROR",
    "DRIVER_UNREACHABLE", "DRIVER_NODE_UNREACHABLE", "DRIVER_UNRESPONSIVE", "DRIVER_UNHEALTHY",
    "INSTANCE_UNREACHABLE", "INSTANCE_UNREACHABLE_DUE_TO_MISCONFIG", "SPARK_IMAGE_DOWNLOAD_FAILURE",
    "SLOW_IMAGE_DOWNLOAD", "DOCKER_IMAGE_PULL_FAILURE", "DOCKER_CONTAINER_CREATION_EXCEPTION",
    "CONTAINER_LAUNCH_FAILURE", "INIT_CONTAINER_NOT_FINISHED", "DBFS_COMPONENT_UNHEALTHY",
    "METASTORE_COMPONENT_UNHEALTHY", "EXECUTION_COMPONENT_UNHEALTHY", "HIVEMETASTORE_CONNECTIVITY_FAILURE",
    "NETWORK_CONFIGURATION_FAILURE",
})
# The network checks Databricks runs on launched instances (NETWORK_CHECK_NIC_FAILURE, ..._DUE_TO_MISCONFIG).
NODES_ACQUIRED_PREFIXES = ("NETWORK_CHECK_",)
# Cluster events that show the launch past acquiring its instances, whatever ends the cluster after
# (a user's cancel, USER_REQUEST, is no failure code): cluster-scoped init scripts "run on every
# node", on the node before its Spark starts (docs/init scripts; the Clusters API's EventType lists
# INIT_SCRIPTS_STARTED / INIT_SCRIPTS_FINISHED), so they start once the nodes are up. The same
# reading as `NODES_ACQUIRED_FAILURES`, whose INIT_SCRIPT_FAILURE is a failure at that very step.
NODES_ACQUIRED_TYPES = frozenset({"INIT_SCRIPTS_STARTED", "INIT_SCRIPTS_FINISHED"})


@dataclass(frozen=True)
class ClusterTimeline:
    start_ms: int
    end_ms: int
    nodes: tuple[NodeUsage, ...]
    nodes_lost: int
    max_workers_seen: int
    # The cluster reported its driver gone (DRIVER_UNAVAILABLE): out of memory, or stuck in GC.
    driver_unavailable: bool = False
    # ``max_workers_seen`` when the cluster's events said it, for the run to keep; None without events,
    # where ``max_workers_seen`` is the spec's size assumed for pricing, not anything the cluster did.
    peak_workers: int | None = None
    # Of the ``nodes_lost``, how many a replacement joined for before the end: Databricks replaces a
    # lost node, but one lost late, or with no capacity to be had, never comes.
    nodes_replaced: int = 0

    @property
    def lost_count(self) -> int | None:
        """``nodes_lost`` when the cluster's events were read (their NODES_LOST), else None: without
        events a loss would not show, so 0 would claim a calm run that is only unknown."""
        return self.nodes_lost if self.peak_workers is not None else None


def _availability(spec: Mapping[str, Any], cloud: str) -> tuple[bool, int, bool]:
    """(workers may be spot, first_on_demand, falls back to on-demand) from the cloud attributes; an
    availability left unset is the one Databricks runs on ``cloud`` (`server.spec.default_availability`:
    SPOT_WITH_FALLBACK on AWS)."""
    attrs = cloud_attributes(spec)
    availability = (str(attrs.get("availability") or "") or default_availability(spec, cloud)).upper()
    spot = availability in SPOT_AVAILABILITY
    # On a pool first_on_demand does not apply: the driver is spot when its pool is (`pool_first_on_demand`).
    on_pool = pool_first_on_demand(spec)
    # Unset is Databricks' default (1, the driver on-demand); an explicit 0 makes the driver spot too.
    return spot, first_on_demand_of(attrs) if on_pool is None else on_pool, "FALLBACK" in availability


def ebs_volumes(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The volumes of the spec's ``ebs_volume_*`` on each node; none when it asks for none, on any
    node type. A type with no instance store (m5, c5...) gets no extra volume at launch: Databricks
    attaches the default root volumes to every node (`server.costing.run_cost.default_volumes`) and
    refuses such a spec with neither volumes nor autoscaling local storage ("At least one EBS volume
    must be attached for clusters created with node type ...", 400 INVALID_PARAMETER_VALUE:
    terraform-provider-databricks #98, #2171, kedro-databricks #134); with autoscaling local storage
    the volumes it attaches later are priced from their EXPANDED_DISK events (`_with_attached`)."""
    attrs = spec.get("aws_attributes") or {}
    count = int(attrs.get("ebs_volume_count") or 0)
    if not count or not attrs.get("ebs_volume_type"):
        return []
    volume: dict[str, Any] = {"type": ebs_volume_type(str(attrs["ebs_volume_type"]),
                                                      iops=attrs.get("ebs_volume_iops"),
                                                      throughput=attrs.get("ebs_volume_throughput")),
                              "size_gb": int(attrs.get("ebs_volume_size") or 0), "count": count}
    if attrs.get("ebs_volume_iops"):
        volume["iops"] = int(attrs["ebs_volume_iops"])
    if attrs.get("ebs_volume_throughput"):
        volume["throughput"] = int(attrs["ebs_volume_throughput"])
    return [volume]


def _workers_in(details: Mapping[str, Any]) -> int | None:
    for key in ("current_num_workers", "cluster_size"):
        value = details.get(key)
        if isinstance(value, dict):  # cluster_size is {num_workers | autoscale}
            value = value.get("num_workers")
        if value is not None:
            return int(value)
    return None


def failed_on_acquired_nodes(events: Sequence[Mapping[str, Any]]) -> bool:
    """The cluster terminated for a failure on instances it had acquired (`NODES_ACQUIRED_FAILURES`):
    the termination's ``reason.code`` on its TERMINATING (or TERMINATED) event."""
    for event in events:
        if event.get("type") in END_TYPES:
            code = str(((event.get("details") or {}).get("reason") or {}).get("code") or "")
            if code in NODES_ACQUIRED_FAILURES or code.startswith(NODES_ACQUIRED_PREFIXES):
                return True
    return False


def acquired_nodes(events: Sequence[Mapping[str, Any]]) -> bool:
    """The cluster got its instances before it ended, RUNNING or not: an event of a step that runs on
    launched nodes (`NODES_ACQUIRED_TYPES`) before its end, or a termination for a failure on them
    (`failed_on_acquired_nodes`). A launch the cloud refused (no capacity, a quota) before any such
    step shows neither."""
    for event in sorted(events, key=lambda e: int(e.get("timestamp") or 0)):
        if event.get("type") in END_TYPES:
            break
        if event.get("type") in NODES_ACQUIRED_TYPES:
            return True
    return failed_on_acquired_nodes(events)


def initial_workers(spec: Mapping[str, Any]) -> int:
    if spec.get("autoscale"):
        return int(spec["autoscale"].get("min_workers") or 0)
    return int(spec.get("num_workers") or 0)


def cluster_timeline(spec: Mapping[str, Any], events: Sequence[Mapping[str, Any]], *,
                     fallback_start_ms: int, fallback_end_ms: int,
                     driver_is_spot: bool | None = None, cloud: str = "") -> ClusterTimeline:
    """Node spans of one cluster. ``events`` in any order; ``fallback_*`` when events lack the bounds.
    ``cloud``: the workspace's, whose default availability a spec that leaves it unset runs with.

    The first workers are up from the cluster's creation (their instances are
    acquired, and billed, while it starts), not from ``RUNNING``. A downsize (``RESIZING`` to a
    lower ``target_num_workers``) releases nodes at once. An upsize (``RESIZING`` to a higher one)
    asks for nodes: each is billed from the request (Databricks launches the instance then, and the
    cloud bills it from launch, minutes before ``UPSIZE_COMPLETED`` says it joined) once a later
    count (``UPSIZE_COMPLETED``, ``ADD_NODES_FAILED``, any event's ``current_num_workers``) shows it
    arrived, and not at all when none does: ``ADD_NODES_FAILED`` (no capacity, a quota) says how
    many never came, and an upsize under way at termination shows none. Workers ``RUNNING`` reports
    still joining (``current_num_workers`` below ``target_num_workers``) follow the same rule, billed
    from creation once a later count shows them up. A cluster that never reached ``RUNNING`` has its
    workers only when its events show it acquired them (`acquired_nodes`: its init scripts ran, or it
    failed on its nodes), so a run canceled during setup is billed its workers too. The
    replacement of a lost spot node is on-demand when the spec falls back (``SPOT_WITH_FALLBACK``):
    the spot market just reclaimed capacity.
    """
    ordered = sorted(events, key=lambda e: int(e.get("timestamp") or 0))
    starts = [int(e["timestamp"]) for e in ordered if e.get("type") in START_TYPES]
    ends = [int(e["timestamp"]) for e in ordered if e.get("type") in END_TYPES]
    start = starts[0] if starts else (int(ordered[0]["timestamp"]) if ordered else fallback_start_ms)
    end = ends[0] if ends else max(fallback_end_ms, start)
    worker_type = str(spec.get("node_type_id") or "")
    driver_type = str(spec.get("driver_node_type_id") or worker_type)
    may_spot, first_on_demand, falls_back = _availability(spec, cloud)
    volumes = ebs_volumes(spec)
    nodes = [NodeUsage(driver_type, True, (may_spot and first_on_demand < 1) if driver_is_spot is None
                       else driver_is_spot, start, end, list(volumes), "driver")]
    open_spans: list[tuple[int, int, bool]] = []  # (node index, start, spot) of workers up now
    # "pending": the worker count an upsize asked for and has not completed (0: none). Until it
    # completes, counts from other events do not see the nodes on their way and must not end them.
    # "joining": the workers RUNNING reported still on their way (target_num_workers above
    # current_num_workers), not billed until a later count shows them up (`grow`).
    state = {"next": 1, "lost": 0, "peak": 0, "replacements": 0, "pending": 0, "joining": 0}
    # The workers RESIZING upsizes asked for and no count has shown yet: (how many, when asked), oldest
    # first. None is billed until a later count shows it arrived (`grow`), then from its request.
    requested: list[list[int]] = []

    def close(count: int, at: int, prefer_spot: bool) -> None:
        for _ in range(max(0, count)):
            if not open_spans:
                return
            pick = len(open_spans) - 1
            if prefer_spot:  # a lost node was a spot node when any was
                spots = [i for i, span in enumerate(open_spans) if span[2]]
                pick = spots[-1] if spots else pick
            idx, began, spot = open_spans.pop(pick)
            nodes.append(NodeUsage(worker_type, False, spot, began, at, list(volumes), f"worker-{idx}"))

    def set_count(target: int, at: int) -> None:
        while len(open_spans) < target:
            idx = state["next"]
            spot = may_spot and idx >= first_on_demand
            if state["replacements"] > 0:
                state["replacements"] -= 1
                spot = spot and not falls_back
            open_spans.append((idx, at, spot))
            state["next"] += 1
        close(len(open_spans) - target, at, prefer_spot=False)
        state["peak"] = max(state["peak"], len(open_spans))

    def grow(current: int, at: int) -> None:
        """The count is now ``current``: workers joining since RUNNING that it shows arrived were
        launched at creation and are billed from then; workers a RESIZING asked for, from that
        request (oldest first); any others from ``at``."""
        arrived = min(max(0, current - len(open_spans)), state["joining"])
        state["joining"] -= arrived
        set_count(len(open_spans) + arrived, start)
        # A node an upsize asked for is no lost node's replacement (those are the nodes counted
        # beyond the requests): its spot or on-demand follows the spec, not the fallback.
        replacements, state["replacements"] = state["replacements"], 0
        while requested and len(open_spans) < current:
            batch = requested[0]
            came = min(batch[0], current - len(open_spans))
            set_count(len(open_spans) + came, batch[1])
            batch[0] -= came
            if not batch[0]:
                requested.pop(0)
        state["replacements"] = replacements
        set_count(current, at)

    def ask(target: int, at: int) -> None:
        """A RESIZING upsize to ``target`` workers: what it asks for beyond the workers up and those
        already asked for is asked now; a lower target takes back the latest requests first."""
        wanted = target - len(open_spans)
        asked = sum(batch[0] for batch in requested)
        if wanted > asked:
            requested.append([wanted - asked, at])
        while asked > wanted and requested:
            drop = min(requested[-1][0], asked - wanted)
            requested[-1][0] -= drop
            asked -= drop
            if not requested[-1][0]:
                requested.pop()

    # EBS autoscaling ("autoscaling local storage"): the volumes attached to a node running low on disk,
    # by the node's span key ("driver", "worker-<n>"): (when attached, GiB). Each instance_id the
    # events name is tied to the span of a worker up then (`expand`).
    attached: dict[str, list[tuple[int, float]]] = {}
    holder: dict[str, str] = {}

    def expand(details: Mapping[str, Any], at: int) -> None:
        """An EXPANDED_DISK: ``disk_size`` - ``previous_disk_size`` bytes attached to the instance now.
        The events name real instance ids, the timeline's spans do not: an instance is tied to a
        worker span up now that none is tied to yet (the driver when no worker is up), and stays
        with it, so a node's volumes are billed until that span ends (Databricks detaches them only
        when the instance is released)."""
        try:
            added = (int(details.get("disk_size") or 0) - int(details.get("previous_disk_size") or 0)) / GIB
        except (TypeError, ValueError):
            return
        if added <= 0 or cloud == "azure" or worker_type.startswith("Standard_"):
            return  # Azure's attached managed disks: no price for them in the catalog
        instance = str(details.get("instance_id") or "")
        key = holder.get(instance) if instance else None
        if key is None:
            up = [f"worker-{idx}" for idx, _, _ in open_spans]
            free = [k for k in up if k not in holder.values()]
            key = (free or up or ["driver"])[0]
            if instance:
                holder[instance] = key
        attached.setdefault(key, []).append((at, added))

    running_seen = False
    driver_unavailable = False
    # The workers an event before RUNNING counted up (``current_num_workers``): a launch that got
    # fewer than the spec's says so, and only those are billed (`acquired_nodes`).
    counted_before_running: int | None = None
    for event in ordered:
        kind = event.get("type")
        driver_unavailable = driver_unavailable or kind in DRIVER_GONE_TYPES
        at = min(max(int(event.get("timestamp") or start), start), end)
        details = event.get("details") or {}
        current = _workers_in(details)
        if not running_seen and kind != "RUNNING" and details.get("current_num_workers") is not None:
            counted_before_running = int(details["current_num_workers"])
        if kind == "NODES_LOST":
            count = len(details.get("instance_ids") or []) or 1
            if current is not None and current < len(open_spans) and not state["pending"]:
                count = len(open_spans) - current
            state["lost"] += count
            state["replacements"] += count
            close(count, at, prefer_spot=True)
        elif kind == "RUNNING" and not running_seen:
            running_seen = True
            count = current if current is not None else initial_workers(spec)
            target = details.get("target_num_workers")
            if target is not None and int(target) > count:
                # Workers still joining at RUNNING (current 2 of target 8) were asked for at creation,
                # but may never come (the cloud had no capacity: ADD_NODES_FAILED). Each is billed
                # from creation once a later count shows it arrived (`grow`), not before.
                state["joining"] = int(target) - count
            set_count(count, start)
        elif kind == "RESIZING":
            target = details.get("target_num_workers")
            if target is not None and (int(target) < len(open_spans) or running_seen) \
                    and int(target) <= len(open_spans):
                # A downsize releases the nodes now, and takes back what an upsize under way asked for.
                state["pending"] = 0
                requested.clear()
                set_count(int(target), at)
            elif target is not None and running_seen:
                # An upsize asks for nodes now. Databricks launches their instances at the request
                # (RESIZING: the cluster's target size changed), and the cloud bills an instance from
                # its launch, minutes before it has joined (UPSIZE_COMPLETED: the nodes finished being
                # added). But a node asked for may never come: the cloud had no capacity, a quota, the
                # pool's maximum (ADD_NODES_FAILED), or the cluster ended first. So a requested node is
                # billed from the request once a later count shows it arrived (`grow`), and not at all
                # when none does: the same rule as for workers still joining at RUNNING.
                state["pending"] = int(target)
                state["joining"] = 0  # a new request: the nodes it asks for count from it
                ask(int(target), at)
        elif kind in UPSIZE_END_TYPES and running_seen:
            # The upsize is over, complete or given up (ADD_NODES_FAILED: no capacity, a quota):
            # the nodes its count shows arrived are billed from the request; those it does not
            # never came and are not billed, nor are workers still joining since RUNNING.
            state["pending"] = 0
            if current is not None:
                grow(current, at)
            requested.clear()
            state["joining"] = 0
        elif (kind in RESIZE_TYPES and current is not None and running_seen
              and not (state["pending"] and current < len(open_spans))):
            grow(current, at)
        elif kind == EXPANDED_DISK:
            expand(details, at)
        if kind in END_TYPES:
            break
    if not running_seen and (not ordered or acquired_nodes(ordered)):
        # No events at all: assume the spec's size throughout. Or the cluster never reached RUNNING
        # but had launched its nodes (its init scripts ran, or it failed on them: an init script, a
        # bootstrap timeout) and ended there, failed or canceled: its first workers were up, and
        # billed, from CREATING to the end, as they are before a RUNNING (as many as an event counted,
        # when one did). A launch the cloud refused (no capacity) before that keeps the driver alone
        # (its workers never came).
        workers = initial_workers(spec)
        if ordered and counted_before_running is not None:
            workers = min(workers, counted_before_running)
        set_count(workers, start)
    close(len(open_spans), end, prefer_spot=False)
    nodes = [_with_attached(n, attached.get(n.instance_id, [])) for n in nodes]
    # Every loss adds a replacement owed and each one that joins pays one back (`set_count`): those
    # still owed at the end never came.
    return ClusterTimeline(start, end, tuple(nodes), state["lost"], state["peak"], driver_unavailable,
                           peak_workers=state["peak"] if ordered else None,
                           nodes_replaced=max(0, state["lost"] - state["replacements"]))


def _with_attached(node: NodeUsage, volumes: list[tuple[int, float]]) -> NodeUsage:
    """``node`` with the EBS volumes EBS autoscaling attached to it (``volumes``: when, GiB).

    Databricks extends a node's local storage with Throughput Optimized HDD (st1) volumes (its AWS
    compute docs, "Autoscaling local storage"; Sync Computing's "Why your Databricks cluster EBS
    settings matter": st1 "used in Databricks Storage Autoscaling"). A node's volumes are all priced
    over its whole span (`server.costing.run_cost.cost_run`), so one attached partway is entered at
    the size that costs the same over that span: its GiB times the share of the span it was
    attached (``attached_gb``/``attached_ms`` say what it really was)."""
    span = node.end_ms - node.start_ms
    extra = []
    for at, gib in volumes:
        if span > 0 and node.end_ms > at:
            share = (node.end_ms - max(at, node.start_ms)) / span
            extra.append({"type": ATTACHED_VOLUME_TYPE, "size_gb": gib * share, "count": 1,
                          "attached_gb": round(gib, 3), "attached_ms": at})
    return dataclasses.replace(node, ebs_volumes=[*node.ebs_volumes, *extra]) if extra else node


def node_types_unknown(spec: Mapping[str, Any]) -> str:
    """Why the node types a run ran on are not known, in the user's words; "" when ``spec`` (the
    run's as it ran: `server.collect.build.with_pool_node_types`) names them. A spec that leaves them
    to its cluster policy or instance pool is filled in from the cluster record (``clusters/get``):
    once Databricks no longer holds the cluster (purged 30 days after it ended), nothing says which
    ran. Priced on '' the catalog would say "unknown node type ''", which names no cause."""
    if spec.get("node_type_id"):
        return ""
    source = "its instance pool supplies them" if pool_fields(spec) else \
        "its cluster policy fills them in" if spec.get("policy_id") else "it names none"
    return (f"the node types it ran on are not known: its spec leaves them out ({source}) and the cluster "
            "record that names them is gone")


def cluster_usage(timeline: ClusterTimeline, spec: Mapping[str, Any], *, cloud: str, region: str, plan: str,
                  input_bytes: int | None) -> ClusterUsage:
    return ClusterUsage(cloud=cloud, region=region, plan=plan, sku=sku_of(spec), nodes=list(timeline.nodes),
                        input_bytes=input_bytes, pooled=bool(pool_fields(spec)))
