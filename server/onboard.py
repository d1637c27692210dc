"""Which job clusters Trimtab can tune, and what onboarding adds to them (pure).

A job cluster qualifies when Trimtab can change its spec for future runs: a
``job_clusters`` entry used by a task, or a task's own ``new_cluster``. Tasks on
an ``existing_cluster_id`` (an all-purpose cluster someone else sizes) and
serverless tasks (``environment_key`` or no cluster at all) do not.

Onboarding adds to the cluster spec, without touching anything the user set:
the Trimtab init script (which starts the agent on the driver), the agent's
``spark_env_vars`` (server address, ``TRIMTAB_TLS=1`` when the server speaks TLS, and the token as a
Databricks secret reference so it never appears in the job), the ``trimtab:project-id`` tag (so
runs are attributed), and a ``cluster_log_conf`` when none is set (so event
logs are delivered for backfill). Running it twice gives the same spec.

A cluster in standard (formerly shared) access mode is onboarded only when Trimtab's init script
provably runs there (`server.standard_access`); otherwise it is skipped with what is missing.

Access mode, runtime and single node are judged on the cluster Databricks creates: the spec with
what its cluster policy fixes (and its defaults when the spec asks for them), read by import
(`server.services.job_policies`). A cluster whose policy could not be read is skipped: a policy
fixing standard access on a spec that says nothing of it fails every run once onboarded.

Import also keeps the job's own ``schedule`` with each project (`job_schedule`): it says
how often the job runs, which savings project over a year.

What onboarding writes for the agent to reach Trimtab is `server.agent_wiring`; whether another
Trimtab server took a job over since is `server.take_over`.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from server.agent_wiring import AGENT_WHEEL_ENV, SERVER_ENV, TLS_ENV, TOKEN_ENV, AgentWiring
from server.domain import JobSchedule
from server.plan.policy import ClusterPolicy
from server.spec import (
    ListedEntry,
    access_mode_label,
    canonical_json,
    pool_fields,
    single_node,
    standard_access_mode,
    task_cluster_key,
    unlisted,
)
from server.standard_access import (
    REASON_STANDARD_ACCESS,
    AllowlistMatcher,
    StandardAccess,
    script_location,
    standard_access_problem,
)

# isort: split
# Moved to `server.standard_access`, `server.agent_wiring` and `server.take_over` (and
# `runtime_version`, which this module imported from `server.spec`): imported here only so that
# callers and tests importing them from `server.onboard` keep working.
from server.agent_wiring import (  # noqa: F401
    check_agent_wheel,
    wheel_beside_script,
    wheel_locations,
    workspace_hostname,
)
from server.spec import runtime_version  # noqa: F401
from server.standard_access import (  # noqa: F401
    ALLOWLISTABLE_KINDS,
    DEFAULT_INIT_SCRIPT,
    PREFIX_MATCH,
    STANDARD_ACCESS_ENV_CUTOFF_RUNTIME,
    STANDARD_ACCESS_FIRST_RUNTIME,
    WHY_ALLOWLIST_UNREAD,
    WHY_NOT_ALLOWABLE,
    WHY_NOT_ALLOWLISTED,
    WHY_RUNTIME_NEW,
    WHY_RUNTIME_OLD,
    WHY_RUNTIME_UNKNOWN,
    allowlisted,
    init_script_info,
    runtime_problem,
    standard_access_blocker,
)
from server.take_over import TAKEN_OVER, taken_over, was_taken_over, wired_server  # noqa: F401

PROJECT_TAG = "trimtab:project-id"
# Set on the cluster by each apply, so the runs that used a recommendation are attributed exactly.
RECOMMENDATION_TAG = "trimtab:recommendation-id"

REASON_EXISTING = "runs on an existing all-purpose cluster (existing_cluster_id), which Trimtab does not size"
REASON_SERVERLESS = "serverless compute (no job cluster to tune)"
REASON_NO_TASKS = "has no tasks"
# Spark runs on the driver alone, so the decision space (worker count and type) does not apply;
# sizing the one node is not built.
REASON_SINGLE_NODE = "is a single-node cluster (Spark runs on the driver alone), which is not sized yet"
# A cluster policy fills in what decides whether a cluster can be onboarded (its access mode, runtime,
# single node): unread, onboarding could put a workspace init script on a standard-access cluster,
# which then fails every run. Left as it is instead.
REASON_POLICY_UNREAD = ("names cluster policy {policy_id}, which could not be read ({error}): whether the policy "
                        "makes it standard access (where Trimtab's init script would fail the cluster) or single "
                        "node is not known, so it is left as it is; let Trimtab's token read the policy (CAN_USE "
                        "on it) and import again")
# A pool-backed cluster is sized (its worker count: the pool fixes the node types), but a driver
# pool without a worker pool is a spec Databricks refuses ("driver_instance_pool_id: you must also
# specify instance_pool_id"): nothing that could run to tune.
REASON_POOL = ("names a driver instance pool (driver_instance_pool_id) without a worker pool "
               "(instance_pool_id), which Databricks refuses")
# A for_each_task whose nested task has its own new_cluster (not a job_clusters entry).
REASON_FOR_EACH_NEW_CLUSTER = ("task {task}: a for_each_task whose nested task has its own new_cluster, which "
                               "Trimtab does not tune yet (a job_clusters entry named by job_cluster_key is)")
# "Currently, Databricks allows at most 45 custom tags" (databricks-sdk ClusterSpec.custom_tags).
MAX_CUSTOM_TAGS = 45
TRIMTAB_TAGS = (PROJECT_TAG, RECOMMENDATION_TAG)
REASON_TOO_MANY_TAGS = ("has {count} custom_tags; Databricks allows at most 45 and Trimtab adds 2 "
                        "(trimtab:project-id, trimtab:recommendation-id), so the job update would be refused: "
                        "remove tags until it has at most {room}")
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
    # A standard-access cluster was left out only because the allowlist was not read yet: import
    # reads it (once) and qualifies the job again.
    needs_allowlist: bool = False
    # A standard-access cluster was left out only over the allowlist (not on it, or it could not be
    # read): allowlisting Trimtab's script changes that without any change to the job.
    allowlist_bound: bool = False
    # The cluster policies the clusters left out name: an admin editing one (or letting Trimtab's token
    # read it) may change the answer without any change to the job.
    left_out_policies: tuple[str, ...] = ()

    @property
    def skipped_reason(self) -> str | None:
        if self.clusters:
            return None
        return "; ".join(dict.fromkeys(self.notes)) or REASON_NO_TASKS


@dataclass(frozen=True)
class ImportTarget:
    """The workspace a job is imported into, as qualification needs it: a cluster on the other
    cloud is left out (`cluster_cloud`), naming the command that puts the workspace's cloud right."""

    name: str
    host: str
    cloud: str  # aws | azure
    # The node types the price catalog knows on each cloud (a type known on one cloud only names it).
    node_types: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # A node type's price catalog entry on this workspace's cloud (`PriceCatalog.entry`): whether it has
    # GPUs, which decides whether DATA_SECURITY_MODE_AUTO is standard access (`server.spec.auto_is_standard`),
    # is the catalog's word where it states it, as for the planner and the apply; the name's otherwise.
    listed: ListedEntry = unlisted


