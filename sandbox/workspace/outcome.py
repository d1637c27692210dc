"""State changes the player makes visible: cluster states, task and run results, timings.

Each function takes the store lock, edits the records and saves, so an API call never sees
a half-updated run.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

from sandbox.workspace.clusters import set_nodes
from sandbox.workspace.runs import (
    FAILED_RESULTS,
    RunPlan,
    close_repair,
    create_cluster_record,
    last_task_attempts,
)

if TYPE_CHECKING:
    from sandbox.workspace.player import LiveCluster
    from sandbox.workspace.workspace import Workspace

log = logging.getLogger(__name__)


def _run(ws: Workspace, plan: RunPlan) -> dict[str, Any]:
    return ws.store.data["runs"][str(plan.run_id)]


def _set_state(target: dict[str, Any], life: str, result: str | None = None,
               message: str = "", code: str | None = None, type_: str | None = None) -> None:
    target["state"] = {"life_cycle_state": life, "state_message": message,
                       "user_cancelled_or_timedout": result in ("CANCELED", "TIMEDOUT")}
    if result:
        target["state"]["result_state"] = result
    status: dict[str, Any] = {"state": "TERMINATED" if life in {"INTERNAL_ERROR", "SKIPPED"}
                              else life}
    if code:
        status["termination_details"] = {"code": code, "type": type_ or "SUCCESS",
                                         "message": message}
    target["status"] = status


def run_terminating(ws: Workspace, plan: RunPlan) -> None:
    with ws.store.lock:
        run = _run(ws, plan)
        if run["state"]["life_cycle_state"] == "RUNNING":
            _set_state(run, "TERMINATING", message="Terminating the cluster")
            ws.store.save()


def record_event(ws: Workspace, live: LiveCluster, t: int, type_: str,
                 details: dict[str, Any]) -> None:
    cid = live.plan.cluster_id
    with ws.store.lock:
        ws.store.data["events"][cid].append(
            {"cluster_id": cid, "timestamp": t, "type": type_, "details": details})
        ws.store.save()


def _tasks(ws: Workspace, plan: RunPlan, keys: list[str] | set[str]) -> list[dict[str, Any]]:
    """The latest task run of each task in `keys`: a repaired run keeps its earlier attempts,
    which the player never touches again (`runs.repair_run`)."""
    return [t for k, t in last_task_attempts(_run(ws, plan)).items() if k in keys]


def _ended(task: dict[str, Any]) -> bool:
    return "result_state" in task["state"]


def cluster_requested(ws: Workspace, plan: RunPlan, live: LiveCluster, t: int) -> None:
    """The cluster's first tasks may start: it comes to exist, and they are PENDING from `t`."""
    with ws.store.lock:
        create_cluster_record(ws.store.data, plan, live.plan, t)
        for task in _tasks(ws, plan, live.waves[0]):
            task["start_time"] = t
            _set_state(task, "PENDING")
        ws.store.save()


def cluster_assigned(ws: Workspace, plan: RunPlan, live: LiveCluster, keys: list[str]) -> None:
    """From CREATING on, the tasks starting with the cluster name it; spark_context_id follows
    at RUNNING."""
    with ws.store.lock:
        for task in _tasks(ws, plan, keys):
            task["cluster_instance"] = {"cluster_id": live.plan.cluster_id}
        ws.store.save()


def log_status(ws: Workspace, live: LiveCluster, t: int, error: str | None = None) -> None:
    with ws.store.lock:
        status: dict[str, Any] = {"last_attempted": t}
        if error:
            status["last_exception"] = error
        ws.store.data["clusters"][live.plan.cluster_id]["cluster_log_status"] = status
        ws.store.save()


def cluster_state(ws: Workspace, live: LiveCluster, state: str, message: str) -> None:
    with ws.store.lock:
        record = ws.store.data["clusters"][live.plan.cluster_id]
        record["state"], record["state_message"] = state, message
        ws.store.save()


