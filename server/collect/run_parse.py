"""A finished Databricks run, split into one piece per job cluster (pure).

``runs/get`` lists the run's tasks; each task ran on a job cluster
(``job_cluster_key``), on its own ``new_cluster``, or on an existing cluster.
Tasks sharing a job cluster share one cluster instance
(``cluster_instance{cluster_id, spark_context_id}``), so the run of one
Trimtab project is the span of the tasks on its cluster key (the time between them, when the
cluster sat idle waiting for tasks elsewhere, is `idle_between_ms`). The spec the run
actually used comes from the run itself (``job_clusters[]`` / the task's
``new_cluster``), never from the job as it is now: the job may have been
edited since.

A ``for_each_task`` has no compute of its own: its nested ``task`` names the cluster, and the
iterations that ran on it show only in runs/get of the for-each task's own run (``iterations``).
The collector reads them (`for_each_run_ids`) and puts them in the task's place (`with_iterations`),
so they are grouped under the nested task's cluster key like any task: one run of the project is
the whole for-each task, every iteration in it (see `with_iterations`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.spec import task_cluster_key

FINAL_LIFE_CYCLE = frozenset({"TERMINATED", "INTERNAL_ERROR", "SKIPPED"})
# A task's result_state (Jobs API 2.1/2.2, databricks-sdk ``RunResultState``) -> the piece's outcome,
# each mapped on purpose:
# - SUCCESS; SUCCESS_WITH_FAILURES ("leaf tasks were successful"): succeeded.
# - FAILED: failed (whose fault: `server.collect.failure`).
# - TIMEDOUT ("stopped after reaching the timeout", the job's or the task's ``timeout_seconds``):
#   timed_out. Not a failure of unknown cause: it ran at least that long on its configuration, a
#   runtime known only from below (`models.segment._overran` avoids a configuration that did). Only
#   for a task that ran on the cluster: one the timeout ended before it started (it waited on another
#   cluster's task) is canceled (`piece_outcome`), as UPSTREAM_FAILED is.
# - CANCELED: canceled (a person, or the platform, stopped it: says nothing of the cluster).
# - UPSTREAM_FAILED, UPSTREAM_CANCELED: canceled. The task never ran because another task did not
#   succeed; the cluster's share of the job was cut short by something that was not this cluster, so
#   it is neither learned nor blamed (as "failed", a cluster whose own tasks succeeded was avoided for
#   a failure on another cluster).
# - EXCLUDED (its run_if or an if/else condition did not hold), DISABLED (turned off by its owner):
#   not run by the job's own design, which every run of the job may do: left out of the piece's
#   outcome, so a job whose else-branch shares the cluster is not canceled every night.
# - MAXIMUM_CONCURRENT_RUNS_REACHED: the run was skipped, no task got a cluster, so there is no piece
#   (`cluster_runs`); the collector logs it (`server.collect.outcome_log`).
# A state Databricks adds later counts as failed: not learned, and seen.
SUCCEEDED = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})
TIMED_OUT = frozenset({"TIMEDOUT"})
CANCELED = frozenset({"CANCELED", "UPSTREAM_CANCELED", "UPSTREAM_FAILED"})
# Tasks the job itself chose not to run (or the run was skipped): no word on the cluster either way.
LEFT_OUT = frozenset({"EXCLUDED", "DISABLED", "SKIPPED", "MAXIMUM_CONCURRENT_RUNS_REACHED"})
# ``status.termination_details.code`` (Jobs API 2.2, ``TerminationCodeCode``) read when a task has no
# result_state. CANCELED there is "canceled by the platform; for example, if the maximum run duration
# was exceeded": a platform cancel, not a timeout for sure, so canceled (not held against the cluster).
TERMINATION_CODES = {"SUCCESS": "succeeded", "SUCCESS_WITH_FAILURES": "succeeded", "USER_CANCELED": "canceled",
                     "CANCELED": "canceled", "SKIPPED": "left_out", "DISABLED": "left_out",
                     "MAX_CONCURRENT_RUNS_EXCEEDED": "left_out", "MAX_JOB_QUEUE_SIZE_EXCEEDED": "left_out"}
# A task that did not run because of its dependencies or its run_if, not because of its cluster.
NOT_RUN = frozenset({"UPSTREAM_FAILED", "UPSTREAM_CANCELED", "EXCLUDED", "DISABLED", "SKIPPED"})
# The stored outcomes a repair can change: runs/repair re-runs a finished run's unsuccessful tasks
# (FAILED, TIMEDOUT, CANCELED, ... are all repairable).
REPAIRABLE_OUTCOMES = frozenset({"failed", "canceled", "timed_out"})
# A task's result when it ended in failure of its own (with no cluster: its cluster was refused).
LAUNCH_FAILED = frozenset({"FAILED", "INTERNAL_ERROR"})


@dataclass(frozen=True)
class ClusterRun:
    """One cluster key's part of a Databricks run."""

    run_id: int
    job_id: int
    cluster_key: str
    cluster_id: str
    spark_context_id: str
    spec: dict[str, Any]
    task_keys: tuple[str, ...]
    start_ms: int
    end_ms: int
    outcome: str  # succeeded | failed | timed_out | canceled
    state_message: str
    # Creating the cluster before its first task's code ran (``setup_duration``); None when the
    # run does not report it. Part of the runtime, but set by the cloud, not the configuration.
    setup_ms: int | None = None
    # Each failed task's ``status.termination_details`` ({code, type, message}, the message falling
    # back to its state message): whose fault the failure was (`server.collect.failure`).
    failed_tasks: tuple[dict[str, Any], ...] = ()
    # Task runs a later attempt of the same task replaced (a retry policy's retries,
    # ``attempt_number`` > 0): they cost cluster time, but the last attempt of each task decides.
    retried_attempts: int = 0
    # Task runs a repair of the run started (``runs/repair``: its ``repair_history`` REPAIR items'
    # ``task_run_ids``); each replaced an earlier attempt of its task, on a new job cluster.
    repaired_attempts: int = 0
    # Each cluster instance the piece's tasks ran on, as (cluster_id, first task start, last task
    # end), in start order: one, unless a retry or a repair started a new cluster.
    instances: tuple[tuple[str, int, int], ...] = ()
    # The part of the span when none of the key's tasks ran (`idle_between_ms`): a job a1 -> b -> a2
    # with a1 and a2 on this cluster keeps it up, idle, while b runs on another. Paid for and part of
    # the runtime, but set by the other tasks, not by this cluster's configuration.
    wait_ms: int = 0

    @property
    def runtime_s(self) -> float:
        return max(0.0, (self.end_ms - self.start_ms) / 1000.0)


