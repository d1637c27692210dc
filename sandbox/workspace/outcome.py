"""State changes the player makes visible: cluster states, task and run results, timings.

Each function takes the store lock, edits the records and saves, so an API call never sees
a half-updated run.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

from sandbox.workspace.clusters import set_nodes
from sandbox.workspace.runs import RunPlan

if TYPE_CHECKING:
    from sandbox.workspace.player import LiveCluster
    from sandbox.workspace.workspace import Workspace

log = logging.getLogger(__name__)


def _run(ws: Workspace, plan: RunPlan) -> dict[str, Any]:
    return ws.store.data["runs"][str(plan.run_id)]


def _set_state(target: dict[str, Any], life: str, result: str | None = None,
               message: str = "", code: str | None = None, type_: str | None = None) -> None:
    target["state"] = {"life_cycle_state": life, "state_message": message,
                       "user_cancelled_or_timedout": result == "CANCELED"}
    if result:
        target["state"]["result_state"] = result
    status: dict[str, Any] = {"state": "TERMINATED" if life in {"INTERNAL_ERROR", "SKIPPED"}
                              else life}
    if code:
        status["termination_details"] = {"code": code, "type": type_ or "SUCCESS",
                                         "message": message}
    target["status"] = status


def mark_run_running(ws: Workspace, plan: RunPlan) -> None:
    with ws.store.lock:
        run = _run(ws, plan)
        if run["state"]["life_cycle_state"] == "PENDING":
            _set_state(run, "RUNNING", message="In run")
            ws.store.save()


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


def cluster_assigned(ws: Workspace, plan: RunPlan, live: LiveCluster) -> None:
    """From CREATING on, tasks name their cluster; spark_context_id follows at RUNNING."""
    with ws.store.lock:
        for task in _run(ws, plan)["tasks"]:
            if task["task_key"] in live.plan.task_keys:
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
        for task in run["tasks"]:
            if task["task_key"] in live.plan.task_keys:
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


def finish_existing_tasks(ws: Workspace, plan: RunPlan, t: int) -> None:
    with ws.store.lock:
        for task in _run(ws, plan)["tasks"]:
            if task["task_key"] in plan.existing_tasks:
                task.update({"execution_duration": t - plan.start_ms, "end_time": t})
                _set_state(task, "TERMINATED", "SUCCESS", code="SUCCESS")
        ws.store.save()


def finish_run(ws: Workspace, plan: RunPlan, lives: list[LiveCluster], *,
               cancelled: bool = False, error: str | None = None) -> None:
    """Final task and run states with timings from the clusters' timelines."""
    now = ws.simclock.now_ms()
    with ws.store.lock:
        run = _run(ws, plan)
        ends, runnings, terms = [], [], []
        for live in lives:
            sim = live.sim
            end = (sim.end_time_ms if sim is not None and not cancelled and live.failure is None
                   else (live.terminating_ms or now))
            term = live.terminating_ms or end
            # Spark ran only if the cluster got to RUNNING before it was torn down.
            running = (sim.running_ms if sim is not None and live.failure is None
                       and sim.running_ms <= term else None)
            ends.append(end)
            if running is not None:
                runnings.append(running)
                terms.append(term)
            for task in run["tasks"]:
                if task["task_key"] not in live.plan.task_keys:
                    continue
                task.update(_timings(plan.start_ms, running, term, end))
                if cancelled:
                    _set_state(task, "TERMINATED", "CANCELED", "Run cancelled.", "USER_CANCELED")
                elif live.failure:
                    _set_state(task, "INTERNAL_ERROR", "FAILED", live.failure, "CLUSTER_ERROR",
                               "CLIENT_ERROR")
                elif sim.result_state != "SUCCESS":
                    _set_state(task, "TERMINATED", "FAILED", sim.state_message,
                               "RUN_EXECUTION_ERROR", "CLIENT_ERROR")
                else:
                    _set_state(task, "TERMINATED", "SUCCESS", sim.state_message, "SUCCESS")
        for task in run["tasks"]:
            if task["task_key"] in plan.existing_tasks and not task["end_time"]:
                # Cancelled (or failed) before its simulated time was up.
                task.update({"execution_duration": now - plan.start_ms, "end_time": now})
                _set_state(task, "TERMINATED", "CANCELED" if cancelled else "FAILED",
                           "Run cancelled." if cancelled else (error or ""),
                           "USER_CANCELED" if cancelled else "INTERNAL_ERROR")
        existing_end = _existing_end(run, plan)
        end = max([plan.start_ms, *ends] + ([existing_end] if existing_end else []))
        timings = _timings(plan.start_ms, min(runnings) if runnings else None,
                           max(terms) if terms else end, end)
        timings.pop("start_time")  # a queued run started when it was triggered
        run.update(timings)
        run["run_duration"] = end - run["start_time"]
        failures = [lv.failure for lv in lives if lv.failure]
        failed_sims = [lv.sim for lv in lives if lv.sim is not None and lv.failure is None
                       and lv.sim.result_state != "SUCCESS"]
        if error:
            _set_state(run, "INTERNAL_ERROR", "FAILED", error, "INTERNAL_ERROR", "INTERNAL_ERROR")
        elif cancelled:
            _set_state(run, "TERMINATED", "CANCELED", "Run cancelled.", "USER_CANCELED")
        elif failures:
            _set_state(run, "INTERNAL_ERROR", "FAILED", failures[0], "CLUSTER_ERROR",
                       "CLIENT_ERROR")
        elif failed_sims:
            _set_state(run, "TERMINATED", "FAILED", failed_sims[0].state_message,
                       "RUN_EXECUTION_ERROR", "CLIENT_ERROR")
        else:
            _set_state(run, "TERMINATED", "SUCCESS", "", "SUCCESS")
        ws.store.save()


def _existing_end(run: dict[str, Any], plan: RunPlan) -> int | None:
    ends = [t["end_time"] for t in run["tasks"] if t["task_key"] in plan.existing_tasks]
    return max(ends) if ends else None


def _timings(start: int, running: int | None, term: int, end: int) -> dict[str, int]:
    ready = running if running is not None else term
    return {"start_time": start, "setup_duration": max(0, ready - start),
            "execution_duration": max(0, term - ready), "cleanup_duration": max(0, end - term),
            "end_time": end}