def cluster_running(ws: Workspace, plan: RunPlan, live: LiveCluster, t: int) -> None:
    cid = live.plan.cluster_id
    with ws.store.lock:
        record = ws.store.data["clusters"][cid]
        record.update({"state": "RUNNING", "state_message": "",
                       "spark_context_id": int(live.plan.spark_context_id),
                       "last_restarted_time": t})
        alive = [n for n in live.sim.nodes if n.start_ms <= t < n.end_ms]
        record["cluster_cores"] = float(sum(_size(n)[0] for n in alive))
        record["cluster_memory_mb"] = int(sum(_size(n)[1] for n in alive) * 1024)
        run = _run(ws, plan)
        instance = {"cluster_id": cid, "spark_context_id": live.plan.spark_context_id}
        for task in _tasks(ws, plan, live.waves[0]):
            task["cluster_instance"] = dict(instance)
            _set_state(task, "RUNNING", message="In run")
        if len(plan.clusters) == 1 and not plan.existing_tasks:
            run["cluster_instance"] = dict(instance)
        if run["state"]["life_cycle_state"] == "PENDING":
            _set_state(run, "RUNNING", message="In run")
        ws.store.save()


def _size(n: Any) -> tuple[int, float]:
    """vCPUs and GiB of a node, from the simulator's catalog."""
    from sandbox.nodes import UnknownNodeType, get_node_type

    try:
        node_type = get_node_type(n.node_type_id)
    except UnknownNodeType:
        return 0, 0.0
    return node_type.vcpus, node_type.memory_gib


def cluster_terminated(ws: Workspace, live: LiveCluster, t: int, *, code: str, type_: str,
                       message: str = "") -> None:
    cid = live.plan.cluster_id
    with ws.store.lock:
        record = ws.store.data["clusters"][cid]
        if live.sim is not None:
            # The nodes as they were just before shutdown; they stay listed once terminated.
            last = (live.terminating_ms or t) - 1
            set_nodes(record, live.sim.nodes, max(last, live.sim.running_ms))
        record.update({"state": "TERMINATED", "terminated_time": t,
                       "state_message": message or "Job finished",
                       "termination_reason": {"code": code, "type": type_,
                                              "parameters": ({"databricks_error_message": message}
                                                             if message else {})}})
        job = copy.deepcopy(ws.store.data["jobs"].get(str(record["default_tags"]["JobId"])))
        run = _run_seen_from(ws, live)
        ws.store.save()
    if live.sim is None:
        return
    for observer in list(ws.observers):
        try:
            observer(job, run, live.sim, copy.deepcopy(live.plan.spec))
        except Exception:  # a cloud stand-in's bug must not break the run
            log.exception("run observer %r failed for cluster %s", observer, cid)


def _run_seen_from(ws: Workspace, live: LiveCluster) -> dict[str, Any] | None:
    """The run as an observer of one cluster needs it: only the tasks on that cluster, and
    that cluster as `cluster_instance`, so a multi-cluster run is never attributed to the
    wrong cluster."""
    cid = live.plan.cluster_id
    for r in ws.store.data["runs"].values():
        mine = [t for t in r["tasks"] if (t.get("cluster_instance") or {}).get("cluster_id") == cid]
        if mine:
            view = copy.deepcopy(r)
            view["tasks"] = copy.deepcopy(mine)
            view["cluster_instance"] = {"cluster_id": cid,
                                        "spark_context_id": live.plan.spark_context_id}
            return view
    return None


def _task_timings(live: LiveCluster, wave: int, end: int) -> dict[str, int]:
    """Timings of a task of `wave` that ended at `end`: the first wave waited for the cluster
    (setup_duration), later ones start when the wave before them ends; the last wave's end is
    the cluster's, after TERMINATING (cleanup_duration)."""
    sim = live.sim
    start = live.wave_starts[wave] if live.wave_starts else live.start_ms
    ready = int(sim.running_ms) if wave == 0 else start
    last = wave == len(live.waves) - 1
    term = (live.terminating_ms or end) if last else end
    return _timings(start, ready, term, end)


def wave_done(ws: Workspace, plan: RunPlan, live: LiveCluster, wave: int, t: int) -> dict[str, str]:
    """A wave that is not the cluster's last ended at `t`: its tasks succeeded (a simulated
    failure is the last wave's)."""
    with ws.store.lock:
        for task in _tasks(ws, plan, live.waves[wave]):
            task.update(_task_timings(live, wave, t))
            _set_state(task, "TERMINATED", "SUCCESS", "", "SUCCESS")
        ws.store.save()
    return dict.fromkeys(live.waves[wave], "SUCCESS")