def is_finished(run: Mapping[str, Any]) -> bool:
    state = run.get("state") or {}
    if state.get("life_cycle_state") in FINAL_LIFE_CYCLE:
        return True
    status = run.get("status") or {}
    return status.get("state") == "TERMINATED"


def task_outcome(task: Mapping[str, Any]) -> str:
    """succeeded, failed, timed_out, canceled, or left_out (the job did not run it: `LEFT_OUT`)."""
    state = task.get("state") or {}
    result = state.get("result_state")
    if state.get("life_cycle_state") == "INTERNAL_ERROR":
        return "failed"
    if result is None:
        code = ((task.get("status") or {}).get("termination_details") or {}).get("code")
        if code is None and state.get("life_cycle_state") == "SKIPPED":
            return "left_out"
        return TERMINATION_CODES.get(str(code), "failed")
    if result in SUCCEEDED:
        return "succeeded"
    if result in TIMED_OUT:
        return "timed_out"
    if result in CANCELED:
        return "canceled"
    if result in LEFT_OUT:
        return "left_out"
    return "failed"


def failure_details(task: Mapping[str, Any]) -> dict[str, Any]:
    """A failed task's ``termination_details`` (Jobs API 2.2); a run from an older API has none, and
    its state message is all there is to go by."""
    details = dict((task.get("status") or {}).get("termination_details") or {})
    return {"code": details.get("code"), "type": details.get("type"),
            "message": details.get("message") or (task.get("state") or {}).get("state_message") or ""}


def never_ran(task: Mapping[str, Any]) -> bool:
    """The task run never started on a cluster: no ``start_time`` (both the service and the emulator
    leave 0 for a task still waiting on its dependencies when the run ended), or no cluster instance
    and no time spent (``setup_duration`` and ``execution_duration`` both 0)."""
    if not task.get("start_time"):
        return True
    if (task.get("cluster_instance") or {}).get("cluster_id"):
        return False
    return task.get("setup_duration") == 0 and task.get("execution_duration") == 0


