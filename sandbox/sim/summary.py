"""Ground truth of a simulated run, for tests and for whoever wants to check a parser against it."""

from __future__ import annotations

from typing import Any

from sandbox.sim.cluster import ClusterPlan
from sandbox.sim.profiles import WorkloadProfile
from sandbox.sim.scheduler import Timeline


def summarize(tl: Timeline, profile: WorkloadProfile, plan: ClusterPlan, *, day: int, seed: int) -> dict[str, Any]:
    stages = []
    for s in tl.stages:
        recs = [r for r in tl.tasks if r.stage_id == s.stage_id]
        ok = [r for r in recs if r.end_reason == "Success"]
        stages.append({
            "stage_id": s.stage_id,
            "attempt_id": 0,
            "job_id": s.job_id,
            "name": s.name,
            "num_tasks": s.num_tasks,
            "task_ids": sorted({r.task_id for r in recs}),
            "task_attempts": sum(1 for r in recs if r.end_reason != "Resubmitted"),
            "succeeded": len(ok),
            "failed": sum(1 for r in recs if r.end_reason in ("ExecutorLostFailure", "ExceptionFailure")),
            "killed": sum(1 for r in recs if r.end_reason == "TaskKilled"),
            "completed_indices": len({r.index for r in ok}),
            "status": ("SKIPPED" if not s.submitted else "ACTIVE" if not s.ended
                       else "FAILED" if s.failure_reason else "COMPLETE"),
            "resubmitted": sum(1 for r in recs if r.end_reason == "Resubmitted"),
            "submit_ms": s.submit_ms,
            "complete_ms": s.complete_ms,
            "input_bytes": sum(r.cost.reported_input_bytes for r in ok),  # as Spark reports it
            "shuffle_read_bytes": sum(r.cost.shuffle_remote_bytes + r.cost.shuffle_local_bytes for r in ok),
            "shuffle_write_bytes": sum(r.cost.shuffle_write_bytes for r in ok),
            "output_bytes": sum(r.cost.output_bytes for r in ok),
            "memory_spilled_bytes": sum(r.cost.memory_spilled for r in ok),
            "executor_run_ms": sum(r.cost.run_ms for r in ok),
        })
    ok_all = [r for r in tl.tasks if r.end_reason == "Success"]
    drv = tl.driver
    cache_readers = {s.stage_id for s in tl.stages if s.reads_cache}
    return {
        "profile": profile.name,
        "seed": seed,
        "day": day,
        "input_gb": profile.input_gb_on(day),
        "node_type_id": plan.worker_type.node_type_id,
        "driver_node_type_id": plan.driver_type.node_type_id,
        "min_workers": plan.min_workers,
        "max_workers": plan.max_workers,
        "autoscale": plan.autoscale,
        "app_start_ms": min((j.submit_ms for j in tl.jobs), default=0),
        "app_end_ms": tl.app_end_ms,
        "jobs": [{"job_id": j.job_id, "stage_ids": list(j.stage_ids), "submit_ms": j.submit_ms, "end_ms": j.end_ms,
                  "status": "FAILED" if j.failure else "SUCCEEDED"} for j in tl.jobs],
        "stages": stages,
        "tasks": sum(1 for r in tl.tasks if r.end_reason != "Resubmitted"),
        "tasks_failed": sum(1 for r in tl.tasks if r.end_reason in ("ExecutorLostFailure", "ExceptionFailure")),
        "failure": tl.failure,
        "executors_added": [e.executor_id for e in tl.executors],
        "executors_removed": [{"executor_id": e.executor_id, "reason": e.remove_reason, "time_ms": e.remove_ms,
                               "lost": e.lost} for e in tl.executors if e.remove_ms is not None],
        # As the stages report it: Spark counts a cached dataset's blocks as input of every stage reading it.
        "input_bytes": sum(r.cost.reported_input_bytes for r in ok_all),
        # What the job read from storage: the stages that do not read a cached dataset.
        "storage_input_bytes": sum(r.cost.reported_input_bytes for r in ok_all if r.stage_id not in cache_readers),
        "shuffle_bytes": sum(r.cost.shuffle_write_bytes for r in ok_all),
        "output_bytes": sum(r.cost.output_bytes for r in ok_all),
        "spilled_bytes": sum(r.cost.memory_spilled for r in ok_all),
        "disk_spilled_bytes": sum(r.cost.disk_spilled for r in ok_all),
        "gc_ms": sum(r.cost.gc_ms for r in ok_all),
        "executor_cpu_ns": sum(r.cost.cpu_ns for r in ok_all),
        # The driver: its heap, the most it held live (base + job data, after GC), what the jobs would
        # have brought (fit or not), whether it died of a full heap, and its heartbeats' largest figures.
        "driver_heap_bytes": drv.heap_bytes if drv else 0,
        "driver_peak_live_bytes": round(drv.base_bytes + drv.peak_live_bytes) if drv else 0,
        "driver_need_bytes": round(drv.base_bytes + drv.need_bytes) if drv else 0,
        "driver_oom": bool(drv and drv.crash_ms is not None),
        "driver_crash_ms": drv.crash_ms if drv else None,
        "driver_peak_heap_sampled": max((x.metrics["JVMHeapMemory"] for x in tl.driver_samples), default=0),
        "driver_gc_ms": max((x.metrics["TotalGCTime"] for x in tl.driver_samples), default=0),
    }
