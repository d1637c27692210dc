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

A cluster in standard (formerly shared) access mode runs only init scripts on the Unity
Catalog metastore's INIT_SCRIPT allowlist (Databricks Runtime 13.3 LTS and above), and on
runtime 19 and above its init scripts see only Databricks' own environment variables. Such a
cluster is onboarded only when that is provably safe (`standard_access_problem`): Trimtab's init
script in a volume or cloud storage, covered by the allowlist, on runtime 13.3 to 18.x.
Otherwise it is skipped with what is missing, since a script the service refuses fails the
cluster, and with it the job.

Access mode, runtime and single node are judged on the cluster Databricks creates: the spec with
what its cluster policy fixes (and its defaults when the spec asks for them), read by import
(`server.services.job_policies`). A cluster whose policy could not be read is skipped: a policy
fixing standard access on a spec that says nothing of it fails every run once onboarded.

Import also keeps the job's own ``schedule`` with each project (`job_schedule`): it says
how often the job runs, which savings project over a year.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from server.config import is_local_host, split_host_port
from server.domain import JobSchedule, Project
from server.errors import FailedPrecondition
from server.plan.policy import ClusterPolicy
from server.spec import (
    access_mode_label,
    canonical_json,
    pool_fields,
    runtime_version,
    single_node,
    standard_access_mode,
    task_cluster_key,
)
from server.write_intent import INTENT_KEY

PROJECT_TAG = "trimtab:project-id"
# Set on the cluster by each apply, so the runs that used a recommendation are attributed exactly.
RECOMMENDATION_TAG = "trimtab:recommendation-id"
SERVER_ENV = "TRIMTAB_SERVER"
TOKEN_ENV = "TRIMTAB_TOKEN"
# The agent's switch to TLS (agent/config.py `tls`). It verifies the server against the node's CA
# roots; a private CA's PEM file on the cluster is named by hand in the job's spark_env_vars
# (docs/operations.md, TLS): a path on the clusters is nothing the server knows.
TLS_ENV = "TRIMTAB_TLS"
# Where the init script installs the agent from (init_scripts/trimtab-init.sh): Databricks fetches
# the script alone, so the wheel must be somewhere the node reads on its own.
AGENT_WHEEL_ENV = "TRIMTAB_AGENT_WHEEL"

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
# Standard access: why Trimtab's init script cannot go on the cluster (each says what an admin can do).
# The first runtime whose standard access runs allowlisted init scripts, and the first whose init
# scripts no longer see spark_env_vars (where the agent finds TRIMTAB_SERVER and its token).
STANDARD_ACCESS_FIRST_RUNTIME = (13, 3)
STANDARD_ACCESS_ENV_CUTOFF_RUNTIME = (19, 0)
REASON_STANDARD_ACCESS = "runs in standard (shared) access mode ({mode}), where {why}"
WHY_RUNTIME_UNKNOWN = ("init scripts run only from runtime 13.3 LTS, and its runtime {version!r} does not "
                       "say which it is; set a numbered spark_version (13.3 to 18.x) to onboard it")
WHY_RUNTIME_OLD = ("init scripts run only from runtime 13.3 LTS; its runtime is {version}: upgrade the "
                   "job to 13.3 to 18.x to onboard it")
WHY_RUNTIME_NEW = ("on runtime 19 and above init scripts see only Databricks' own environment variables, so "
                   "the agent would not find Trimtab (TRIMTAB_SERVER comes from spark_env_vars); its runtime "
                   "is {version}")
WHY_NOT_ALLOWABLE = ("only allowlisted init scripts in a Unity Catalog volume or cloud storage run, and "
                     "Trimtab's init script {script} is {kind}; set TRIMTAB_INIT_SCRIPT to a /Volumes path "
                     "(or an s3://, abfss://, gs:// URI) and allowlist it")
WHY_ALLOWLIST_UNREAD = ("only allowlisted init scripts run, and the metastore's INIT_SCRIPT allowlist could not "
                        "be read ({error}); a metastore admin can allowlist {script} and grant Trimtab's "
                        "token MANAGE ALLOWLIST on the metastore so import can check it")
