"""Runs API semantics: run-now creates the run record and its cluster plans; list/get views.

Each job cluster used by a task, and each task-level new_cluster, is one simulated cluster;
a task on an existing cluster borrows that cluster and gets no new one. The player starts a
cluster when its first task may run (`depends_on`, judged by `run_if`: `run_if_outcome`), and
runs the tasks sharing a job cluster in the order their dependencies give (`waves`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from sandbox.workspace import for_each, policies, pools
from sandbox.workspace.clusters import make_cluster_id, make_spark_context_id, new_cluster_record
from sandbox.workspace.errors import invalid, run_missing
from sandbox.workspace.jobs import get_job, parse_job_id, upstream
from sandbox.workspace.paging import bool_param, int_param, page

DEFAULT_PROFILE = "etl_join_aggregate"
PROFILE_TAG = "sandbox:profile"
TERMINAL = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}

# The service's limits on a job's queue.
# "When queueing is enabled, the run is queued for up to 48 hours" (Databricks docs, "Jobs
# queueing and concurrency settings": docs.databricks.com/.../jobs/advanced and
# learn.microsoft.com/azure/databricks/jobs/advanced). The docs do not say how such a run ends;
# the emulator ends it TERMINATED / TIMEDOUT ("stopped after reaching the timeout") with
# termination code CANCELED ("canceled ... by the Databricks platform; for example, if the
# maximum run duration was exceeded"), both from databricks-sdk's RunResultState and
# TerminationCodeCode. The state message is the emulator's own wording.
MAX_QUEUE_MS = 48 * 3600 * 1000
# databricks-sdk's TerminationCodeCode.MAX_JOB_QUEUE_SIZE_EXCEEDED: "The run was skipped due to
# reaching the job level queue size limit." The size itself is not published in any page we
# could reach (docs, resource-limits table, SDK, issues): 1000 is an ASSUMPTION, the order of the
# service's other documented job limits (max_concurrent_runs <= 1000; 1000 tasks running at
# once per workspace). The SDK names no workspace-level queue limit, so none is emulated.
MAX_QUEUED_RUNS_PER_JOB = 1000


@dataclass
class ClusterPlan:
    """One cluster the player has to simulate for a run."""

    cluster_id: str
    spark_context_id: str
    spec: dict[str, Any]
    profile: str
    task_keys: list[str]
    seed: int
    task_run_id: int
    # The spec as the job names it (``spec`` has a pool's node types filled in): what the cluster's
    # policy is judged on when the cluster is created (`policies.refusal`).
    sent_spec: dict[str, Any] = field(default_factory=dict)
    # ``spec`` without what the cluster policy fills in (`policies.with_policy_values`): the user's
    # settings, which the cluster record keeps as its ``spec``.
    user_spec: dict[str, Any] | None = None


@dataclass
class RunPlan:
    run_id: int
    job_id: int
    day: int
    start_ms: int             # when the run may start its tasks (later than run-now if queued)
    run_name: str = ""
    admission: str = "run"    # "run" now, "queue" behind earlier runs, or "skip"
    clusters: list[ClusterPlan] = field(default_factory=list)
    # Tasks on an existing cluster, or on none (serverless): played as EXISTING_CLUSTER_TASK_MS.
    existing_tasks: list[str] = field(default_factory=list)
    upstream: dict[str, list[str]] = field(default_factory=dict)  # task -> its depends_on keys
    run_if: dict[str, str] = field(default_factory=dict)          # task -> its run_if
    # The job's ``timeout_seconds`` (0: none) and each task's, in ms: past it the run ends TIMEDOUT
    # ("stopped after reaching the timeout", RunResultState), as the service ends it.
    timeout_ms: int = 0
    task_timeout_ms: dict[str, int] = field(default_factory=dict)


def set_timeouts(plan: RunPlan, settings: dict[str, Any], tasks: list[dict[str, Any]]) -> None:
    """``plan``'s timeouts from the job's settings and its tasks (``timeout_seconds``, 0 or unset: none)."""
    plan.timeout_ms = int(settings.get("timeout_seconds") or 0) * 1000
    plan.task_timeout_ms = {str(t["task_key"]): int(t["timeout_seconds"]) * 1000 for t in tasks
                            if int(t.get("timeout_seconds") or 0) > 0}


# A dependency's result, as `run_if` reads it. UPSTREAM_FAILED counts as failed, as a failure
# propagates down a chain on the service (a -> b -> c: c is UPSTREAM_FAILED when a failed).
FAILED_RESULTS = frozenset({"FAILED", "UPSTREAM_FAILED", "TIMEDOUT"})
CANCELED_RESULTS = frozenset({"CANCELED", "UPSTREAM_CANCELED"})


def run_if_outcome(rule: str | None, results: list[str]) -> str | None:
    """None when a task whose dependencies ended with `results` runs under `rule` (RunIf,
    ALL_SUCCESS when unset); else the result_state it is skipped with: UPSTREAM_FAILED (or
    UPSTREAM_CANCELED) when a failed (cancelled) dependency is why, else EXCLUDED ("skipped
    because the necessary conditions were not met", databricks-sdk's RunResultState)."""
    ok = sum(1 for r in results if r == "SUCCESS")
    failed = sum(1 for r in results if r in FAILED_RESULTS)
    canceled = sum(1 for r in results if r in CANCELED_RESULTS)
    rule = rule or "ALL_SUCCESS"
    met = {
        "ALL_SUCCESS": ok == len(results),
        "ALL_DONE": True,
        # RunIf: "None of the dependencies have failed and at least one was executed".
        "NONE_FAILED": not failed and (not results or ok > 0),
        "AT_LEAST_ONE_SUCCESS": not results or ok > 0,
        "ALL_FAILED": failed == len(results),
        "AT_LEAST_ONE_FAILED": not results or failed > 0,
    }[rule]
    if met:
        return None
    if rule in {"ALL_FAILED", "AT_LEAST_ONE_FAILED"}:
        return "EXCLUDED"  # the condition was about failures: nothing upstream went wrong
    if failed:
        return "UPSTREAM_FAILED"
    return "UPSTREAM_CANCELED" if canceled else "EXCLUDED"


def waves(task_keys: list[str], upstream_of: dict[str, list[str]],
          later: frozenset[str] | set[str] = frozenset()) -> list[list[str]]:
    """The tasks sharing one cluster in the order their dependencies allow: wave 0 needs none
    of the others; a task comes after every task of the cluster it waits for, directly or through
    tasks on other clusters (a1 -> b -> a2: a2 after a1), and a task in `later` (one waiting for
    a task elsewhere when the cluster starts) never in wave 0. A cycle is refused at jobs/create."""
    mine = set(task_keys)
    depth: dict[str, int] = {}

    def mine_above(key: str) -> set[str]:
        """The cluster's tasks `key` waits for, through other clusters' tasks if need be."""
        found: set[str] = set()
        seen: set[str] = set()
        stack = list(upstream_of.get(key, []))
        while stack:
            u = stack.pop()
            if u in seen:
                continue
            seen.add(u)
            if u in mine:
                found.add(u)
            else:
                stack.extend(upstream_of.get(u, []))
        return found

    def level(key: str) -> int:
        if key not in depth:
            depth[key] = max([1 if key in later else 0, *(1 + level(u) for u in mine_above(key))])
        return depth[key]

    out: list[list[str]] = []
    for key in task_keys:
        n = level(key)
        out.extend([] for _ in range(n + 1 - len(out)))
        out[n].append(key)
    return out


def admission(data: dict[str, Any], job_id: int, settings: dict[str, Any],
              queue_limit: int = MAX_QUEUED_RUNS_PER_JOB) -> str:
    """Whether a new run of the job starts ("run"), waits in the queue ("queue"), is skipped
    ("skip") or is skipped because the job's queue is full ("queue_full").

    Like the service: at most `max_concurrent_runs` active runs; beyond that the run is
    queued when `queue.enabled` (the default for jobs made through API 2.2), else skipped;
    with `max_concurrent_runs` 0 every new run is skipped, queue or not; a queue already
    holding `queue_limit` runs takes no more.
    """
    limit = concurrency_limit(settings)
    if limit == 0:
        return "skip"  # the service: "Setting this value to 0 causes all new runs to be skipped."
    queued = sum(1 for r in data["runs"].values()
                 if r["job_id"] == job_id and r["state"]["life_cycle_state"] == "QUEUED")
    free = has_free_slot(data, job_id, settings)
    if not (settings.get("queue") or {}).get("enabled", True):
        return "run" if free else "skip"
    if free and not queued:
        return "run"  # a run never overtakes the job's queue, even in the instant a slot frees
    return "queue" if queued < queue_limit else "queue_full"


def has_free_slot(data: dict[str, Any], job_id: int, settings: dict[str, Any]) -> bool:
    return free_slots(data, job_id, settings) > 0


def free_slots(data: dict[str, Any], job_id: int, settings: dict[str, Any]) -> int:
    """How many more of the job's runs may be active: `max_concurrent_runs` less the runs
    holding a slot (PENDING, RUNNING, TERMINATING; a queued run holds none)."""
    holding = sum(1 for r in data["runs"].values()
                  if r["job_id"] == job_id
                  and r["state"]["life_cycle_state"] not in TERMINAL | {"QUEUED"})
    return max(0, concurrency_limit(settings) - holding)


def concurrency_limit(settings: dict[str, Any]) -> int:
    """The job's `max_concurrent_runs` (1 when unset; 0 skips every new run)."""
    value = settings.get("max_concurrent_runs")
    return 1 if value is None else int(value)


def create_cluster_record(data: dict[str, Any], plan: RunPlan, cp: ClusterPlan,
                          start_ms: int) -> None:
    """A job cluster comes to exist when its first task may start (a cluster whose tasks are
    all skipped never does); once only."""
    if cp.cluster_id in data["clusters"]:
        return
    data["clusters"][cp.cluster_id] = new_cluster_record(
        cp.cluster_id, cp.spec, job_id=plan.job_id, run_name=plan.run_name,
        task_run_id=cp.task_run_id, start_ms=start_ms, user_spec=cp.user_spec)
    data["events"][cp.cluster_id] = []


def create_starting_clusters(data: dict[str, Any], plan: RunPlan) -> None:
    """The clusters that wait for no other cluster's task exist as soon as the run leaves the
    queue, before run-now answers; the others when the player requests them."""
    for cp in plan.clusters:
        mine = set(cp.task_keys)
        if all(u in mine for k in cp.task_keys for u in plan.upstream.get(k, [])):
            create_cluster_record(data, plan, cp, plan.start_ms)


def task_profile(task: dict[str, Any], job_tags: dict[str, Any]) -> str:
    """The workload a task simulates: its parameters first, then the job's tag."""
    params: list[str] = []
    for kind in ("spark_python_task", "spark_jar_task", "python_wheel_task", "notebook_task"):
        spec = task.get(kind) or {}
        params += [str(p) for p in spec.get("parameters") or []]
        named = {**(spec.get("base_parameters") or {}), **(spec.get("named_parameters") or {})}
        if "sandbox_profile" in named:
            return str(named["sandbox_profile"])
    for p in params:
        if p.startswith("--sandbox-profile="):
            return p.split("=", 1)[1]
    return str(job_tags.get(PROFILE_TAG) or DEFAULT_PROFILE)


def _state(life: str, result: str | None = None, message: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {"life_cycle_state": life, "state_message": message,
                             "user_cancelled_or_timedout": False}
    if result:
        state["result_state"] = result
    return state


def run_now(data: dict[str, Any], body: dict[str, Any], *, run_id: int, start_ms: int,
            next_task_run_id: Any, trigger: str = "ONE_TIME",
            queue_limit: int = MAX_QUEUED_RUNS_PER_JOB) -> tuple[dict[str, Any], RunPlan]:
    """A run of the job: ONE_TIME from run-now, PERIODIC from its schedule (as the service
    reports cron-scheduled and periodic-trigger runs). A run skipped because the job's queue
    is full has plan admission "skip", like any other skipped run."""
    job_id = parse_job_id(body.get("job_id"))
    job = get_job(data, job_id)
    settings = job["settings"]
    tasks = settings.get("tasks") or []
    if not tasks:
        raise invalid(f"Job {job_id} has no tasks to run.")
    admit = admission(data, job_id, settings, queue_limit)
    queue_full = admit == "queue_full"
    if queue_full:
        admit = "skip"
    # The job's input grows with each run that gets a cluster: a queued run takes its day when it
    # leaves the queue (`leave_queue`), so one that expires or is cancelled there takes none.
    day = _next_day(data, job_id) if admit == "run" else 0
    number = 1 + sum(1 for r in data["runs"].values() if r["job_id"] == job_id)
    run_name = settings.get("name") or f"job-{job_id}"
    tags = settings.get("tags") or {}
    plan = RunPlan(run_id=run_id, job_id=job_id, day=day, start_ms=start_ms, run_name=run_name,
                   admission=admit)
    set_timeouts(plan, settings, tasks)
    job_clusters = {jc["job_cluster_key"]: jc for jc in settings.get("job_clusters") or []}
    by_key: dict[str, ClusterPlan] = {}
    run_tasks = []
    for task in tasks:
        task_run_id = next_task_run_id()
        run_task = {k: copy.deepcopy(v) for k, v in task.items()}
        plan.upstream[task["task_key"]] = upstream(task)
        plan.run_if[task["task_key"]] = str(task.get("run_if") or "ALL_SUCCESS")
        # A task waiting for its dependencies is BLOCKED ("blocked on an upstream dependency",
        # RunLifeCycleState) with no start time until it starts.
        waiting = bool(plan.upstream[task["task_key"]])
        life = "BLOCKED" if waiting else "PENDING"
        run_task.update({"run_id": task_run_id, "attempt_number": 0,
                         "start_time": 0 if waiting else start_ms,
                         "setup_duration": 0, "execution_duration": 0, "cleanup_duration": 0,
                         "end_time": 0, "state": _state(life), "status": {"state": life}})
        if not _plan_task(data, plan, by_key, task, job_clusters, tags, task_run_id, start_ms) \
                and task.get("existing_cluster_id") and not waiting:
            run_task["cluster_instance"] = {"cluster_id": task["existing_cluster_id"]}
        for_each.allocate(data, run_id, task, task_run_id, next_task_run_id)
        run_tasks.append(run_task)
    plan.clusters = list(by_key.values())
    run = {
        "job_id": job_id, "run_id": run_id, "number_in_job": number,
        "original_attempt_run_id": run_id, "attempt_number": 0, "run_name": run_name,
        "run_type": "JOB_RUN", "trigger": trigger, "format": "MULTI_TASK",
        "creator_user_name": job["creator_user_name"],
        "run_page_url": f"/#job/{job_id}/run/{run_id}",
        "state": _state("PENDING", message="Waiting for cluster"),
        "status": {"state": "PENDING"}, "queue_duration": 0,
        "start_time": start_ms, "setup_duration": 0, "execution_duration": 0,
        "cleanup_duration": 0, "end_time": 0, "run_duration": 0,
        "job_clusters": copy.deepcopy(settings.get("job_clusters") or []),
        "tasks": run_tasks,
        "job_parameters": [{"name": k, "value": str(v)}
                           for k, v in (body.get("job_parameters") or {}).items()],
    }
    if admit == "queue":
        run["state"] = _state("QUEUED", message="Queued: the job has reached its maximum "
                              "number of concurrent runs.")
        # MAX_CONCURRENT_RUNS_REACHED is the SDK's code for the per-job limit
        # (ACTIVE_RUNS_LIMIT_REACHED is the workspace's limit of active task runs).
        run["status"] = {"state": "QUEUED", "queue_details": {
            "code": "MAX_CONCURRENT_RUNS_REACHED", "message": "Maximum concurrent runs reached."}}
    elif admit == "skip":
        if queue_full:
            # The result state stays the one for a run skipped at the concurrency limit (the
            # SDK has no queue-specific one); the termination code says the queue was full.
            message = (f"Skipping this run because the job's queue already holds the maximum of "
                       f"{queue_limit} queued runs.")
            code = "MAX_JOB_QUEUE_SIZE_EXCEEDED"
        else:
            message = ("Skipping this run because the limit of "
                       f"{settings.get('max_concurrent_runs')} maximum concurrent runs has been "
                       "reached.")
            code = "MAX_CONCURRENT_RUNS_EXCEEDED"
        run["state"] = _state("SKIPPED", "MAXIMUM_CONCURRENT_RUNS_REACHED", message)
        run["status"] = {"state": "TERMINATED", "termination_details": {
            "code": code, "type": "CLIENT_ERROR", "message": message}}
        run["end_time"] = start_ms
        for task in run_tasks:
            task["state"] = _state("SKIPPED", message=message)
            task.pop("cluster_instance", None)
        plan.clusters, plan.existing_tasks = [], []
    else:
        create_starting_clusters(data, plan)
    data["runs"][str(run_id)] = run
    return {"run_id": run_id, "number_in_job": number}, plan


def _plan_task(data: dict[str, Any], plan: RunPlan, by_key: dict[str, ClusterPlan],
               task: dict[str, Any], job_clusters: dict[str, Any], tags: dict[str, Any],
               task_run_id: int, start_ms: int, repair_id: int | None = None) -> bool:
    """Put the task on its cluster's plan (one per job cluster, or its own new_cluster); False
    for a task on an existing cluster or none (serverless), played as a fixed time. A repair's
    clusters are new ones: ids and seeds of their own (`repair_id`). A for-each task runs on its
    nested task's cluster (`sandbox.workspace.for_each`)."""
    compute = for_each.nested_task(task) or task
    key = compute.get("job_cluster_key")
    spec = job_clusters[key]["new_cluster"] if key else compute.get("new_cluster")
    if spec is None:
        plan.existing_tasks.append(task["task_key"])
        return False
    slot = f"job_clusters/{key}" if key else f"tasks/{task['task_key']}"
    if slot not in by_key:
        run_id = plan.run_id
        salt: tuple[Any, ...] = (data["id_salt"], run_id, slot)
        if repair_id is not None:
            salt = (*salt, "repair", repair_id)
        resolved = pools.resolve_spec(data, spec)
        try:
            # The cluster runs on what its policy fills in too (a fixed availability, a pool, ...):
            # filled in first, then the pools resolved, as the service creates it.
            created = policies.as_created(data, spec)
        except ValueError:
            created = policies.with_policy_values(data, spec, resolved)  # refused at start: `policies.refusal`
        by_key[slot] = ClusterPlan(
            cluster_id=make_cluster_id(start_ms, *salt),
            spark_context_id=make_spark_context_id(*salt),
            spec=created, profile=task_profile(compute, tags),
            task_keys=[], seed=run_id * 1000 + len(by_key) + (repair_id or 0) * 7919, task_run_id=task_run_id,
            sent_spec=copy.deepcopy(spec), user_spec=resolved)
    by_key[slot].task_keys.append(task["task_key"])
    return True


def plan_of(data: dict[str, Any], run: dict[str, Any]) -> RunPlan:
    """The plan a stored run was started with, rebuilt from its record (its tasks and job
    clusters as they were when it started), to pick it up after a restart. The cluster ids and
    seeds are those run-now gave; the day is the job's latest (not stored per run)."""
    job_id, run_id = int(run["job_id"]), int(run["run_id"])
    settings = (data["jobs"].get(str(job_id)) or {}).get("settings") or {}
    # A run being repaired replays only its latest repair's task runs, on that repair's clusters.
    repairs = [h for h in run.get("repair_history") or [] if h.get("type") == "REPAIR"]
    repair = repairs[-1] if repairs else None
    start = int(repair["start_time"]) if repair else int(run["start_time"])
    plan = RunPlan(run_id=run_id, job_id=job_id, day=int(data["job_days"].get(str(job_id), 1)),
                   start_ms=start if repair else start + int(run.get("queue_duration") or 0),
                   run_name=str(run.get("run_name") or ""))
    job_clusters = {jc["job_cluster_key"]: jc for jc in run.get("job_clusters") or []}
    replayed = {int(i) for i in repair["task_run_ids"]} if repair else None
    by_key: dict[str, ClusterPlan] = {}
    for task in last_task_attempts(run).values():
        plan.upstream[task["task_key"]] = upstream(task)
        plan.run_if[task["task_key"]] = str(task.get("run_if") or "ALL_SUCCESS")
        if replayed is not None and int(task["run_id"]) not in replayed:
            continue  # settled before the repair
        _plan_task(data, plan, by_key, task, job_clusters, settings.get("tags") or {},
                   int(task["run_id"]), start, repair_id=int(repair["id"]) if repair else None)
    plan.clusters = list(by_key.values())
    set_timeouts(plan, settings, list(last_task_attempts(run).values()))
    return plan


def leave_queue(data: dict[str, Any], plan: RunPlan, now_ms: int) -> None:
    """The queued run takes a free slot: PENDING from `now_ms`, its clusters created."""
    plan.admission = "run"
    plan.start_ms = now_ms
    plan.day = _next_day(data, plan.job_id)
    run = data["runs"][str(plan.run_id)]
    run["queue_duration"] = now_ms - run["start_time"]
    run["state"] = _state("PENDING", message="Waiting for cluster")
    run["status"] = {"state": "PENDING"}
    create_starting_clusters(data, plan)


def _next_day(data: dict[str, Any], job_id: int) -> int:
    day = int(data["job_days"].get(str(job_id), 0)) + 1
    data["job_days"][str(job_id)] = day
    return day


def queue_deadline(run: dict[str, Any]) -> int:
    """When a run queued at its start time has waited the service's maximum."""
    return int(run["start_time"]) + MAX_QUEUE_MS


def expire_from_queue(run: dict[str, Any]) -> None:
    """The queued run has waited MAX_QUEUE_MS: it ends then, never having had a cluster."""
    end = queue_deadline(run)
    message = (f"The run was in the queue for the maximum of {MAX_QUEUE_MS // 3_600_000} hours "
               "and has been cancelled without running.")
    run["state"] = _state("TERMINATED", "TIMEDOUT", message)
    run["state"]["user_cancelled_or_timedout"] = True
    run["status"] = {"state": "TERMINATED", "termination_details": {
        "code": "CANCELED", "type": "CLIENT_ERROR", "message": message}}
    run.update({"queue_duration": MAX_QUEUE_MS, "end_time": end, "run_duration": MAX_QUEUE_MS,
                "setup_duration": 0, "execution_duration": 0, "cleanup_duration": 0})
    for task in run["tasks"]:
        task["state"] = _state("TERMINATED", "TIMEDOUT", message)
        task["state"]["user_cancelled_or_timedout"] = True
        task["status"] = {"state": "TERMINATED", "termination_details": {
            "code": "CANCELED", "type": "CLIENT_ERROR", "message": message}}
        task["end_time"] = end
        task.pop("cluster_instance", None)


def retried_task(data: dict[str, Any], run_id: int, task_key: str, failed_task_run_id: int,
                 message: str = "Task failed: the first attempt raised an error; retried") -> None:
    """Make a finished task of a stored run one that failed and then succeeded on its retry, as the
    service shows a job task with a retry policy (``max_retries``): the failed first attempt is a task
    run of its own (``failed_task_run_id``, ``attempt_number`` 0, FAILED), and the retry is a further
    task run of the same ``task_key`` with ``attempt_number`` 1 and ``original_attempt_run_id`` the
    first's (databricks-sdk ``RunTask.attempt_number``). The task's time is split between the two
    attempts, both on the task's cluster. For tests of a run's retries; the player does not retry."""
    run = data["runs"].get(str(run_id))
    if run is None:
        raise run_missing(run_id)
    tasks = run["tasks"]
    index = next((i for i, t in enumerate(tasks) if t["task_key"] == task_key), None)
    if index is None:
        raise invalid(f"Run {run_id} has no task {task_key!r}")
    retry = tasks[index]
    if retry["state"].get("life_cycle_state") not in TERMINAL or int(retry.get("attempt_number") or 0):
        raise invalid(f"Task {task_key!r} of run {run_id} is not a finished first attempt")
    start, end = int(retry["start_time"]), int(retry["end_time"])
    middle = start + (end - start) // 2
    first = copy.deepcopy(retry)
    first.update({"run_id": failed_task_run_id, "attempt_number": 0, "end_time": middle,
                  "execution_duration": max(0, middle - start - int(retry.get("setup_duration") or 0)),
                  "state": _state("TERMINATED", "FAILED", message),
                  "status": {"state": "TERMINATED", "termination_details": {
                      "code": "RUN_EXECUTION_ERROR", "type": "CLIENT_ERROR", "message": message}}})
    first["original_attempt_run_id"] = failed_task_run_id
    retry.update({"attempt_number": 1, "original_attempt_run_id": failed_task_run_id, "start_time": middle,
                  "setup_duration": 0, "execution_duration": end - middle})
    tasks.insert(index, first)


def get_run(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    run_id = params.get("run_id")
    if run_id in (None, ""):
        raise invalid("Missing required field: run_id")
    run = data["runs"].get(str(run_id)) or for_each.task_run(data, str(run_id))
    if run is None:
        raise run_missing(run_id)
    if not bool_param(params, "include_history"):
        # As Databricks: the repair history only when asked for (databricks-sdk
        # JobsAPI.get_run(include_history=...): "Whether to include the repair history").
        run = {k: v for k, v in run.items() if k != "repair_history"}
    return run


def list_runs(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    limit = int_param(params, "limit", 20) or 25
    if not 1 <= limit <= 25:
        raise invalid(f"limit must be between 1 and 25, got {limit}")
    active, completed = bool_param(params, "active_only"), bool_param(params, "completed_only")
    if active and completed:
        raise invalid("active_only and completed_only cannot both be true")
    job_id = params.get("job_id")
    lo, hi = int_param(params, "start_time_from"), int_param(params, "start_time_to")
    runs = [r for r in data["runs"].values()
            if (job_id in (None, "") or r["job_id"] == parse_job_id(job_id))
            and (not active or r["state"]["life_cycle_state"] not in TERMINAL)
            and (not completed or r["state"]["life_cycle_state"] in TERMINAL)
            and (lo is None or r["start_time"] >= lo) and (hi is None or r["start_time"] <= hi)]
    # Newest first, as the service lists them.
    runs.sort(key=lambda r: (r["start_time"], r["run_id"]), reverse=True)
    chunk, meta = page(runs, limit=limit, page_token=params.get("page_token"),
                       offset=int_param(params, "offset", 0) or 0)
    expand = bool_param(params, "expand_tasks")
    out = []
    for run in chunk:
        run = copy.deepcopy(run)
        if not expand:
            run.pop("tasks", None)
            run.pop("job_clusters", None)
        out.append(run)
    return {"runs": out, **meta} if out else meta


# A task's last result that `rerun_all_failed_tasks` re-runs: it failed, or did not run because an
# upstream task failed or was cancelled (the service's "Repair run" re-runs those with the failed ones).
REPAIRABLE = frozenset({"FAILED", "TIMEDOUT", "CANCELED", "UPSTREAM_FAILED", "UPSTREAM_CANCELED",
                        "MAXIMUM_CONCURRENT_RUNS_REACHED"})


def last_task_attempts(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each task's latest task run (highest ``attempt_number``; the later one on a tie)."""
    out: dict[str, dict[str, Any]] = {}
    for task in run["tasks"]:
        seen = out.get(task["task_key"])
        if seen is None or int(task.get("attempt_number") or 0) >= int(seen.get("attempt_number") or 0):
            out[task["task_key"]] = task
    return out


def repair_run(data: dict[str, Any], body: dict[str, Any], *, repair_id: int, start_ms: int,
               next_task_run_id: Any) -> tuple[dict[str, Any], RunPlan, dict[str, str]]:
    """``runs/repair``: re-run some tasks of a finished run as part of it (databricks-sdk
    ``JobsAPI.repair_run``: "Tasks are re-run as part of the original job run. They use the current
    job and task settings"). The run keeps its run_id; each re-run task gets a new task run (a new
    run_id, the same task_key, the next ``attempt_number``) on a new job cluster; the run's
    ``repair_history`` gains a REPAIR item (its first repair also records the ORIGINAL one) and the
    run is PENDING again until the player ends it. Returns the reply ``{"repair_id"}``, the plan to
    play (only the re-run tasks' clusters) and the results of the tasks that are not re-run."""
    run = get_run(data, {"run_id": body.get("run_id"), "include_history": "true"})  # the stored run itself
    run_id = int(run["run_id"])
    if run["state"]["life_cycle_state"] not in TERMINAL:
        raise invalid(f"Run {run_id} is still active: only a finished run can be repaired.")
    rerun, all_failed = body.get("rerun_tasks"), bool(body.get("rerun_all_failed_tasks"))
    if bool(rerun) == all_failed:
        raise invalid("Exactly one of rerun_tasks or rerun_all_failed_tasks must be given.")
    history = run.get("repair_history") or []
    repairs = [h for h in history if h.get("type") == "REPAIR"]
    latest = body.get("latest_repair_id")
    if repairs and (latest is None or int(latest) != int(repairs[-1]["id"])):
        # The SDK: latest_repair_id "must be provided on subsequent requests to repair the same run".
        raise invalid(f"latest_repair_id must be the run's latest repair, {repairs[-1]['id']} "
                      f"(got {latest}).")
    job = get_job(data, int(run["job_id"]))
    settings = job["settings"]
    by_key = {t["task_key"]: t for t in settings.get("tasks") or []}
    last = last_task_attempts(run)
    if rerun:
        if not isinstance(rerun, list) or not all(isinstance(k, str) for k in rerun):
            raise invalid("rerun_tasks must be a list of task keys")
        unknown = [k for k in rerun if k not in last]
        if unknown:
            raise invalid(f"Run {run_id} has no task {', '.join(unknown)}")
        keys = list(dict.fromkeys(rerun))
    else:
        keys = [k for k, t in last.items() if t["state"].get("result_state") in REPAIRABLE]
        if not keys:
            raise invalid(f"Run {run_id} has no failed tasks to repair.")
    if body.get("rerun_dependent_tasks"):
        grown = True
        while grown:
            more = [k for k, t in by_key.items() if k not in keys and set(upstream(t)) & set(keys)]
            keys += more
            grown = bool(more)
    missing = [k for k in keys if k not in by_key]
    if missing:
        raise invalid(f"Task {', '.join(missing)} is no longer in job {run['job_id']}: it cannot be re-run.")
    if not history:
        history.append({"type": "ORIGINAL", "start_time": run["start_time"], "end_time": run["end_time"],
                        "state": copy.deepcopy(run["state"]), "status": copy.deepcopy(run.get("status") or {}),
                        "task_run_ids": [int(t["run_id"]) for t in run["tasks"]]})
    plan = RunPlan(run_id=run_id, job_id=int(run["job_id"]), day=int(data["job_days"].get(str(run["job_id"]), 1)),
                   start_ms=start_ms, run_name=str(run.get("run_name") or ""))
    for key, task in last.items():  # every task's dependencies, for the run's result (its leaves)
        source = by_key[key] if key in keys else task
        plan.upstream[key] = upstream(source)
        plan.run_if[key] = str(source.get("run_if") or "ALL_SUCCESS")
    job_clusters = {jc["job_cluster_key"]: jc for jc in settings.get("job_clusters") or []}
    clusters: dict[str, ClusterPlan] = {}
    new_ids = []
    for key in keys:
        task = by_key[key]
        task_run_id = next_task_run_id()
        new_ids.append(task_run_id)
        waiting = any(u in keys for u in upstream(task))
        life = "BLOCKED" if waiting else "PENDING"
        run_task = {k: copy.deepcopy(v) for k, v in task.items()}
        run_task.update({"run_id": task_run_id, "attempt_number": int(last[key].get("attempt_number") or 0) + 1,
                         "original_attempt_run_id": int(last[key].get("original_attempt_run_id")
                                                        or last[key]["run_id"]),
                         "start_time": 0 if waiting else start_ms, "setup_duration": 0,
                         "execution_duration": 0, "cleanup_duration": 0, "end_time": 0,
                         "state": _state(life), "status": {"state": life}})
        if not _plan_task(data, plan, clusters, task, job_clusters, settings.get("tags") or {}, task_run_id,
                          start_ms, repair_id=repair_id) and task.get("existing_cluster_id") and not waiting:
            run_task["cluster_instance"] = {"cluster_id": task["existing_cluster_id"]}
        run["tasks"].append(run_task)
    plan.clusters = list(clusters.values())
    # The run shows the job clusters its re-run tasks use now (the current settings).
    used = {t.get("job_cluster_key") for t in by_key.values() if t["task_key"] in keys}
    shared = [jc for jc in run.get("job_clusters") or [] if jc["job_cluster_key"] not in used]
    run["job_clusters"] = shared + [copy.deepcopy(job_clusters[k]) for k in job_clusters if k in used]
    history.append({"type": "REPAIR", "id": repair_id, "start_time": start_ms, "end_time": 0,
                    "state": _state("PENDING"), "status": {"state": "PENDING"}, "task_run_ids": new_ids})
    run["repair_history"] = history
    run["state"] = _state("PENDING", message="Waiting for cluster")
    run["status"] = {"state": "PENDING"}
    run["end_time"] = 0
    settled = {k: str(t["state"].get("result_state") or "FAILED") for k, t in last.items() if k not in keys}
    return {"repair_id": repair_id}, plan, settled


def close_repair(run: dict[str, Any]) -> None:
    """The run ended: its latest repair (if any) ends with it, with its state."""
    history = run.get("repair_history") or []
    if history and history[-1].get("type") == "REPAIR" and not history[-1].get("end_time"):
        history[-1].update({"end_time": run["end_time"], "state": copy.deepcopy(run["state"]),
                            "status": copy.deepcopy(run.get("status") or {})})
