"""A spot driver reclaimed mid-run (pure): the application ends where it stood, and the cluster with it.

With ``first_on_demand`` 0 and spot availability the driver is a spot instance too, and the cloud may
take it back. Databricks cannot replace a driver: the cluster terminates with the cloud's reason
(``SPOT_INSTANCE_TERMINATION``, CLOUD_FAILURE: the spot-loss termination code of the Clusters API) and
the run fails. Spark on the driver writes nothing from that moment: as for a driver that ran out of heap
(`sandbox.sim.scheduler._Scheduler.driver_died`), attempts still going never report back.
"""

from __future__ import annotations

import random

from sandbox.sim.cluster import ClusterPlan
from sandbox.sim.scheduler import Timeline
from sandbox.sim.spot_market import SpotMarket

DRIVER_LOST_CODE = "SPOT_INSTANCE_TERMINATION"
DRIVER_LOST_TYPE = "CLOUD_FAILURE"
DRIVER_LOST_DETAIL = "The driver's spot instance was reclaimed by the cloud provider."


def driver_loss_ms(plan: ClusterPlan, market: SpotMarket, key: str, start_ms: int, end_ms: int) -> int | None:
    """When the driver's spot instance is reclaimed during the application (``start_ms``..``end_ms``
    of the run without it), else None: never for an on-demand driver. Its own random stream: the
    workers' losses, and so a run whose driver survives, are what they were before drivers were lost."""
    if not plan.is_spot(0) or end_ms <= start_ms:
        return None
    rng = random.Random(f"{key}/spot/driver")
    if rng.random() >= market.loss_chance(end_ms - start_ms):
        return None
    return start_ms + round((end_ms - start_ms) * rng.uniform(0.1, 0.85))


def driver_lost_message(cluster_id: str) -> str:
    """The run's state message: the cluster's termination, as the Jobs service quotes it (the
    emulator's wording; its code and type are the Clusters API's)."""
    return (f"Cluster {cluster_id} was terminated. Reason: {DRIVER_LOST_CODE} ({DRIVER_LOST_TYPE}). "
            f"Parameters: databricks_error_message:{DRIVER_LOST_DETAIL}")


def cut_at_driver_loss(tl: Timeline, t_ms: int, message: str) -> None:
    """``tl`` ended at ``t_ms`` by the driver's loss: later work never happened, work under way never
    ended, and the job running then failed with ``message``."""
    tl.failure = message
    tl.driver_lost_ms = t_ms
    kept = []
    for rec in tl.tasks:
        if rec.launch_ms >= t_ms or (rec.finish_ms >= t_ms and rec.end_reason == "Resubmitted"):
            continue  # never launched, or the bookkeeping record of an attempt already listed
        if rec.finish_ms >= t_ms:
            rec.end_reason = "Running"
        kept.append(rec)
    tl.tasks = kept
    for stage in tl.stages:
        if stage.submit_ms >= t_ms:
            stage.submitted = False
        elif stage.complete_ms >= t_ms:
            stage.complete_ms, stage.ended = t_ms, False
    tl.jobs = [job for job in tl.jobs if job.submit_ms < t_ms]
    if tl.jobs and tl.jobs[-1].end_ms >= t_ms:
        tl.jobs[-1].end_ms, tl.jobs[-1].failure = t_ms, message
    tl.executors = [e for e in tl.executors if e.add_ms < t_ms]
    tl.changes = [c for c in tl.changes if c.t_ms < t_ms]
    tl.driver_samples = [s for s in tl.driver_samples if s.t_ms < t_ms]
    tl.app_end_ms = t_ms