CLOUD_LABELS = {"aws": "AWS", "azure": "Azure"}
# The attributes block a cluster spec has only on its cloud (Databricks refuses the other's).
CLOUD_ATTRIBUTES = {"azure": "azure_attributes", "aws": "aws_attributes"}
REASON_OTHER_CLOUD = (
    "is on {other_label} ({evidence}), but workspace {name!r} was added with --cloud {cloud}: its runs could "
    "not be priced. If the workspace is on {other_label}: `trimtab workspace add {name} --host {host} "
    "--token-env VAR --cloud {other} --replace` (a workspace's cloud changes only while it has no project; "
    "with projects, add it again under a new name), then import the job again")


def cluster_cloud(spec: Mapping[str, Any], node_types: Mapping[str, frozenset[str]]) -> tuple[str, str] | None:
    """The cloud a cluster spec says it runs on and what says so ("azure_attributes", "node type
    m5d.xlarge"), or None when nothing does: its attributes block, else a node type (the workers',
    then the driver's) that ``node_types`` (cloud -> types the price catalog knows) has on one cloud
    only. A pool-backed spec without either says nothing: the pool's node types are not judged."""
    for cloud, block in CLOUD_ATTRIBUTES.items():
        if isinstance(spec.get(block), Mapping) and spec[block]:
            return cloud, block
    for key in ("node_type_id", "driver_node_type_id"):
        node = spec.get(key)
        if isinstance(node, str) and node:
            clouds = [cloud for cloud, known in node_types.items() if node in known]
            if len(clouds) == 1:
                return clouds[0], f"node type {node}"
    return None