def wave_started(ws: Workspace, plan: RunPlan, live: LiveCluster, wave: int, t: int) -> None:
    """The wave's tasks start on the running cluster at `t`: when the wave before ended, or when
    the cluster's wait for their dependencies on other clusters ended."""
    instance = {"cluster_id": live.plan.cluster_id, "spark_context_id": live.plan.spark_context_id}
    with ws.store.lock:
        for task in _tasks(ws, plan, live.waves[wave]):
            task.update({"start_time": t, "cluster_instance": dict(instance)})
            _set_state(task, "RUNNING", message="In run")
        ws.store.save()


def last_wave_done(ws: Workspace, plan: RunPlan, live: LiveCluster, t: int) -> dict[str, str]:
    """The cluster ended at `t`: its last wave's tasks have the simulated run's result."""
    sim, wave = live.sim, len(live.waves) - 1
    with ws.store.lock:
        for task in _tasks(ws, plan, live.waves[wave]):
            task.update(_task_timings(live, wave, t))
            if sim.result_state != "SUCCESS":
                _set_state(task, "TERMINATED", "FAILED", sim.state_message,
                           "RUN_EXECUTION_ERROR", "CLIENT_ERROR")
            else:
                _set_state(task, "TERMINATED", "SUCCESS", sim.state_message, "SUCCESS")
        ws.store.save()
    return dict.fromkeys(live.waves[wave], "SUCCESS" if sim.result_state == "SUCCESS" else "FAILED")


def cluster_failed(ws: Workspace, plan: RunPlan, live: LiveCluster, t: int) -> dict[str, str]:
    """The cluster failed at `t` (init script, secret, simulation, a launch the cloud refused): its
    tasks still running or waiting for it fail with it, with the failure's code and type."""
    keys = [k for wave in live.waves for k in wave]
    failed: dict[str, str] = {}
    with ws.store.lock:
        for task in _tasks(ws, plan, keys):
            if _ended(task):
                continue
            task.update(_timings(task["start_time"] or t, None, t, t))
            _set_state(task, "INTERNAL_ERROR", "FAILED", live.failure or "", live.failure_code,
                       live.failure_type)
            failed[task["task_key"]] = "FAILED"
        ws.store.save()
    return failed


def interrupt_tasks(ws: Workspace, plan: RunPlan, keys: list[str], message: str, t: int) -> None:
    """Tasks a restart cut short (running, or waiting for a cluster that had started) fail at
    `t` with INTERNAL_ERROR, the code the Jobs service gives its own faults."""
    with ws.store.lock:
        for task in _tasks(ws, plan, keys):
            if _ended(task):
                continue
            start = int(task["start_time"] or 0)
            task.update({"execution_duration": max(0, t - start) if start else 0, "end_time": t})
            _set_state(task, "INTERNAL_ERROR", "FAILED", message, "INTERNAL_ERROR",
                       "INTERNAL_ERROR")
        ws.store.save()


def skip_tasks(ws: Workspace, plan: RunPlan, skipped: dict[str, str], results: dict[str, str],
               t: int) -> None:
    """Tasks that never run, each with its result_state (UPSTREAM_FAILED, UPSTREAM_CANCELED or
    EXCLUDED) and termination code SKIPPED ("the run was never executed, for example, if the
    upstream task run failed, the dependency type condition was not met", TerminationCodeCode).
    They have no start time and no cluster; `end_time` is when they were skipped. Life cycle
    TERMINATED is the emulator's reading (the SDK's SKIPPED life cycle is for whole runs)."""
    with ws.store.lock:
        for task in _tasks(ws, plan, skipped.keys()):
            key, result = task["task_key"], skipped[task["task_key"]]
            ups = plan.upstream.get(key, [])
            if result == "UPSTREAM_FAILED":
                why = [u for u in ups if results.get(u) in FAILED_RESULTS]
                message = f"Upstream task(s) failed: {', '.join(why)}."
            elif result == "UPSTREAM_CANCELED":
                message = "Upstream task(s) were cancelled."
            else:
                message = (f"The task's run_if condition {plan.run_if.get(key)} was not met by "
                           f"its dependencies {', '.join(ups)}.")
            task.update({"start_time": 0, "setup_duration": 0, "execution_duration": 0,
                         "cleanup_duration": 0, "end_time": t})
            task.pop("cluster_instance", None)
            _set_state(task, "TERMINATED", result, message, "SKIPPED", "SUCCESS")
        ws.store.save()