WHY_NOT_ALLOWLISTED = ("only allowlisted init scripts run, and {script} is not on the metastore's INIT_SCRIPT "
                       "allowlist; a metastore admin can add it (or its folder) as PREFIX_MATCH")
# Where each InitScriptInfo kind lives, for the reason above.
_SCRIPT_KIND_WORDS = {"workspace": "a workspace file", "dbfs": "on DBFS", "file": "a local file on the node"}
# Kinds standard access can run (when allowlisted): Unity Catalog volumes and cloud storage.
ALLOWLISTABLE_KINDS = frozenset({"volumes", "s3", "abfss", "gcs"})
# The allowlist's only match type (databricks.sdk.service.catalog.MatchType; the REST reference also
# lists MATCH_TYPE_UNSPECIFIED, which matches nothing here): any other is not trusted to cover a path.
PREFIX_MATCH = "PREFIX_MATCH"
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


DEFAULT_INIT_SCRIPT = "/Shared/trimtab/trimtab-init.sh"
# Cloud storage URI schemes and the InitScriptInfo kind each is (`gs://` is the `gcs` kind).
_CLOUD_KINDS = (("s3://", "s3"), ("abfss://", "abfss"), ("gs://", "gcs"))


def init_script_info(location: str) -> dict[str, dict[str, str]]:
    """The InitScriptInfo for where Trimtab's init script lives (``TRIMTAB_INIT_SCRIPT``).

    ``/Volumes/<catalog>/<schema>/<volume>/...`` is a Unity Catalog volume, any other absolute
    path a workspace file, ``dbfs:/``, ``s3://``, ``abfss://`` and ``gs://`` URIs their kinds.
    Raises ValueError, saying what is accepted, for anything else.
    """
    text = location.strip()
    accepted = ("a workspace path (/Shared/...), a /Volumes/<catalog>/<schema>/<volume>/... path, "
                "or a dbfs:/, s3://, abfss:// or gs:// URI")
    if not text or text.endswith("/") or any(c.isspace() for c in text):
        raise ValueError(f"{location!r} is not an init script location: expected a file, {accepted}")
    if ".." in text.split("/"):
        raise ValueError(f"{location!r}: an init script path must not contain '..'")
    for scheme, kind in _CLOUD_KINDS:
        if text.startswith(scheme):
            if len(text) == len(scheme) or "/" not in text[len(scheme):]:
                raise ValueError(f"{location!r}: expected {scheme}<bucket or container>/<path to the script>")
            return {kind: {"destination": text}}
    if text.startswith("dbfs:/"):
        return {"dbfs": {"destination": text}}
    if text.startswith("/Volumes/") or text == "/Volumes":
        # A file sits inside a volume: /Volumes/catalog/schema/volume/file at least.
        if len([p for p in text.split("/") if p]) < 5:
            raise ValueError(f"{location!r}: expected /Volumes/<catalog>/<schema>/<volume>/<file>")
        return {"volumes": {"destination": text}}
    if text.startswith("/"):
        return {"workspace": {"destination": text}}
    raise ValueError(f"{location!r} is not an init script location: expected {accepted}")


def script_location(info: Mapping[str, Any]) -> tuple[str, str]:
    """An InitScriptInfo's kind and destination (``("", "")`` for one without a destination)."""
    for kind, value in info.items():
        if isinstance(value, Mapping) and value.get("destination"):
            return str(kind), str(value["destination"])
    return "", ""


@dataclass(frozen=True)
class AllowlistMatcher:
    """One entry of the metastore's INIT_SCRIPT allowlist."""

    artifact: str
    match_type: str = PREFIX_MATCH


@dataclass(frozen=True)
class StandardAccess:
    """What decides whether Trimtab's init script may go on a standard-access cluster.

    Import fills it in: the script the wiring puts on clusters and, once some job needs it, the
    metastore's INIT_SCRIPT allowlist (``allowlist`` None: not read; ``allowlist_error``: why it
    could not be read)."""

    init_script: Mapping[str, Any] = field(default_factory=lambda: init_script_info(DEFAULT_INIT_SCRIPT))
    allowlist: tuple[AllowlistMatcher, ...] | None = None
    allowlist_error: str = ""

    @property
    def allowlist_known(self) -> bool:
        return self.allowlist is not None or bool(self.allowlist_error)


