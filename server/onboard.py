"""Which job clusters Trimtab can tune, and what onboarding adds to them (pure).

A job cluster qualifies when Trimtab can change its spec for future runs: a
``job_clusters`` entry used by a task, or a task's own ``new_cluster``. Tasks on
an ``existing_cluster_id`` (an all-purpose cluster someone else sizes) and
serverless tasks (``environment_key`` or no cluster at all) do not.

Onboarding adds to the cluster spec, without touching anything the user set:
the Trimtab init script (which starts the agent on the driver), the agent's
``spark_env_vars`` (server address, and the token as a Databricks secret
reference so it never appears in the job), the ``trimtab:project-id`` tag (so
runs are attributed), and a ``cluster_log_conf`` when none is set (so event
logs are delivered for backfill). Running it twice gives the same spec.

Import also keeps the job's own ``schedule`` with each project (`job_schedule`): it says
how often the job runs, which savings project over a year.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from server.domain import JobSchedule
from server.spec import canonical_json, pool_fields, single_node, standard_access_mode, task_cluster_key

PROJECT_TAG = "trimtab:project-id"
# Set on the cluster by each apply, so the runs that used a recommendation are attributed exactly.
RECOMMENDATION_TAG = "trimtab:recommendation-id"
SERVER_ENV = "TRIMTAB_SERVER"
TOKEN_ENV = "TRIMTAB_TOKEN"

REASON_EXISTING = "runs on an existing all-purpose cluster (existing_cluster_id), which Trimtab does not size"
REASON_SERVERLESS = "serverless compute (no job cluster to tune)"
REASON_NO_TASKS = "has no tasks"
# Spark runs on the driver alone, so the decision space (worker count and type) does not apply;
# sizing the one node is not built.
REASON_SINGLE_NODE = "is a single-node cluster (Spark runs on the driver alone), which is not sized yet"
# Onboarding adds Trimtab's init script, which Unity Catalog refuses to run on standard-access
# compute unless a metastore admin allowlisted it: the cluster would fail to start, and with it
# the job. Trimtab never breaks a cluster, so such clusters are left alone.
REASON_STANDARD_ACCESS = ("runs in standard (shared) access mode ({mode}), where Unity Catalog runs only "
                          "allowlisted init scripts; onboarding would fail the cluster, so it is left alone")
# A pool-backed cluster is sized (its worker count: the pool fixes the node types), but a driver
# pool without a worker pool is a spec Databricks refuses ("driver_instance_pool_id: you must also
# specify instance_pool_id"): nothing that could run to tune.
REASON_POOL = ("names a driver instance pool (driver_instance_pool_id) without a worker pool "
               "(instance_pool_id), which Databricks refuses")
# Tasks that run on no cluster of their own: what they run on instead.
OTHER_COMPUTE = {
    "sql_task": "runs on a SQL warehouse",
    "dbt_task": "runs on a SQL warehouse",
    "pipeline_task": "runs a Lakeflow/DLT pipeline (its own compute)",
    "run_job_task": "triggers another job (import that job instead)",
    "condition_task": "is a condition (no compute)",
    "dashboard_task": "refreshes a dashboard on a SQL warehouse",
}


@dataclass(frozen=True)
class AgentWiring:
    """How onboarded clusters reach Trimtab."""

    server_address: str  # host:port the agent streams to
    secret_scope: str = "trimtab"
    secret_key: str = "agent-token"
    # An InitScriptInfo (exactly one of workspace/volumes/dbfs/file/s3/abfss/gcs). A workspace
    # file by default: import can upload it, and Databricks no longer runs DBFS init scripts.
    init_script: Mapping[str, Any] = field(
        default_factory=lambda: {"workspace": {"destination": "/Shared/trimtab/trimtab-init.sh"}})
    log_destination: str = "dbfs:/cluster-logs"
    # Import uploads Trimtab's init script to a workspace or DBFS destination; off when it is
    # managed elsewhere (a UC volume, cloud storage, an allowlisted path).
    upload_init_script: bool = True

    @property
    def token_reference(self) -> str:
        return "{{secrets/" + self.secret_scope + "/" + self.secret_key + "}}"


@dataclass(frozen=True)
class ClusterTarget:
    """One qualified job cluster: the future project's identity and its current spec."""

    job_id: int
    job_name: str
    cluster_key: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class JobQualification:
    job_id: int
    job_name: str
    clusters: list[ClusterTarget]
    # Why tasks were left out (one line each); when `clusters` is empty, why the job was skipped.
    notes: list[str]

    @property
    def skipped_reason(self) -> str | None:
        if self.clusters:
            return None
        return "; ".join(dict.fromkeys(self.notes)) or REASON_NO_TASKS