def start_existing_task(ws: Workspace, plan: RunPlan, key: str, t: int) -> None:
    """A task on an existing cluster (or none) starts at `t`: it runs at once."""
    with ws.store.lock:
        run = _run(ws, plan)
        for task in _tasks(ws, plan, [key]):
            task["start_time"] = t
            if task.get("existing_cluster_id"):
                task["cluster_instance"] = {"cluster_id": task["existing_cluster_id"]}
            _set_state(task, "RUNNING", message="In run")
        if run["state"]["life_cycle_state"] == "PENDING":
            _set_state(run, "RUNNING", message="In run")
        ws.store.save()


def finish_existing_task(ws: Workspace, plan: RunPlan, key: str, t: int) -> None:
    with ws.store.lock:
        for task in _tasks(ws, plan, [key]):
            task.update({"execution_duration": t - task["start_time"], "end_time": t})
            _set_state(task, "TERMINATED", "SUCCESS", code="SUCCESS")
        ws.store.save()


# How the service words a run its timeout stopped; the termination code is the platform's cancel ("canceled
# during execution by the Databricks platform; for example, if the maximum run duration was exceeded",
# TerminationCodeCode.CANCELED), typed as the job configuration's doing.
TIMED_OUT_MESSAGE = "Run timed out"
TIMED_OUT_STATE = ("TIMEDOUT", TIMED_OUT_MESSAGE, "CANCELED", "CLIENT_ERROR")


def timeout_deadlines(ws: Workspace, plan: RunPlan) -> list[int]:
    """When the job's timeout, and each task going that has a ``timeout_seconds``, stop the run (sim ms);
    none once every task has ended (what is left is the clusters' shutdown)."""
    with ws.store.lock:
        going = [t for t in last_task_attempts(_run(ws, plan)).values() if not _ended(t)]
    ends = [plan.start_ms + plan.timeout_ms] if plan.timeout_ms and going else []
    return ends + [int(t["start_time"]) + plan.task_timeout_ms[t["task_key"]] for t in going
                   if t["task_key"] in plan.task_timeout_ms and t.get("start_time")]


def finish_run(ws: Workspace, plan: RunPlan, lives: list[LiveCluster], *,
               cancelled: bool = False, error: str | None = None, timed_out_at: int | None = None) -> None:
    """The tasks still going end (cancelled, timed out at `timed_out_at`, or failed by `error`), then
    the run's result and timings from its tasks and clusters."""
    now = ws.simclock.now_ms() if timed_out_at is None else timed_out_at
    cancelled = cancelled or timed_out_at is not None  # the clusters end as at a cancel
    with ws.store.lock:
        run = _run(ws, plan)
        by_task = {k: (live, i) for live in lives for i, wave in enumerate(live.waves)
                   for k in wave}
        for task in run["tasks"]:
            if _ended(task):
                continue
            key = task["task_key"]
            live, wave = by_task.get(key, (None, 0))
            # Started: on a requested cluster with its start time set (a later wave has none
            # until the wave before it ends), or an existing-cluster task already RUNNING.
            started = bool(task["start_time"]) and (
                live is not None or task["state"]["life_cycle_state"] == "RUNNING")
            if started:
                task.update(_interrupted(task, live, wave, now))
            else:
                task["end_time"] = now  # never ran (blocked, or its run still queued)
            if timed_out_at is not None:
                _set_state(task, "TERMINATED", *TIMED_OUT_STATE)
            elif cancelled:
                _set_state(task, "TERMINATED", "CANCELED", "Run cancelled.", "USER_CANCELED")
            else:
                _set_state(task, "TERMINATED", "FAILED", error or "", "INTERNAL_ERROR",
                           "INTERNAL_ERROR")
        ends, runnings, terms = [], [], []
        for live in lives:
            sim = live.sim
            if sim is None and live.failure is None:
                continue  # never requested: skipped, or the run was cancelled before it
            # A cluster that reached its end before a cancel ended as simulated.
            finished = (sim is not None and live.done and live.failure is None
                        and (not cancelled or sim.end_time_ms <= now))
            end = sim.end_time_ms if finished else (live.terminating_ms or now)
            term = live.terminating_ms or end
            ends.append(end)
            # Spark ran only if the cluster got to RUNNING before it was torn down.
            if sim is not None and live.failure is None and sim.running_ms <= term:
                runnings.append(sim.running_ms)
                terms.append(term)
        task_ends = [t["end_time"] for t in run["tasks"] if t["end_time"]]
        end = max([plan.start_ms, *ends, *task_ends] + ([now] if cancelled or error else []))
        timings = _timings(plan.start_ms, min(runnings) if runnings else None,
                           max(terms) if terms else end, end)
        timings.pop("start_time")  # a queued run started when it was triggered
        run.update(timings)
        run["run_duration"] = end - run["start_time"]
        if timed_out_at is not None:
            _set_state(run, "TERMINATED", *TIMED_OUT_STATE)
        else:
            _set_run_result(run, plan, lives, cancelled=cancelled, error=error)
        close_repair(run)
        ws.store.save()