def allowlisted(artifact: str, matchers: Sequence[AllowlistMatcher]) -> bool:
    """Whether a matcher covers ``artifact``: a PREFIX_MATCH equal to it, or a prefix of it that
    ends on a path-segment boundary (``/Volumes/a/b`` covers ``/Volumes/a/b/x.sh``, not
    ``/Volumes/a/bc/x.sh``). Stricter than a bare string prefix on purpose: onboarding must be
    certain the service runs the script, and a folder is what admins allowlist."""
    for matcher in matchers:
        if matcher.match_type != PREFIX_MATCH or not matcher.artifact:
            continue
        prefix = matcher.artifact
        if artifact == prefix or artifact.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return True
    return False


def runtime_problem(spec: Mapping[str, Any]) -> str | None:
    """Why a standard-access cluster's runtime cannot run Trimtab's agent from an init script
    (outside 13.3 to 18.x, or unreadable); None when it can."""
    raw_version = spec.get("spark_version")
    version = runtime_version(raw_version)
    if version is None:
        return WHY_RUNTIME_UNKNOWN.format(version=str(raw_version or ""))
    shown = f"{version[0]}.{version[1]}"
    if version < STANDARD_ACCESS_FIRST_RUNTIME:
        return WHY_RUNTIME_OLD.format(version=shown)
    if version >= STANDARD_ACCESS_ENV_CUTOFF_RUNTIME:
        return WHY_RUNTIME_NEW.format(version=shown)
    return None


def standard_access_problem(spec: Mapping[str, Any], access: StandardAccess) -> str | None:
    """Why Trimtab's init script cannot safely go on this standard-access cluster; None when it can.

    "Unknown" is never safe: an unreadable runtime or an allowlist not read is a reason too."""
    why = runtime_problem(spec)
    if why is not None:
        return why
    kind, destination = script_location(access.init_script)
    if kind not in ALLOWLISTABLE_KINDS:
        return WHY_NOT_ALLOWABLE.format(script=destination or dict(access.init_script),
                                        kind=_SCRIPT_KIND_WORDS.get(kind, f"of kind {kind or 'unknown'}"))
    if access.allowlist_error:
        return WHY_ALLOWLIST_UNREAD.format(error=access.allowlist_error, script=destination)
    if access.allowlist is None:
        return WHY_ALLOWLIST_UNREAD.format(error="not read", script=destination)
    if not allowlisted(destination, access.allowlist):
        return WHY_NOT_ALLOWLISTED.format(script=destination)
    return None


def standard_access_blocker(spec: Mapping[str, Any]) -> str | None:
    """Why an onboarded cluster that is in standard access mode *now* cannot run Trimtab's agent,
    as far as its spec says; None when the spec does not say (or it is not standard access).

    Import reads the allowlist before onboarding such a cluster; this is for one that became
    standard access since (a user edit) or moved to another runtime. A runtime outside 13.3 to
    18.x, or an init script of a kind standard access never runs (a workspace or DBFS file), fails
    the cluster or blinds the agent whatever the allowlist says. Whether a volume or cloud script
    is allowlisted only the allowlist tells, so that case is not judged here."""
    if not standard_access_mode(spec):
        return None
    mode = access_mode_label(spec)
    for script in [s for s in spec.get("init_scripts") or [] if isinstance(s, Mapping)]:
        kind, destination = script_location(script)
        if kind and kind not in ALLOWLISTABLE_KINDS:
            return REASON_STANDARD_ACCESS.format(mode=mode, why=(
                f"only allowlisted init scripts in a Unity Catalog volume or cloud storage run, and its init "
                f"script {destination} is {_SCRIPT_KIND_WORDS.get(kind, kind)}, so the cluster fails at start"))
    why = runtime_problem(spec)
    return REASON_STANDARD_ACCESS.format(mode=mode, why=why) if why is not None else None