def qualify(job: Mapping[str, Any]) -> JobQualification:
    """Sort a job's clusters (``jobs/get`` or expanded ``jobs/list`` entry) into tunable or not."""
    settings = job.get("settings") or {}
    job_id = int(job["job_id"])
    name = str(settings.get("name") or f"job {job_id}")
    shared = {e.get("job_cluster_key"): e.get("new_cluster") for e in settings.get("job_clusters") or []}
    clusters: dict[str, ClusterTarget] = {}
    notes: list[str] = []
    for task in settings.get("tasks") or []:
        task_key = str(task.get("task_key", "?"))
        if task.get("job_cluster_key"):
            key = str(task["job_cluster_key"])
            spec = shared.get(key)
            if isinstance(spec, dict) and key not in clusters:
                clusters[key] = ClusterTarget(job_id, name, key, copy.deepcopy(spec))
            elif not isinstance(spec, dict):
                notes.append(f"task {task_key}: job cluster {key!r} is not defined in job_clusters")
        elif isinstance(task.get("new_cluster"), dict):
            key = task_cluster_key(task_key)
            clusters[key] = ClusterTarget(job_id, name, key, copy.deepcopy(task["new_cluster"]))
        elif task.get("existing_cluster_id"):
            notes.append(REASON_EXISTING)
        elif task.get("environment_key"):
            notes.append(REASON_SERVERLESS)
        else:
            kind = next((k for k in OTHER_COMPUTE if k in task), None)
            notes.append(OTHER_COMPUTE[kind] if kind else REASON_SERVERLESS)
    if not settings.get("tasks"):
        notes.append(REASON_NO_TASKS)
    for key, target in list(clusters.items()):
        if pool_fields(target.spec) and not target.spec.get("instance_pool_id"):
            del clusters[key]
            notes.append(f"cluster {key!r} " + REASON_POOL)
        elif single_node(target.spec):
            del clusters[key]
            notes.append(f"cluster {key!r} " + REASON_SINGLE_NODE)
        elif standard_access_mode(target.spec):
            del clusters[key]
            notes.append(f"cluster {key!r} " + REASON_STANDARD_ACCESS.format(mode=target.spec["data_security_mode"]))
    return JobQualification(job_id, name, list(clusters.values()), notes)


def job_schedule(settings: Mapping[str, Any]) -> JobSchedule | None:
    """The job's ``schedule`` (Quartz cron) or periodic trigger (``trigger.periodic``: every
    ``interval`` HOURS, DAYS or WEEKS) as a `JobSchedule`; None when it has neither (triggered by
    hand, an orchestrator, a file-arrival, table-update or continuous trigger). A cron expression is
    kept as written: whether it can be counted is savings' concern, not import's."""
    raw = settings.get("schedule")
    if isinstance(raw, Mapping) and raw.get("quartz_cron_expression"):
        return JobSchedule(quartz_cron_expression=str(raw["quartz_cron_expression"]),
                           timezone_id=str(raw.get("timezone_id") or "UTC"),
                           paused=raw.get("pause_status") == "PAUSED")
    trigger = settings.get("trigger")
    periodic = trigger.get("periodic") if isinstance(trigger, Mapping) else None
    if isinstance(periodic, Mapping):
        unit_s = _PERIODIC_UNIT_S.get(str(periodic.get("unit") or "").upper())
        interval = periodic.get("interval")
        if unit_s and isinstance(interval, int | float) and interval > 0:
            return JobSchedule(quartz_cron_expression="", paused=trigger.get("pause_status") == "PAUSED",
                               interval_s=float(interval) * unit_s)
    return None


# Units of a periodic trigger's interval (Jobs API `trigger.periodic.unit`), in seconds.
_PERIODIC_UNIT_S = {"HOURS": 3600.0, "DAYS": 86400.0, "WEEKS": 7 * 86400.0}


def onboard_spec(spec: Mapping[str, Any], *, project_id: str, wiring: AgentWiring) -> dict[str, Any]:
    """The complete cluster spec with Trimtab wired in; idempotent (``f(f(x)) == f(x)``)."""
    out = copy.deepcopy(dict(spec))
    scripts = list(out.get("init_scripts") or [])
    if dict(wiring.init_script) not in scripts:
        # Appended: the user's own scripts keep their order and run first.
        scripts.append(copy.deepcopy(dict(wiring.init_script)))
    out["init_scripts"] = scripts
    env = dict(out.get("spark_env_vars") or {})
    env[SERVER_ENV] = wiring.server_address
    env[TOKEN_ENV] = wiring.token_reference
    out["spark_env_vars"] = env
    tags = dict(out.get("custom_tags") or {})
    tags[PROJECT_TAG] = project_id
    out["custom_tags"] = tags
    if not out.get("cluster_log_conf"):
        out["cluster_log_conf"] = {"dbfs": {"destination": wiring.log_destination}}
    return out


def is_onboarded(spec: Mapping[str, Any], *, project_id: str, wiring: AgentWiring) -> bool:
    return onboard_spec(spec, project_id=project_id, wiring=wiring) == dict(spec)


def spec_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, label: str) -> str:
    """Unified diff of two specs as sorted JSON ("" when equal)."""
    a = canonical_json(before).splitlines(keepends=True) if before is not None else []
    b = canonical_json(after).splitlines(keepends=True) if after is not None else []
    lines = difflib.unified_diff(a, b, fromfile=f"{label} (current)", tofile=f"{label} (new)")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
