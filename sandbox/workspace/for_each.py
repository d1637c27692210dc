"""For-each tasks (``for_each_task``): their iterations, as runs/get of the task's run shows them.

In a job run's runs/get a for-each task is one task with no compute of its own: its cluster is
named inside ``for_each_task.task``. The iterations that ran on that cluster show only in runs/get of
the for-each task's own ``run_id``: that answer lists the for-each task in ``tasks`` and each
iteration, a task run with a ``run_id`` of its own, in ``iterations`` (databricks-sdk
``Run.iterations``: "Only populated by for-each iterations"), paged like tasks in 2.2.

The player plays the for-each task as one task on its nested task's cluster; the iterations are
derived from it here: the inputs split into waves of ``concurrency`` (default 1) that share the
task's running time evenly, each on the task's cluster instance, with the task's result. A nested
task with its own ``new_cluster`` gets one cluster per iteration at Databricks; here they share the
one the player played (Trimtab does not onboard such a task).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any


def nested_task(task: dict[str, Any]) -> dict[str, Any] | None:
    nested = (task.get("for_each_task") or {}).get("task")
    return nested if isinstance(nested, dict) else None


def input_count(task: dict[str, Any]) -> int:
    """How many iterations the task's ``inputs`` make: a JSON array's length; an input the
    emulator cannot resolve (a reference to a task value, ``{{...}}``) counts as one."""
    raw = (task.get("for_each_task") or {}).get("inputs")
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return 1
    return max(1, len(value)) if isinstance(value, list) else 1


def allocate(data: dict[str, Any], run_id: int, task: dict[str, Any], task_run_id: int,
             next_task_run_id: Callable[[], int]) -> None:
    """Give each iteration of a for-each task run its own run id (at run-now, as the service does)."""
    if nested_task(task) is None:
        return
    ids = [next_task_run_id() for _ in range(input_count(task))]
    data.setdefault("for_each", {})[str(task_run_id)] = {"run_id": run_id, "iteration_run_ids": ids}


def task_run(data: dict[str, Any], task_run_id: str) -> dict[str, Any] | None:
    """runs/get of a for-each task's run id: the task and its iterations; None for another id."""
    entry = (data.get("for_each") or {}).get(str(task_run_id))
    if entry is None:
        return None
    run = data["runs"].get(str(entry["run_id"]))
    task = next((t for t in (run or {}).get("tasks") or [] if str(t.get("run_id")) == str(task_run_id)), None)
    if run is None or task is None:
        return None
    out = {"job_id": run["job_id"], "run_id": int(task_run_id), "run_name": task.get("task_key"),
           "run_type": "SUBMIT_RUN", "state": copy.deepcopy(task.get("state")),
           "status": copy.deepcopy(task.get("status")),
           **{k: task.get(k, 0) for k in ("start_time", "end_time", "setup_duration",
                                           "execution_duration", "cleanup_duration")},
           "tasks": [copy.deepcopy(task)], "iterations": iterations(task, entry["iteration_run_ids"])}
    return out


def iterations(task: dict[str, Any], run_ids: list[int]) -> list[dict[str, Any]]:
    """The iterations of a for-each task run, from the task as the player left it."""
    nested = nested_task(task) or {}
    start = int(task.get("start_time") or 0)
    if not start:
        return []  # not started: no iteration has run yet
    end = int(task.get("end_time") or 0)
    setup = int(task.get("setup_duration") or 0)
    concurrency = max(1, int((task.get("for_each_task") or {}).get("concurrency") or 1))
    waves = -(-len(run_ids) // concurrency)
    body = start + setup
    # The task's cleanup (its cluster's termination) follows the last wave.
    slot = max(1, (end - int(task.get("cleanup_duration") or 0) - body) // waves) if end else 0
    out = []
    for i, run_id in enumerate(run_ids):
        wave = i // concurrency
        it_start = start if wave == 0 else body + wave * slot
        it = {k: copy.deepcopy(v) for k, v in nested.items() if k != "depends_on"}
        it.update({"run_id": run_id, "attempt_number": 0, "start_time": it_start if end or wave == 0 else 0,
                   # Only the first wave waited for the cluster; later ones ran on it at once.
                   "setup_duration": setup if wave == 0 else 0,
                   "execution_duration": slot, "cleanup_duration": 0,
                   "end_time": body + (wave + 1) * slot if end else 0,
                   "state": copy.deepcopy(task.get("state")), "status": copy.deepcopy(task.get("status"))})
        if task.get("cluster_instance") and it["start_time"]:
            it["cluster_instance"] = copy.deepcopy(task["cluster_instance"])
        out.append(it)
    return out