@dataclass(frozen=True)
class AgentWiring:
    """How onboarded clusters reach Trimtab."""

    server_address: str  # host:port the agent streams to
    secret_scope: str = "trimtab"
    secret_key: str = "agent-token"
    # An InitScriptInfo (exactly one of workspace/volumes/dbfs/file/s3/abfss/gcs). A workspace
    # file by default: import can upload it, and Databricks no longer runs DBFS init scripts.
    init_script: Mapping[str, Any] = field(default_factory=lambda: init_script_info(DEFAULT_INIT_SCRIPT))
    log_destination: str = "dbfs:/cluster-logs"
    # Import uploads Trimtab's init script to a workspace, DBFS or volume destination; off when
    # it is managed elsewhere (cloud storage is never uploaded: Trimtab holds no cloud credentials).
    upload_init_script: bool = True
    # The server speaks only TLS (--tls-cert/--tls-key): agents must too, or every call fails.
    tls: bool = False
    # Where clusters install the agent from (`check_agent_wheel`); "" lets import upload the wheel
    # beside an uploaded init script (`wheel_beside_script`), and refuse when it cannot.
    agent_wheel: str = ""

    @property
    def token_reference(self) -> str:
        return "{{secrets/" + self.secret_scope + "/" + self.secret_key + "}}"

    @property
    def only_local(self) -> bool:
        """The address agents are told is loopback or a wildcard: no cluster can reach it."""
        try:
            host, _ = split_host_port(self.server_address, allow_port_zero=True)
        except ValueError:
            return False  # checked as a setting (advertise) before it gets here
        return is_local_host(host)

    def check_reachable_from(self, workspace_host: str) -> None:
        """FailedPrecondition when agents on the workspace's clusters could not reach the server.

        Onboarding such a job would change it for nothing: its agent would send to its own
        loopback. A workspace on this machine (the sandbox, the demo) does reach a loopback
        address, so it is allowed."""
        if not self.only_local or is_local_host(workspace_hostname(workspace_host)):
            return
        raise FailedPrecondition(
            f"agents on Databricks clusters cannot reach this server at {self.server_address} (loopback or "
            f"every-interface address), which import would write into the jobs of {workspace_host}: restart "
            "the server with --advertise HOST:PORT (TRIMTAB_ADVERTISE), the address clusters reach it at")


# Where a wheel path is readable from, by the kind of init script that reads it ("What files can I
# reference in an init script?", Databricks docs, init-scripts/referencing-files): "Credentials required
# to access other files stored in Unity Catalog volumes are only made available within init scripts
# stored in Unity Catalog volumes. You cannot reference any files in Unity Catalog volumes from init
# scripts configured from other locations"; other workspace files are referenced from init scripts
# stored in workspace files (Runtime 11.3 LTS and above). An https URL (cloud storage through a
# presigned URL, a package host) is read by any script; DBFS is left as it was (end of life).
# path prefix -> (the script kind that can read it, why, where to put the script instead)
_WHEEL_NEEDS_SCRIPT = {
    "/Volumes/": ("volumes", "a file in a Unity Catalog volume is readable only by an init script stored in a volume",
                  "in a volume (TRIMTAB_INIT_SCRIPT=/Volumes/<catalog>/<schema>/<volume>/trimtab-init.sh)"),
    "/Workspace/": ("workspace", "a workspace file is readable only by an init script stored in workspace files",
                    "in workspace files (TRIMTAB_INIT_SCRIPT=/Shared/trimtab/trimtab-init.sh)"),
}
_SCRIPT_PLACES = {"volumes": "in a Unity Catalog volume", "workspace": "a workspace file", "dbfs": "on DBFS",
                  "file": "a local file on the node", "s3": "in cloud storage (s3)",
                  "abfss": "in cloud storage (abfss)", "gcs": "in cloud storage (gcs)"}