def other_cloud_note(spec: Mapping[str, Any], target: ImportTarget | None) -> str | None:
    """Why a cluster is left out for being on the other cloud than ``target``'s; None when it is not.
    Imported, every run would be stored unpriced (the catalog has no price of its node type on the
    workspace's cloud) and planning would send the user to refresh prices that are not missing."""
    if target is None or target.cloud not in CLOUD_LABELS:
        return None
    found = cluster_cloud(spec, target.node_types)
    if found is None or found[0] == target.cloud:
        return None
    other, evidence = found
    return REASON_OTHER_CLOUD.format(other_label=CLOUD_LABELS[other], evidence=evidence, name=target.name,
                                     cloud=target.cloud, host=target.host, other=other)


def qualify(job: Mapping[str, Any], access: StandardAccess | None = None,
            into: ImportTarget | None = None,
            policies: Mapping[str, ClusterPolicy | str] | None = None) -> JobQualification:
    """Sort a job's clusters (``jobs/get`` or expanded ``jobs/list`` entry) into tunable or not.

    ``access`` judges standard-access clusters (`standard_access_problem`); without it they are
    judged with the default workspace-file script and no allowlist, so they are left out. With
    ``into`` (the workspace imported into) a cluster on the other cloud than the workspace's is left
    out (`other_cloud_note`), and whether a node type has GPUs (which decides DATA_SECURITY_MODE_AUTO's
    access mode) is its price catalog entry's word (`ImportTarget.listed`); without it, the name's.

    ``policies``: the cluster policies the job's clusters name (`named_policies`), by id, as read
    (a `ClusterPolicy`), or why one could not be read. Access mode, runtime and single node are
    judged on the cluster Databricks creates (`ClusterPolicy.filled_spec`: the spec with what its
    policy fixes, and its defaults when the spec asks for them); a cluster whose policy is not among
    them, or was not read, is left out (`REASON_POLICY_UNREAD`)."""
    access = access or StandardAccess()
    settings = job.get("settings") or {}
    job_id = int(job["job_id"])
    name = str(settings.get("name") or f"job {job_id}")
    clusters, notes = _task_clusters(settings, job_id, name)
    needs_allowlist = allowlist_bound = False
    policies_left_out: list[str] = []
    for key, target in list(clusters.items()):
        over = custom_tags_over_limit(target.spec)
        elsewhere = other_cloud_note(target.spec, into)
        policy_id = str(target.spec.get("policy_id") or "")
        policy = (policies or {}).get(policy_id) if policy_id else None
        # The cluster as Databricks creates it: what it is (access mode, runtime, single node) is as
        # much its policy's as its spec's. The spec onboarded stays the user's.
        created = policy.filled_spec(target.spec) if isinstance(policy, ClusterPolicy) else target.spec
        left_out = len(notes)
        if elsewhere is not None:
            del clusters[key]
            notes.append(f"cluster {key!r} " + elsewhere)
        elif over is not None:
            del clusters[key]
            notes.append(f"cluster {key!r} " + over)
        elif pool_fields(target.spec) and not target.spec.get("instance_pool_id"):
            del clusters[key]
            notes.append(f"cluster {key!r} " + REASON_POOL)
        elif policy_id and not isinstance(policy, ClusterPolicy):
            del clusters[key]
            notes.append(f"cluster {key!r} " + REASON_POLICY_UNREAD.format(policy_id=policy_id,
                                                                           error=policy or "not read"))
        elif single_node(created):
            del clusters[key]
            by_policy = f" (made so by its {policy.label})" if isinstance(policy, ClusterPolicy) and \
                not single_node(target.spec) else ""
            notes.append(f"cluster {key!r} " + REASON_SINGLE_NODE + by_policy)
        elif standard_access_mode(created, into.listed if into is not None else unlisted):
            why = standard_access_problem(created, access)
            if why is not None:
                del clusters[key]
                only_the_allowlist = standard_access_problem(created, _assume_allowlisted(access)) is None
                needs_allowlist = needs_allowlist or (only_the_allowlist and not access.allowlist_known)
                allowlist_bound = allowlist_bound or only_the_allowlist
                notes.append(f"cluster {key!r} " + REASON_STANDARD_ACCESS.format(
                    mode=_mode_words(created, target.spec, policy), why=why))
        if policy_id and len(notes) > left_out:
            policies_left_out.append(policy_id)
    return JobQualification(job_id, name, list(clusters.values()), notes, needs_allowlist, allowlist_bound,
                            tuple(dict.fromkeys(policies_left_out)))


