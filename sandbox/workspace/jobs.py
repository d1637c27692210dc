"""Jobs API semantics: create, get, list, update (merge by key), reset, delete.

Plain functions over the state dict; the HTTP layer holds the lock and saves.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sandbox.workspace import policies, pools
from sandbox.workspace.backend import SimBackend
from sandbox.workspace.cron import check_schedule
from sandbox.workspace.errors import ApiError, invalid, job_missing
from sandbox.workspace.paging import bool_param, int_param, page

CREATOR = "sandbox@trimtab.local"
# Every `run_if` of databricks-sdk's RunIf; the runs honour each (runs.run_if_outcome).
RUN_IF = ("ALL_SUCCESS", "ALL_DONE", "NONE_FAILED", "AT_LEAST_ONE_SUCCESS", "ALL_FAILED",
          "AT_LEAST_ONE_FAILED")

# jobs/update merges these arrays entry by entry on their key field; every other top-level
# field is replaced whole. A matching entry is replaced WHOLE too: nested specs such as
# new_cluster are never deep-merged, so a caller changing one field must send the full spec.
MERGED_ARRAYS: dict[str, str] = {
    "tasks": "task_key",
    "job_clusters": "job_cluster_key",
    "parameters": "name",
    "environments": "environment_key",
}


def validate_settings(settings: dict[str, Any], backend: SimBackend,
                      data: dict[str, Any] | None = None) -> None:
    """Refuse settings the service refuses; with the workspace's ``data``, a cluster spec that
    names a policy is checked against it too (`policies.check_spec`), and one that names an instance
    pool against the pool (`pools.check_spec`)."""
    if not isinstance(settings, dict):
        raise invalid("settings must be an object")
    if settings.get("schedule") is not None:
        check_schedule(settings["schedule"])
    limit = settings.get("max_concurrent_runs")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 1000):
        raise invalid(f"max_concurrent_runs must be an integer from 0 to 1000, got {limit!r}")
    keys: set[str] = set()
    for jc in settings.get("job_clusters") or []:
        key = jc.get("job_cluster_key")
        if not key:
            raise invalid("job_clusters[].job_cluster_key is required")
        if key in keys:
            raise invalid(f"Duplicate job cluster key: {key}")
        keys.add(key)
        _validate_spec(jc.get("new_cluster"), f"job_clusters/{key}/new_cluster", backend, data)
    task_keys: set[str] = set()
    for task in settings.get("tasks") or []:
        tkey = task.get("task_key")
        if not tkey:
            raise invalid("tasks[].task_key is required")
        if tkey in task_keys:
            raise invalid(f"Duplicate task key: {tkey}")
        task_keys.add(tkey)
        if "new_cluster" in task:
            _validate_spec(task["new_cluster"], f"tasks/{tkey}/new_cluster", backend, data)
        ref = task.get("job_cluster_key")
        if ref is not None and ref not in keys:
            raise invalid(f"The job cluster with key '{ref}' is referenced by task '{tkey}' "
                          "but is not defined in the job's job_clusters.")
    for task in settings.get("tasks") or []:
        for dep in task.get("depends_on") or []:
            if dep.get("task_key") not in task_keys:
                raise invalid(f"Task {task['task_key']} depends on unknown task "
                              f"{dep.get('task_key')}")
        rule = task.get("run_if")
        if rule is not None and rule not in RUN_IF:
            raise invalid(f"Invalid run_if {rule!r} for task {task['task_key']}: must be one of "
                          f"{', '.join(RUN_IF)}")
    _check_order(settings.get("tasks") or [])


def upstream(task: dict[str, Any]) -> list[str]:
    return [str(d["task_key"]) for d in task.get("depends_on") or []]


def _check_order(tasks: list[dict[str, Any]]) -> None:
    """Refuse a depends_on cycle, as the service does. Orders that pass through one shared job
    cluster twice (a1 -> b -> a2 with a1, a2 on one job cluster, b elsewhere) are accepted, as
    the service accepts them: the cluster waits for b between a1 and a2 (`sandbox.workspace.pause`)."""
    by_key = {str(t["task_key"]): t for t in tasks}
    _find_cycle({k: set(upstream(t)) for k, t in by_key.items()},
                lambda cycle: f"The job's tasks depend on each other in a cycle: "
                              f"{' -> '.join(cycle)}.")


def _find_cycle(graph: dict[str, set[str]], message: Callable[[list[str]], str]) -> None:
    """Raise `invalid(message(cycle))` when `graph` (node -> the nodes it waits for) has a cycle."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node) or ()):
            if state.get(nxt) == 1:  # on the current path: the path from it back to it
                raise invalid(message([*path[path.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def _validate_spec(spec: Any, where: str, backend: SimBackend, data: dict[str, Any] | None) -> None:
    if not isinstance(spec, dict):
        raise invalid(f"{where} must be an object")
    # Checked as the service creates the cluster: what the policy fills in first (a fixed autoscale
    # range beside num_workers is refused; a pool it fixes refuses the spec's node type), then the
    # pools' node types.
    # A spot cap the policy fills in is judged by `policies.check_spec`, which names the policy as its source.
    filled = policies.with_policy_values(data, spec, spec, but=policies.CAP_ONLY) if data is not None else spec
    pools.check_spec(data, filled)
    try:
        backend.validate_cluster_spec(pools.resolve_spec(data, filled) if data is not None else spec)
    except (ValueError, KeyError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        raise invalid(f"Invalid {where}: {msg}") from exc
    if data is not None:
        policies.check_spec(data, spec)


def _with_format(settings: dict[str, Any]) -> dict[str, Any]:
    settings = copy.deepcopy(settings)
    settings.setdefault("format", "MULTI_TASK")
    settings.setdefault("max_concurrent_runs", 1)
    if isinstance(settings.get("schedule"), dict):
        # The service reads an unpaused schedule back when pause_status was not sent.
        settings["schedule"].setdefault("pause_status", "UNPAUSED")
    return settings


def create(data: dict[str, Any], body: dict[str, Any], job_id: int, now_ms: int,
           backend: SimBackend) -> dict[str, Any]:
    settings = {k: v for k, v in body.items() if k not in {"access_control_list"}}
    validate_settings(settings, backend, data)
    data["jobs"][str(job_id)] = {
        "job_id": job_id,
        "creator_user_name": CREATOR,
        "run_as_user_name": run_as_name(settings),
        "created_time": now_ms,
        "settings": _with_format(settings),
    }
    data["job_days"][str(job_id)] = 0
    return {"job_id": job_id}


def run_as_name(settings: dict[str, Any]) -> str:
    """Who the job runs as: its ``run_as`` (a user, a service principal's application id, or a
    group), else its creator; jobs/get shows it as ``run_as_user_name``. A job cluster belongs to
    this principal, so it is the one its secret references are read as (secrets_api.resolve)."""
    run_as = settings.get("run_as")
    if run_as is None:
        return CREATOR
    names = [run_as.get(k) for k in ("user_name", "service_principal_name", "group_name")] \
        if isinstance(run_as, dict) else []
    given = [n for n in names if n]
    if len(given) != 1 or not isinstance(given[0], str):
        raise invalid("run_as: exactly one of user_name, service_principal_name or group_name must be set")
    return given[0]


def get_job(data: dict[str, Any], job_id: Any) -> dict[str, Any]:
    job = data["jobs"].get(str(job_id))
    if job is None:
        raise job_missing(job_id)
    return job


def parse_job_id(value: Any) -> int:
    if value is None or value == "":
        raise invalid("Missing required field: job_id")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise invalid(f"Invalid job_id: {value!r}") from exc


def list_jobs(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    limit = int_param(params, "limit", 20) or 20
    if not 1 <= limit <= 100:
        raise invalid(f"limit must be between 1 and 100, got {limit}")
    jobs = sorted(data["jobs"].values(), key=lambda j: j["job_id"])
    name = params.get("name")
    if name:
        jobs = [j for j in jobs if j["settings"].get("name", "").lower() == str(name).lower()]
    chunk, meta = page(jobs, limit=limit, page_token=params.get("page_token"),
                       offset=int_param(params, "offset", 0) or 0)
    expand = bool_param(params, "expand_tasks")
    out = []
    for job in chunk:
        job = copy.deepcopy(job)
        # jobs/list answers BaseJob, which (unlike jobs/get's Job) has no run_as_user_name: whom a job
        # runs as shows only as the ``run_as`` its settings name (none: its creator).
        job.pop("run_as_user_name", None)
        if not expand:
            # Without expand_tasks the service leaves the task and cluster details out.
            job["settings"].pop("tasks", None)
            job["settings"].pop("job_clusters", None)
        out.append(job)
    return {"jobs": out, **meta} if out else meta


def merge_settings(current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(current)
    for field, value in new.items():
        key = MERGED_ARRAYS.get(field)
        if key is None or not isinstance(value, list):
            merged[field] = copy.deepcopy(value)
            continue
        entries = list(merged.get(field) or [])
        index = {e.get(key): i for i, e in enumerate(entries)}
        for entry in value:
            if entry.get(key) in index:
                entries[index[entry.get(key)]] = copy.deepcopy(entry)
            else:
                index[entry.get(key)] = len(entries)
                entries.append(copy.deepcopy(entry))
        merged[field] = entries
    return merged


def remove_fields(settings: dict[str, Any], fields: list[str]) -> None:
    for field in fields:
        head, _, key = field.partition("/")
        if key and head in MERGED_ARRAYS:
            kf = MERGED_ARRAYS[head]
            entries = settings.get(head) or []
            if not any(e.get(kf) == key for e in entries):
                raise invalid(f"Cannot remove {field}: no entry with {kf} {key}")
            settings[head] = [e for e in entries if e.get(kf) != key]
        elif key:
            raise invalid(f"Removing nested field {field} is not supported")
        else:
            settings.pop(field, None)


# Where the state keeps the jobs the workspace's tokens may view but not manage (`set_manage`).
NOT_MANAGED_KEY = "jobs_not_managed"


def set_manage(data: dict[str, Any], job_id: int, granted: bool) -> None:
    """Give the workspace's tokens CAN_MANAGE on ``job_id`` (every job has it by default) or take it
    away, leaving CAN_VIEW (Python only): a job's own permissions, as a service principal's token
    without CAN_MANAGE on one job meets them. Then jobs/update, reset and delete answer 403."""
    kept = {int(j) for j in data.get(NOT_MANAGED_KEY) or []}
    kept = kept - {int(job_id)} if granted else kept | {int(job_id)}
    data[NOT_MANAGED_KEY] = sorted(kept)


def _check_manage(data: dict[str, Any], job_id: int) -> None:
    if job_id in {int(j) for j in data.get(NOT_MANAGED_KEY) or []}:
        # The service's wording for a principal without CAN_MANAGE on the job (unverified).
        raise ApiError(403, "PERMISSION_DENIED", f"User {CREATOR} does not have Manage permissions on Job {job_id}.")


def update(data: dict[str, Any], body: dict[str, Any], backend: SimBackend) -> dict[str, Any]:
    job = get_job(data, parse_job_id(body.get("job_id")))
    _check_manage(data, int(job["job_id"]))
    merged = merge_settings(job["settings"], body.get("new_settings") or {})
    remove_fields(merged, list(body.get("fields_to_remove") or []))
    validate_settings(merged, backend, data)
    job["run_as_user_name"] = run_as_name(merged)
    job["settings"] = _with_format(merged)
    return {}


def reset(data: dict[str, Any], body: dict[str, Any], backend: SimBackend) -> dict[str, Any]:
    job = get_job(data, parse_job_id(body.get("job_id")))
    _check_manage(data, int(job["job_id"]))
    new = body.get("new_settings")
    if not isinstance(new, dict):
        raise invalid("Missing required field: new_settings")
    validate_settings(new, backend, data)
    job["run_as_user_name"] = run_as_name(new)
    job["settings"] = _with_format(new)
    return {}


def delete(data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    job_id = parse_job_id(body.get("job_id"))
    get_job(data, job_id)
    _check_manage(data, job_id)
    del data["jobs"][str(job_id)]
    return {}