def piece_outcome(task: Mapping[str, Any]) -> str:
    """`task_outcome` as the cluster's share of the run: a task the job's timeout ended before it ever
    ran (it waited on a task on another cluster) is canceled, as UPSTREAM_FAILED is. The timeout says
    only that the run as a whole was too slow, not this cluster; as timed_out, a cluster whose own
    tasks succeeded in minutes was avoided as too slow for the time it sat waiting."""
    outcome = task_outcome(task)
    return "canceled" if outcome == "timed_out" and never_ran(task) else outcome


def _combine(outcomes: list[str]) -> str:
    """The piece's outcome from its tasks': the worst of them. A timeout is a failure of the job as
    its owner set it, so it outranks a cancel; tasks the job left out do not count."""
    for worst in ("failed", "timed_out", "canceled"):
        if worst in outcomes:
            return worst
    return "succeeded"


def last_attempts(tasks: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Each task's last attempt, in the order the tasks first appear.

    A task with a retry policy (``max_retries``) that fails is run again as a new task run of the
    same ``task_key`` with the next ``attempt_number`` (databricks-sdk ``RunTask.attempt_number``:
    "Runs are retried only until they succeed"): the last attempt is the task's result, so a task
    that failed and then succeeded on a retry succeeded."""
    last: dict[str, Mapping[str, Any]] = {}
    for task in tasks:
        key = str(task.get("task_key"))
        seen = last.get(key)
        if seen is None or _attempt_order(task) >= _attempt_order(seen):
            last[key] = task
    return list(last.values())


def _attempt_order(task: Mapping[str, Any]) -> tuple[int, int]:
    return int(task.get("attempt_number") or 0), int(task.get("start_time") or 0)


def repair_task_run_ids(run: Mapping[str, Any]) -> frozenset[int]:
    """The task runs the run's repairs started (``repair_history`` items of type REPAIR)."""
    return frozenset(int(i) for item in run.get("repair_history") or [] if item.get("type") == "REPAIR"
                     for i in item.get("task_run_ids") or [])


def first_attempts(run: Mapping[str, Any]) -> dict[str, ClusterRun]:
    """The run's pieces as its first attempt left them, before any repair, by cluster key; empty for
    a run never repaired.

    Its task runs are the ``repair_history`` ORIGINAL item's ``task_run_ids`` (without that item:
    every task run no repair started). A job cluster's spec is left empty: the run's ``job_clusters``
    show the settings its repairs ran on (runs/repair uses the job's current settings), and the
    first attempt's spec is its cluster's own (``clusters/get``), which the collector reads."""
    repaired = repair_task_run_ids(run)
    if not repaired:
        return {}
    original = next((h for h in run.get("repair_history") or [] if h.get("type") == "ORIGINAL"), None)
    kept = {int(i) for i in (original or {}).get("task_run_ids") or []}
    tasks = [t for t in run.get("tasks") or []
             if (int(t.get("run_id") or 0) in kept if kept else int(t.get("run_id") or 0) not in repaired)]
    before = {**run, "tasks": tasks, "repair_history": [], "job_clusters": [],
              "end_time": (original or {}).get("end_time") or run.get("end_time")}
    return {p.cluster_key: p for p in cluster_runs(before)}


def repair_count(run: Mapping[str, Any]) -> int:
    """How many times the run was repaired (``runs/repair``)."""
    return sum(1 for item in run.get("repair_history") or [] if item.get("type") == "REPAIR")


def cluster_instances(tasks: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, int, int], ...]:
    """(cluster_id, first start, last end) of each cluster the tasks ran on, in start order."""
    spans: dict[str, tuple[int, int]] = {}
    for task in tasks:
        cid = str((task.get("cluster_instance") or {}).get("cluster_id") or "")
        start, end = int(task.get("start_time") or 0), int(task.get("end_time") or 0)
        if not cid or not start:
            continue
        lo, hi = spans.get(cid, (start, end))
        spans[cid] = (min(lo, start), max(hi, end))
    return tuple(sorted(((c, lo, hi) for c, (lo, hi) in spans.items()), key=lambda i: i[1]))