def cluster_keys(job: Mapping[str, Any]) -> list[str]:
    """The keys of the job clusters a job's tasks run on (``job_cluster_key``, ``task:<task_key>``), in
    task order, each once, qualified or not: what a job would have a project for each of, had every
    cluster qualified (`qualify`). From a ``jobs/get`` or expanded ``jobs/list`` entry."""
    settings = job.get("settings") or {}
    return list(_task_clusters(settings, int(job.get("job_id") or 0), "")[0])


def _task_clusters(settings: Mapping[str, Any], job_id: int,
                   name: str) -> tuple[dict[str, ClusterTarget], list[str]]:
    """(the job clusters the tasks run on by key, why the other tasks run on none of them): the
    clusters `qualify` then judges one by one."""
    shared = {e.get("job_cluster_key"): e.get("new_cluster") for e in settings.get("job_clusters") or []}
    clusters: dict[str, ClusterTarget] = {}
    notes: list[str] = []
    for outer in settings.get("tasks") or []:
        task_key = str(outer.get("task_key", "?"))
        task = _compute_task(outer)
        if task is not outer and isinstance(task.get("new_cluster"), dict):
            # The nested task's own cluster lives inside for_each_task, where the spec update
            # (server.spec.cluster_entry_update) does not reach: not onboarded, said why.
            notes.append(REASON_FOR_EACH_NEW_CLUSTER.format(task=task_key))
            continue
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
    return clusters, notes


def _mode_words(created: Mapping[str, Any], spec: Mapping[str, Any], policy: ClusterPolicy | str | None) -> str:
    """The access mode of the cluster Databricks creates, as a reason names it, saying when its policy
    set it ("USER_ISOLATION, from cluster policy "uc" (0A1B)"): the job's own spec says nothing of it."""
    label = access_mode_label(created)
    if isinstance(policy, ClusterPolicy) and created.get("data_security_mode") != spec.get("data_security_mode"):
        return f"{label}, from its {policy.label}"
    return label


def named_policies(job: Mapping[str, Any]) -> list[str]:
    """The ids of the cluster policies a job's clusters name (job_clusters and tasks' own
    new_cluster, nested for_each tasks included), each once: what `qualify` needs read."""
    settings = job.get("settings") or {}
    specs = [e.get("new_cluster") for e in settings.get("job_clusters") or [] if isinstance(e, Mapping)]
    specs += [_compute_task(t).get("new_cluster") for t in settings.get("tasks") or [] if isinstance(t, Mapping)]
    ids = [str(s.get("policy_id")) for s in specs if isinstance(s, Mapping) and s.get("policy_id")]
    return list(dict.fromkeys(ids))