def _interrupted(task: dict[str, Any], live: LiveCluster | None, wave: int,
                 now: int) -> dict[str, int]:
    """Timings of a task cut short at `now` (cancel, or the player's error)."""
    start = int(task["start_time"])
    if live is None or live.sim is None:
        return {"execution_duration": max(0, now - start), "end_time": now}
    term = live.terminating_ms or now
    running = int(live.sim.running_ms) if wave == 0 else start
    return _timings(start, running if live.failure is None and running <= term else None,
                    term, term)


def _set_run_result(run: dict[str, Any], plan: RunPlan, lives: list[LiveCluster], *,
                    cancelled: bool, error: str | None) -> None:
    """As the service: the run fails when a leaf task (one no other task depends on) did not
    succeed; a failure that a later task got past (run_if ALL_DONE, ...) makes it
    SUCCESS_WITH_FAILURES ("leaf tasks were successful", RunResultState)."""
    results = {k: t["state"].get("result_state") for k, t in last_task_attempts(run).items()}
    needed = {u for ups in plan.upstream.values() for u in ups}
    leaves = [k for k in results if k not in needed]
    failures = [lv for lv in lives if lv.failure]
    failed_sims = [lv.sim for lv in lives if lv.sim is not None and lv.failure is None
                   and lv.sim.result_state != "SUCCESS"]
    if error:
        _set_state(run, "INTERNAL_ERROR", "FAILED", error, "INTERNAL_ERROR", "INTERNAL_ERROR")
    elif cancelled:
        _set_state(run, "TERMINATED", "CANCELED", "Run cancelled.", "USER_CANCELED")
    elif any(results[k] not in {"SUCCESS", "EXCLUDED"} for k in leaves):
        if failures:
            first = failures[0]
            _set_state(run, "INTERNAL_ERROR", "FAILED", first.failure or "", first.failure_code,
                       first.failure_type)
        else:
            message = failed_sims[0].state_message if failed_sims else "A task did not succeed."
            _set_state(run, "TERMINATED", "FAILED", message, "RUN_EXECUTION_ERROR",
                       "CLIENT_ERROR")
    elif failures or failed_sims:
        _set_state(run, "TERMINATED", "SUCCESS_WITH_FAILURES", "Some tasks failed; the tasks "
                   "that ended the run succeeded.", "SUCCESS_WITH_FAILURES")
    else:
        _set_state(run, "TERMINATED", "SUCCESS", "", "SUCCESS")


def _timings(start: int, running: int | None, term: int, end: int) -> dict[str, int]:
    ready = running if running is not None else term
    return {"start_time": start, "setup_duration": max(0, ready - start),
            "execution_duration": max(0, term - ready), "cleanup_duration": max(0, end - term),
            "end_time": end}