def check_agent_wheel(location: str, init_script: Mapping[str, Any] | None = None) -> None:
    """Refuse an agent wheel location the init script cannot install from (ValueError saying why).

    It runs ``pip install <location>`` on the driver: an https URL (a presigned one for a private
    bucket), or a path the node reads, the FUSE mounts of a Unity Catalog volume (``/Volumes/...``),
    workspace files (``/Workspace/...``) or DBFS (``/dbfs/...``). pip reads no ``s3://`` or
    ``abfss://`` URI, and the script holds no cloud credentials to copy one. Given ``init_script``
    (the InitScriptInfo clusters run), a volume or workspace path must be one a script of that kind
    can read (`_WHEEL_NEEDS_SCRIPT`): otherwise pip finds no file and clusters start without the agent."""
    text = location.strip()
    kind, destination = script_location(init_script) if init_script else ("", "")
    for prefix, (needs, why, instead) in _WHEEL_NEEDS_SCRIPT.items():
        if kind and kind != needs and text.startswith(prefix):
            raise ValueError(f"agent wheel {location!r}: {why}, and Trimtab's init script {destination} is "
                             f"{_SCRIPT_PLACES.get(kind, f'of kind {kind}')} (Databricks docs: 'What files can I "
                             f"reference in an init script?'); give an https URL (a presigned one for a private "
                             f"bucket), or put the init script {instead}")
    if text.startswith(("s3://", "s3a://", "abfss://", "gs://", "wasbs://")):
        raise ValueError(f"agent wheel {location!r}: the init script installs it with pip, which cannot read "
                         "cloud storage URIs; give an https URL (a presigned one for a private bucket), or a "
                         "/Volumes/<catalog>/<schema>/<volume>/... path with an init script in a volume")
    if text.startswith("https://") or text.startswith(("/Volumes/", "/Workspace/", "/dbfs/")):
        if text.endswith(".whl") or text.startswith("https://"):
            return
        raise ValueError(f"agent wheel {location!r}: expected a .whl file")
    raise ValueError(f"agent wheel {location!r}: expected an https URL or a /Volumes, /Workspace or /dbfs path "
                     "the clusters can read")


def wheel_locations(init_script: Mapping[str, Any]) -> str:
    """Where an init script of this kind can install the agent's wheel from, for a message."""
    kind, _ = script_location(init_script)
    for prefix, (needs, _why, _instead) in _WHEEL_NEEDS_SCRIPT.items():
        if kind == needs:
            return f"an https URL, or a {prefix}....whl path (the init script is {_SCRIPT_PLACES[kind]}, which reads them)"
    return (f"an https URL (a presigned one for a private bucket): an init script {_SCRIPT_PLACES.get(kind, 'there')} "
            "cannot read files in Unity Catalog volumes or workspace files")


def wheel_beside_script(init_script: Mapping[str, Any], wheel_name: str) -> tuple[str, str] | None:
    """Where import can put the agent's wheel beside an init script it uploads, as
    ``(upload path, path the node reads it at)``; None for a script in cloud storage (Trimtab holds
    no credentials for it).

    A volume script reads volume files (Databricks Runtime 13.3 LTS and above); workspace files
    are mounted at ``/Workspace`` (an init script in workspace files reading other files needs
    Runtime 11.3 LTS or above: "limited support ... in 9.1 LTS and 10.4 LTS ... such as
    referencing other files from init scripts"); DBFS at ``/dbfs`` (where DBFS scripts still run)."""
    kind, destination = script_location(init_script)
    folder = destination.rsplit("/", 1)[0]
    if kind == "volumes":
        return f"{folder}/{wheel_name}", f"{folder}/{wheel_name}"
    if kind == "workspace":
        return f"{folder}/{wheel_name}", f"/Workspace{folder}/{wheel_name}"
    if kind == "dbfs":
        path = folder.removeprefix("dbfs:")
        return f"dbfs:{path}/{wheel_name}", f"/dbfs{path}/{wheel_name}"
    return None