def _compute_task(task: Mapping[str, Any]) -> Mapping[str, Any]:
    """The task whose compute a task runs on: a ``for_each_task`` runs its nested ``task`` (on that
    task's job cluster or cluster) once per input, so that is where its cluster is named."""
    nested = task.get("for_each_task")
    if isinstance(nested, Mapping) and isinstance(nested.get("task"), Mapping):
        return _compute_task(nested["task"])
    return task


def custom_tags_over_limit(spec: Mapping[str, Any]) -> str | None:
    """Why the cluster's ``custom_tags`` leave no room for Trimtab's tags (None: they do).

    Databricks allows at most `MAX_CUSTOM_TAGS` custom tags on a cluster and refuses the spec
    beyond that; onboarding adds `PROJECT_TAG` and each apply `RECOMMENDATION_TAG`, so a cluster
    already near the limit would have its job update (or a later apply) refused."""
    tags = spec.get("custom_tags")
    own = {k for k in tags if k not in TRIMTAB_TAGS} if isinstance(tags, Mapping) else set()
    if len(own) + len(TRIMTAB_TAGS) <= MAX_CUSTOM_TAGS:
        return None
    return REASON_TOO_MANY_TAGS.format(count=len(own), room=MAX_CUSTOM_TAGS - len(TRIMTAB_TAGS))


def _assume_allowlisted(access: StandardAccess) -> StandardAccess:
    """``access`` with an allowlist covering its script: what the allowlist alone would decide."""
    _, destination = script_location(access.init_script)
    return StandardAccess(access.init_script, (AllowlistMatcher(destination),))


def run_as_principal(job: Mapping[str, Any]) -> str:
    """Who a job's clusters run as, and so whose permission Databricks reads their secret
    references with ("The cluster owner must have CAN READ permission on the secret scope"): the
    ``settings.run_as`` user, service principal (application id) or group, else the
    ``run_as_user_name`` jobs/get reports, else the job's creator."""
    run_as = (job.get("settings") or {}).get("run_as")
    if isinstance(run_as, Mapping):
        for field_name in ("user_name", "service_principal_name", "group_name"):
            if run_as.get(field_name):
                return str(run_as[field_name])
    return str(job.get("run_as_user_name") or job.get("creator_user_name") or "")


def job_schedule(settings: Mapping[str, Any]) -> JobSchedule | None:
    """The job's ``schedule`` (Quartz cron) or periodic trigger (``trigger.periodic``: every
    ``interval`` HOURS, DAYS or WEEKS) as a `JobSchedule`; None when it has neither (triggered by
    hand, an orchestrator, a file-arrival, table-update or continuous trigger). A cron expression is
    kept as written: whether it can be counted is savings' concern, not import's."""
    raw = settings.get("schedule")
    limit = settings.get("max_concurrent_runs")
    # Runs at a time: a schedule firing faster than its runs end starts no more than this allows.
    concurrent = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0 else 1
    if isinstance(raw, Mapping) and raw.get("quartz_cron_expression"):
        return JobSchedule(quartz_cron_expression=str(raw["quartz_cron_expression"]),
                           timezone_id=str(raw.get("timezone_id") or "UTC"),
                           paused=raw.get("pause_status") == "PAUSED", max_concurrent_runs=concurrent)
    trigger = settings.get("trigger")
    periodic = trigger.get("periodic") if isinstance(trigger, Mapping) else None
    if isinstance(periodic, Mapping):
        unit_s = _PERIODIC_UNIT_S.get(str(periodic.get("unit") or "").upper())
        interval = periodic.get("interval")
        if unit_s and isinstance(interval, int | float) and interval > 0:
            return JobSchedule(quartz_cron_expression="", paused=trigger.get("pause_status") == "PAUSED",
                               interval_s=float(interval) * unit_s, max_concurrent_runs=concurrent)
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
    if wiring.agent_wheel:
        env[AGENT_WHEEL_ENV] = wiring.agent_wheel
    if wiring.tls:
        # Left as it is otherwise: a TLS-terminating proxy in front of a plaintext server is set by hand.
        env[TLS_ENV] = "1"
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