def idle_between_ms(tasks: Sequence[Mapping[str, Any]]) -> int:
    """The time between the tasks' first start and last end when none of them ran: the gaps in the
    union of their [start_time, end_time] intervals (every attempt's: a retry's wait too).

    A job cluster lives from its first task's start to its last task's end, so in a job a1 -> b -> a2
    whose a1 and a2 share cluster A while b runs on cluster B, A's span holds all of b while A sits
    idle. The union, not the sum, of the intervals: tasks on one cluster can run at the same time."""
    spans = sorted((int(t["start_time"]), int(t["end_time"])) for t in tasks
                   if t.get("start_time") and t.get("end_time") and int(t["end_time"]) > int(t["start_time"]))
    idle = 0
    reach: int | None = None
    for start, end in spans:
        if reach is not None and start > reach:
            idle += start - reach
        reach = end if reach is None else max(reach, end)
    return idle


def _nested(task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    nested = (task.get("for_each_task") or {}).get("task")
    return nested if isinstance(nested, Mapping) else None


def for_each_run_ids(run: Mapping[str, Any]) -> list[int]:
    """The run ids of the run's for-each tasks whose nested task runs on a cluster Trimtab tunes (a
    job cluster or its own new_cluster): runs/get of each lists its iterations."""
    return [int(t["run_id"]) for t in run.get("tasks") or []
            if t.get("run_id") and (nested := _nested(t)) is not None and task_key_of(nested) is not None]


def with_iterations(run: Mapping[str, Any], iterations: Mapping[int, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """The run with each for-each task in ``iterations`` (by its run id) replaced by its iterations.

    Each iteration is one more task on the nested task's cluster key: the key is the for-each task's
    (a nested task with its own new_cluster is keyed by the for-each task's key, as onboarding names
    it), and the cluster fields come from the nested task when the iteration does not repeat them.
    Iterations share one task_key, so each is named apart (``loop[<first attempt's run id>]``):
    else `last_attempts` would take all but one of them for retries. A retried iteration keeps its
    first attempt's name (``original_attempt_run_id``), so its attempts are judged as a task's are.
    Thus one run of the project is the whole for-each task: on a shared job cluster its iterations
    share one cluster instance (the concurrency shows as overlapping tasks); a nested new_cluster
    starts a cluster per iteration, which the piece lists in ``instances`` and which are priced
    together, as a retry's new cluster is. The for-each task itself, a parent with no compute, goes.
    """
    tasks: list[Mapping[str, Any]] = []
    for task in run.get("tasks") or []:
        nested = _nested(task)
        its = iterations.get(int(task.get("run_id") or 0)) if nested is not None else None
        if nested is None or its is None:
            tasks.append(task)
            continue
        outer = str(task.get("task_key"))
        for it in its:
            first = int(it.get("original_attempt_run_id") or it.get("run_id") or 0)
            named = {**it, "task_key": f"{outer}[{first}]"}
            if nested.get("job_cluster_key"):
                named.setdefault("job_cluster_key", nested["job_cluster_key"])
            elif isinstance(nested.get("new_cluster"), Mapping):
                named.pop("job_cluster_key", None)
                named["new_cluster"] = it.get("new_cluster") or nested["new_cluster"]
                named["for_each_of"] = outer
            tasks.append(named)
    return {**run, "tasks": tasks}


def task_key_of(task: Mapping[str, Any]) -> str | None:
    """The Trimtab cluster key a task ran on, or None (existing or serverless compute)."""
    if task.get("job_cluster_key"):
        return str(task["job_cluster_key"])
    if isinstance(task.get("new_cluster"), Mapping):
        # An iteration of a for-each task (`with_iterations`) is on the for-each task's key.
        return task_cluster_key(str(task.get("for_each_of") or task.get("task_key")))
    return None


def cluster_setup_ms(tasks: Sequence[Mapping[str, Any]]) -> int | None:
    """The time the cluster key's job cluster took to come up, from its tasks' ``setup_duration``.

    For a multi-task run the top-level durations are 0 and each task holds its own. Only the
    earliest-starting task waited for the job cluster to be created; later tasks on the same
    cluster report ~0, so summing or taking the latest would be wrong. None when that task does
    not report the field (older runs, or a task that never got a cluster).
    """
    started = [t for t in tasks if t.get("start_time")]
    if not started:
        return None
    first = min(started, key=lambda t: int(t["start_time"]))
    value = first.get("setup_duration")
    return int(value) if value is not None else None


def never_launched(tasks: Sequence[Mapping[str, Any]]) -> bool:
    """A task failed without a cluster, and not for its dependencies: the job cluster was refused
    before one was created (Databricks validates a job cluster against its cluster policy when the
    run creates it: "Cluster validation error: ..."). Such a run costs nothing, but it says the job
    cannot run on its configuration, which the project must hear of."""
    for task in tasks:
        state = task.get("state") or {}
        code = ((task.get("status") or {}).get("termination_details") or {}).get("code")
        if state.get("life_cycle_state") == "SKIPPED" or state.get("result_state") in NOT_RUN or code in NOT_RUN:
            continue
        if state.get("life_cycle_state") == "INTERNAL_ERROR" or state.get("result_state") in LAUNCH_FAILED:
            return True
    return False


def cluster_runs(run: Mapping[str, Any]) -> list[ClusterRun]:
    """The run's pieces, one per cluster key that got a cluster or was refused one (``cluster_id``
    empty, `never_launched`), in first-start order."""
    shared = {e.get("job_cluster_key"): e.get("new_cluster") for e in run.get("job_clusters") or []}
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for task in run.get("tasks") or []:
        key = task_key_of(task)
        if key is not None:
            groups.setdefault(key, []).append(task)
    repaired_ids = repair_task_run_ids(run)
    out = []
    for key, tasks in groups.items():
        instances = [t.get("cluster_instance") or {} for t in tasks if (t.get("cluster_instance") or {})
                     .get("cluster_id")]
        if not instances and not never_launched(tasks):
            continue  # skipped (its dependencies, its run_if) or canceled before a cluster
        # A retried task can run on a new cluster: the last attempt's is the one that finished.
        last = max(tasks, key=_attempt_order)
        # Each task is judged by its last attempt; the cluster's time spans them all.
        judged = last_attempts(tasks)
        # No instance at all: the job cluster was refused before one existed (a piece with no cluster).
        instance = last.get("cluster_instance") or (instances[-1] if instances else {})
        spec = shared.get(key) if not key.startswith("task:") else tasks[0].get("new_cluster")
        # The span is the tasks that ran on the cluster: a task that never started still has an end_time
        # (when the run ended), which stretched the piece's runtime over the time it waited on another.
        ran = [t for t in tasks if not never_ran(t)] or tasks
        starts = [int(t["start_time"]) for t in ran if t.get("start_time")]
        ends = [int(t["end_time"]) for t in ran if t.get("end_time")]
        messages = [str((t.get("state") or {}).get("state_message") or "") for t in judged]
        # A repair's task run replaces an earlier attempt as a retry does, but it is the repair's:
        # counted apart, so a repaired run is not also said to have been retried.
        repaired = sum(1 for t in tasks if int(t.get("run_id") or 0) in repaired_ids)
        outcomes = [piece_outcome(t) for t in judged]
        out.append(ClusterRun(
            run_id=int(run["run_id"]), job_id=int(run.get("job_id") or 0), cluster_key=key,
            cluster_id=str(instance.get("cluster_id") or ""),
            spark_context_id=str(instance.get("spark_context_id") or ""),
            spec=copy.deepcopy(spec) if isinstance(spec, dict) else {},
            task_keys=tuple(str(t.get("task_key")) for t in judged),
            start_ms=min(starts) if starts else int(run.get("start_time") or 0),
            end_ms=max(ends) if ends else int(run.get("end_time") or 0),
            outcome=_combine(outcomes),
            state_message="; ".join(m for m in messages if m), setup_ms=cluster_setup_ms(tasks),
            failed_tasks=tuple(failure_details(t) for t, o in zip(judged, outcomes, strict=True) if o == "failed"),
            retried_attempts=max(0, len(tasks) - len(judged) - repaired),
            repaired_attempts=repaired, instances=cluster_instances(tasks), wait_ms=idle_between_ms(tasks)))
    out.sort(key=lambda c: c.start_ms)
    return out