def workspace_hostname(host: str) -> str:
    """The host name of a workspace URL (``https://adb-1.azuredatabricks.net`` or ``127.0.0.1:8080``)."""
    parsed = urlsplit(host if "//" in host else f"//{host}")
    return parsed.hostname or ""


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
    out (`other_cloud_note`).

    ``policies``: the cluster policies the job's clusters name (`named_policies`), by id, as read
    (a `ClusterPolicy`), or why one could not be read. Access mode, runtime and single node are
    judged on the cluster Databricks creates (`ClusterPolicy.filled_spec`: the spec with what its
    policy fixes, and its defaults when the spec asks for them); a cluster whose policy is not among
    them, or was not read, is left out (`REASON_POLICY_UNREAD`)."""
    access = access or StandardAccess()
    settings = job.get("settings") or {}
    job_id = int(job["job_id"])
    name = str(settings.get("name") or f"job {job_id}")
    shared = {e.get("job_cluster_key"): e.get("new_cluster") for e in settings.get("job_clusters") or []}
    clusters: dict[str, ClusterTarget] = {}
    notes: list[str] = []
    needs_allowlist = allowlist_bound = False
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
    for key, target in list(clusters.items()):
        over = custom_tags_over_limit(target.spec)
        elsewhere = other_cloud_note(target.spec, into)
        policy_id = str(target.spec.get("policy_id") or "")
        policy = (policies or {}).get(policy_id) if policy_id else None
        # The cluster as Databricks creates it: what it is (access mode, runtime, single node) is as
        # much its policy's as its spec's. The spec onboarded stays the user's.
        created = policy.filled_spec(target.spec) if isinstance(policy, ClusterPolicy) else target.spec
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
        elif standard_access_mode(created):
            why = standard_access_problem(created, access)
            if why is not None:
                del clusters[key]
                only_the_allowlist = standard_access_problem(created, _assume_allowlisted(access)) is None
                needs_allowlist = needs_allowlist or (only_the_allowlist and not access.allowlist_known)
                allowlist_bound = allowlist_bound or only_the_allowlist
                notes.append(f"cluster {key!r} " + REASON_STANDARD_ACCESS.format(
                    mode=_mode_words(created, target.spec, policy), why=why))
    return JobQualification(job_id, name, list(clusters.values()), notes, needs_allowlist, allowlist_bound)


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


def wired_server(spec: dict[str, Any]) -> str | None:
    """The server address Trimtab's onboarding set on the cluster ``spec`` (its agent streams there), or None."""
    env = spec.get("spark_env_vars")
    value = env.get(SERVER_ENV) if isinstance(env, dict) else None
    if value is None:
        return None
    return str(value).strip() or None


# How an orphaned project's reason starts when another server took its job (`taken_over`).
TAKEN_OVER = "taken over by another Trimtab server"


def was_taken_over(project: Project | None) -> bool:
    return bool(project and project.orphaned and str(project.state.get("orphaned_reason", "")).startswith(TAKEN_OVER))


def taken_over(project: Project, live: dict[str, Any]) -> str | None:
    """Why ``project``'s cluster (``live``, as the job holds it now) is another Trimtab server's, or None.

    Another server's `workspace import --take-over` re-wires the cluster to itself: this server must
    stop planning and applying for the job (both would write it), not rebase on it as on a person's
    edit. The address is the sign; the ``trimtab:project-id`` tag is not (another database numbers
    its projects from 1 too). Its agents now report there, and the workspace's token secret is the
    other server's: taking the job back is an import with ``--take-over``, which writes both again."""
    applied = (project.pending_apply or {}).get("applied_spec") or {}
    ours = wired_server(applied or project.current_spec or {})
    now = wired_server(live)
    # A write this server announced and has not recorded yet (`server.write_intent`): a re-import
    # after its address changed, killed before its record, wired the cluster to the new address.
    announced = project.state.get(INTENT_KEY)
    sent = wired_server(announced.get("expected") or {}) if isinstance(announced, dict) else None
    if ours is None or now is None or now in (ours, wired_server(project.current_spec or {}), sent):
        return None
    return (f"{TAKEN_OVER} at {now} (the cluster's {SERVER_ENV} was {ours}, which this "
            f"server wrote); `trimtab workspace import {project.workspace} --job {project.job_id} --take-over` "
            f"takes it back (to send agents through a proxy, give this server --advertise instead)")
