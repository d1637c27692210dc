"""``simulate_run``: one job run on a simulated Databricks cluster, from CREATING to TERMINATING.

The result carries everything the workspace emulator plays back: the nodes (instances, IPs, spot
or on-demand, EBS volumes), the cluster events, the Spark event log lines with their simulated
times, and a ground-truth summary for tests. Same arguments and seed, same run.

A driver that runs out of heap fails the run as on Databricks: the log stops where the driver died,
the cluster reports the driver not responding, then unavailable, and the run's state message says
the Spark driver stopped unexpectedly, with the OutOfMemoryError.

Spot nodes are reclaimed at a rate per spot node-hour (`spot_market`), workers and, with
``first_on_demand`` 0, the driver: a lost worker is replaced, a lost driver ends the run
(`driver_loss`), the cluster terminating with the cloud's SPOT_INSTANCE_TERMINATION.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.nodes import NodeType
from sandbox.sim.cluster import ClusterPlan, plan_cluster
from sandbox.sim.driver_loss import (
    DRIVER_LOST_CODE,
    DRIVER_LOST_DETAIL,
    DRIVER_LOST_TYPE,
    cut_at_driver_loss,
    driver_loss_ms,
    driver_lost_message,
)
from sandbox.sim.eventlog import LogContext, build_event_log
from sandbox.sim.model import executor_heap_gib
from sandbox.sim.profiles import profile_named
from sandbox.sim.scheduler import LossDraw, SpotLoss, Timeline, schedule
from sandbox.sim.spot_market import SpotMarket, market_for
from sandbox.sim.summary import summarize

# Seconds from the request to the nodes being up (uniform range): fresh cloud instances, and a
# pool's idle ones (Databricks: pools "reduce cluster start and auto-scaling times").
PROVISION_S = (150.0, 300.0)
POOL_PROVISION_S = (20.0, 60.0)
DRIVER_NOT_RESPONDING_MESSAGE = "Driver is up but is not responsive, likely due to GC."
# EBS autoscaling ("autoscaling local storage", ``enable_elastic_disk``) on AWS: when what a worker has
# written (shuffle files, spills) passes this share of its disk, Databricks attaches another volume of
# this size, Throughput Optimized HDD (st1), and reports EXPANDED_DISK (sizes in bytes). The volumes
# stay attached until the instance is released.
ELASTIC_DISK_FULL = 0.8
ELASTIC_DISK_STEP_GIB = 150
ELASTIC_DISK_TYPE = "st1"
GIB = 2**30


@dataclass
class SimNode:
    instance_id: str
    node_type_id: str
    is_driver: bool
    spot: bool
    private_ip: str
    start_ms: int
    end_ms: int
    lost: bool
    ebs_volumes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ClusterEvent:
    timestamp_ms: int
    type: str
    details: dict[str, Any]


@dataclass
class SimulatedRun:
    start_time_ms: int
    running_ms: int
    end_time_ms: int
    result_state: str
    state_message: str
    driver_ip: str
    spark_context_id: str
    spark_app_id: str
    nodes: list[SimNode]
    cluster_events: list[ClusterEvent]
    eventlog: list[tuple[int, str]]
    summary: dict[str, Any]


def spark_version_for(runtime: str) -> str:
    """Apache Spark version of a Databricks runtime string such as ``15.4.x-scala2.12``."""
    try:
        major = int(runtime.split(".")[0])
    except (ValueError, AttributeError):
        return "3.5.0"
    return "4.0.0" if major >= 17 else "3.5.2" if major == 16 else "3.5.0" if major >= 14 else "3.4.1"


def _shuffle_partitions(plan: ClusterPlan) -> int:
    configured = plan.spark_conf.get("spark.sql.shuffle.partitions", "")
    return int(configured) if configured.isdigit() else 200


def _instance_id(rng: random.Random, node: NodeType) -> str:
    if node.cloud == "aws":
        return "i-0" + "".join(rng.choice("0123456789abcdef") for _ in range(16))
    return "".join(rng.choice("0123456789abcdef") for _ in range(32))


def _is_spot(plan: ClusterPlan, node_index: int, replacement: bool) -> bool:
    """A lost spot node is replaced on demand unless the spec insists on spot."""
    return plan.is_spot(node_index) and not (replacement and plan.availability != "SPOT")


def _draw_losses(plan: ClusterPlan, rng: random.Random, market: SpotMarket, start: int,
                 duration: int) -> list[SpotLoss]:
    """The losses of the first workers, up from ``start``: each spot one is reclaimed with the
    market's chance over the application's ``duration``, somewhere in it."""
    prob = market.loss_chance(duration)
    losses = []
    for node_index in range(1, plan.min_workers + 1):
        if plan.is_spot(node_index) and rng.random() < prob:
            losses.append(SpotLoss(node_index, start + round(duration * rng.uniform(0.1, 0.85))))
    return losses


def _later_losses(plan: ClusterPlan, key: str, market: SpotMarket, end_ms: int) -> LossDraw:
    """The losses of the workers that join during the run (an upsize's, replacements): each spot one
    is reclaimed with the market's chance over its time up to ``end_ms`` (the application's end
    without losses), somewhere in it, as the first workers are over theirs. Each node draws from its own stream: its
    fate does not depend on the order nodes join in, so a run whose nodes all survive is the run
    without losses."""
    def draw(node_index: int, joined_ms: int, replacement: bool) -> SpotLoss | None:
        if joined_ms >= end_ms or not _is_spot(plan, node_index, replacement):
            return None
        prob = market.loss_chance(end_ms - joined_ms)
        if prob <= 0:
            return None
        rng = random.Random(f"{key}/spot/{node_index}")
        if rng.random() >= prob:
            return None
        return SpotLoss(node_index, joined_ms + round((end_ms - joined_ms) * rng.uniform(0.1, 0.85)))
    return draw


def _nodes(plan: ClusterPlan, tl: Timeline, rng: random.Random, start: int, end: int) -> dict[int, SimNode]:
    """Every node the run used, by node index (0 = driver)."""
    subnet = rng.randrange(0, 250)
    used_ips: set[str] = set()

    def ip() -> str:
        while True:
            addr = f"10.{subnet}.{rng.randrange(0, 256)}.{rng.randrange(2, 255)}"
            if addr not in used_ips:
                used_ips.add(addr)
                return addr

    def node(index: int, node_type: NodeType, spot: bool, t0: int) -> SimNode:
        return SimNode(_instance_id(rng, node_type), node_type.node_type_id, index == 0, spot, ip(), t0, end,
                       False, [dict(v) for v in plan.ebs_volumes])

    by_index = {0: node(0, plan.driver_type, plan.is_spot(0), start)}
    for i in range(1, plan.min_workers + 1):
        by_index[i] = node(i, plan.worker_type, plan.is_spot(i), start)
    for change in tl.changes:
        if change.type == "ADD" and change.node_index is not None and change.t_ms < tl.app_end_ms:
            spot = _is_spot(plan, change.node_index, bool(change.details.get("replacement")))
            # An upsize's instance is up, and billed, from the RESIZING that asked for it (Databricks
            # launches it then); it joins the cluster at UPSIZE_COMPLETED, minutes later. A node the
            # cluster ended before (no UPSIZE_COMPLETED either) is left out: nothing shows it came.
            launched = int(change.details.get("requested_ms", change.t_ms))
            by_index[change.node_index] = node(change.node_index, plan.worker_type, spot, launched)
    for change in tl.changes:
        target = by_index.get(change.node_index) if change.node_index is not None else None
        if target is None or change.t_ms >= tl.app_end_ms:
            continue
        if change.type == "NODES_LOST":
            target.end_ms, target.lost = change.t_ms, True
        elif change.type == "RESIZING":  # released by autoscaling
            target.end_ms = change.t_ms
    return by_index


def _disk_expansions(new_cluster: dict[str, Any], plan: ClusterPlan, tl: Timeline,
                     nodes: dict[int, SimNode]) -> list[ClusterEvent]:
    """EXPANDED_DISK events of an AWS cluster with EBS autoscaling, each worker's disk filled by what its
    tasks wrote (shuffle and spill bytes, at each task's end; nothing is freed during the run). The
    attached volume is added to the node's ``ebs_volumes`` with ``attached_ms``, from when it is billed."""
    if not new_cluster.get("enable_elastic_disk") or plan.worker_type.cloud != "aws":
        return []
    base = int(plan.worker_type.local_disk_gb + sum(int(v["size_gb"]) * int(v.get("count", 1))
                                                    for v in plan.ebs_volumes)) * GIB
    written: dict[int, list[tuple[int, int]]] = {}
    for task in tl.tasks:
        amount = int(task.cost.shuffle_write_bytes) + int(task.cost.disk_spilled)
        if amount > 0:
            written.setdefault(task.node_index, []).append((task.finish_ms, amount))
    events: list[ClusterEvent] = []
    for index, writes in sorted(written.items()):
        node = nodes.get(index)
        if node is None or node.is_driver:
            continue
        size, used = base, 0
        for at, amount in sorted(writes):
            if at >= min(node.end_ms, tl.app_end_ms):
                break
            used += amount
            while used > ELASTIC_DISK_FULL * size:
                grown = size + ELASTIC_DISK_STEP_GIB * GIB
                events.append(ClusterEvent(at, "EXPANDED_DISK", {
                    "instance_id": node.instance_id, "previous_disk_size": size, "disk_size": grown,
                    "free_space": max(0, size - used)}))
                node.ebs_volumes.append({"type": ELASTIC_DISK_TYPE, "size_gb": ELASTIC_DISK_STEP_GIB, "count": 1,
                                         "attached_ms": at})
                size = grown
    return events


def _driver_events(tl: Timeline, rng: random.Random) -> list[ClusterEvent]:
    """What the cluster reports about a driver in trouble: a driver deep in GC misses its health
    checks (DRIVER_NOT_RESPONDING; DRIVER_HEALTHY if it recovers), a dead one is DRIVER_UNAVAILABLE."""
    trace = tl.driver
    if trace is None or (trace.crash_ms is None and trace.strained_ms is None):
        return []
    gc_message = {"driver_state_message": DRIVER_NOT_RESPONDING_MESSAGE}
    if trace.crash_ms is not None:
        silent = min(trace.strained_ms or trace.crash_ms, trace.crash_ms) + round(rng.uniform(10, 30) * 1000)
        gone = max(silent, trace.crash_ms) + round(rng.uniform(30, 90) * 1000)
        return [ClusterEvent(silent, "DRIVER_NOT_RESPONDING", gc_message), ClusterEvent(gone, "DRIVER_UNAVAILABLE", {})]
    assert trace.strained_ms is not None
    silent = trace.strained_ms + round(rng.uniform(10, 30) * 1000)
    if silent >= tl.app_end_ms:
        return []
    healthy = min(silent + round(rng.uniform(20, 60) * 1000), tl.app_end_ms)
    return [ClusterEvent(silent, "DRIVER_NOT_RESPONDING", gc_message), ClusterEvent(healthy, "DRIVER_HEALTHY", {})]


def simulate_run(new_cluster: dict[str, Any], profile: str, *, seed: int, day: int, cluster_id: str,
                 spark_context_id: str, start_time_ms: int, job_id: int, run_id: int, app_name: str,
                 spot_loss_prob: float | None = None, spot_loss_rate: float | None = None,
                 eventlog: bool = True) -> SimulatedRun:
    """Simulate one run of ``profile`` on ``new_cluster``; raises SpecError for an invalid spec.
    ``spot_loss_rate``: spot reclaims per spot node-hour (`spot_market`; its default when None);
    ``spot_loss_prob``: instead, a fixed chance per spot node whatever the run's length.
    ``eventlog`` False leaves the Spark event log out (empty) and nothing else: writing it is three
    quarters of a run's simulation, and a caller that reads only the run's times, outcome and
    summary (the growth benchmark simulates hundreds) has no use for it."""
    plan = plan_cluster(new_cluster)
    prof = profile_named(profile)
    key = f"{seed}/{day}/{profile}"
    rng = random.Random(key)
    # A pool's idle instances are already up: its clusters skip most of the cloud's provisioning.
    provision_s = POOL_PROVISION_S if new_cluster.get("instance_pool_id") else PROVISION_S
    provisioned = start_time_ms + round(rng.uniform(*provision_s) * 1000)
    init_done = provisioned + round(rng.uniform(8, 25) * 1000)
    running = init_done + round(rng.uniform(2, 6) * 1000)
    app_start = running + round(rng.uniform(8, 20) * 1000)

    timeline = schedule(prof, plan, day=day, rng=random.Random(key + "/spark"), start_ms=app_start,
                        driver_rng=random.Random(key + "/driver"))
    market = market_for(spot_loss_prob, spot_loss_rate)
    losses = _draw_losses(plan, random.Random(key + "/spot"), market, app_start, timeline.app_end_ms - app_start)
    later = _later_losses(plan, key, market, timeline.app_end_ms)
    driver_lost = driver_loss_ms(plan, market, key, app_start, timeline.app_end_ms)
    # Without losses the run is the one just simulated (the nodes that join are the same ones).
    if losses or any(later(c.node_index, c.t_ms, False) for c in timeline.changes
                     if c.type == "ADD" and c.node_index is not None):
        timeline = schedule(prof, plan, day=day, rng=random.Random(key + "/spark"), start_ms=app_start,
                            losses=losses, driver_rng=random.Random(key + "/driver"), draw_loss=later)
    if driver_lost is not None and (timeline.driver_crash_ms is not None or driver_lost >= timeline.app_end_ms):
        driver_lost = None  # the driver died of its heap first, or the application ended before
    if driver_lost is not None:
        cut_at_driver_loss(timeline, driver_lost, driver_lost_message(cluster_id))
    terminating = timeline.app_end_ms + round(rng.uniform(2, 6) * 1000)
    driver_events = _driver_events(timeline, random.Random(key + "/driver-events"))
    if timeline.driver_crash_ms is not None:  # Databricks gives up on the run once the driver is gone
        terminating = max(terminating, driver_events[-1].timestamp_ms + round(rng.uniform(10, 30) * 1000))
    end_time = terminating + round(rng.uniform(3, 8) * 1000)
    nodes_by_index = _nodes(plan, timeline, random.Random(key + "/nodes"), start_time_ms, terminating)
    if driver_lost is not None:  # its instance went at the loss, the others at the termination
        nodes_by_index[0].end_ms, nodes_by_index[0].lost = driver_lost, True
    nodes = [nodes_by_index[i] for i in sorted(nodes_by_index)]
    driver_ip = nodes[0].private_ip

    n0 = plan.min_workers
    events = [
        ClusterEvent(start_time_ms, "CREATING", {"user": "jobs-service", "attributes": dict(new_cluster)}),
        ClusterEvent(provisioned, "INIT_SCRIPTS_STARTED", {}),
        ClusterEvent(init_done, "INIT_SCRIPTS_FINISHED", {}),
        ClusterEvent(running, "RUNNING", {"current_num_workers": n0, "target_num_workers": n0}),
    ]
    events += [ClusterEvent(c.t_ms, c.type, c.details) for c in timeline.changes
               if c.type != "ADD" and c.t_ms < timeline.app_end_ms]
    events += driver_events
    events += _disk_expansions(new_cluster, plan, timeline, nodes_by_index)
    reason: dict[str, Any] = {"code": "JOB_FINISHED", "type": "SUCCESS"}
    if driver_lost is not None:
        reason = {"code": DRIVER_LOST_CODE, "type": DRIVER_LOST_TYPE,
                  "parameters": {"databricks_error_message": DRIVER_LOST_DETAIL}}
    events.append(ClusterEvent(terminating, "TERMINATING", {"reason": reason}))
    events.sort(key=lambda e: e.timestamp_ms)

    app_id = "app-" + datetime.fromtimestamp(app_start / 1000, UTC).strftime("%Y%m%d%H%M%S") + "-0000"
    ctx = LogContext(
        app_id=app_id, app_name=app_name, spark_version=spark_version_for(str(new_cluster.get("spark_version", ""))),
        spark_context_id=spark_context_id, cluster_id=cluster_id,
        cluster_name=str(new_cluster.get("cluster_name") or f"job-{job_id}-run-{run_id}"),
        job_id=job_id, run_id=run_id, driver_ip=driver_ip, hosts={i: n.private_ip for i, n in nodes_by_index.items()},
        app_start_ms=app_start, executor_memory_mb=round(executor_heap_gib(plan.worker_type) * 1024),
        driver_cores=plan.worker_type.vcpus, worker_node_type=plan.worker_type.node_type_id,
        driver_node_type=plan.driver_type.node_type_id,
        shuffle_partitions=_shuffle_partitions(plan),
        driver_memory=plan.spark_conf.get("spark.driver.memory", ""),
    )
    summary = summarize(timeline, prof, plan, day=day, seed=seed)
    summary["runtime_s"] = (end_time - start_time_ms) / 1000.0
    summary["spot_losses"] = sum(1 for n in nodes if n.lost)
    summary["driver_lost_ms"] = driver_lost
    return SimulatedRun(
        start_time_ms=start_time_ms, running_ms=running, end_time_ms=end_time,
        result_state="FAILED" if timeline.failure else "SUCCESS", state_message=timeline.failure or "", driver_ip=driver_ip, spark_context_id=spark_context_id, spark_app_id=app_id,
        nodes=nodes, cluster_events=events, eventlog=build_event_log(ctx, timeline) if eventlog else [], summary=summary,
    )
