"""Plain domain objects: what every part of the server passes around.

Table rows never leave `server/store`; repositories return these frozen
dataclasses instead, and `server/translate.py` turns them into protobuf
messages at the API edge. Times are epoch milliseconds (``*_ms``) unless a
name says seconds (``*_s``). Ids assigned by the store are ``int``; an object
not stored yet has ``id=None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Phase = Literal["learning", "optimizing", "monitoring"]
# How a run ended (server.collect.run_parse maps each Jobs API result state on purpose): timed_out is
# a run the job's or a task's timeout_seconds stopped while it ran on the cluster, a runtime known only
# from below; a task the timeout ended before it ran there makes its cluster's run canceled instead.
Outcome = Literal["succeeded", "failed", "timed_out", "canceled"]
RecommendationState = Literal["pending", "applied", "superseded", "rejected", "reverted"]
Scope = Literal["agent", "admin"]

PHASES: tuple[str, ...] = ("learning", "optimizing", "monitoring")
OUTCOMES: tuple[str, ...] = ("succeeded", "failed", "timed_out", "canceled")
# The largest row id (projects, runs, recommendations): SQL INTEGER columns, 32-bit on PostgreSQL,
# where asking for a larger one is an error, not a miss.
MAX_ROW_ID = 2**31 - 1
RECOMMENDATION_STATES: tuple[str, ...] = ("pending", "applied", "superseded", "rejected", "reverted")
SCOPES: tuple[str, ...] = ("agent", "admin")
# Where a workspace without a region set is priced (the regions most workspaces live in).
DEFAULT_REGIONS: dict[str, str] = {"aws": "us-east-1", "azure": "eastus"}


# ---------------------------------------------------------------- workspaces


@dataclass(frozen=True)
class Workspace:
    """A connected Databricks workspace. The token is never held here in clear.

    It authenticates with a personal access token, or (``client_id`` set) as that service principal
    with OAuth machine-to-machine, whose client secret is stored, and masked, as a token is."""

    name: str
    host: str
    cloud: str  # aws | azure
    plan: str = "premium"
    region: str = ""
    token_masked: str = ""
    status: str = "ok"
    last_error: str = ""
    has_cloud_credentials: bool = False
    created_at_ms: int = 0
    # Opt-in: importing changes the job (init script, env vars, tag), so new jobs become
    # projects by themselves only when someone asked for it (server.collect.discovery).
    auto_import: bool = False
    id: int | None = None
    # The cloud credentials' bill reads: when the cloud last answered one (None: never, or not since
    # the credentials were given), and the last that failed since and why (None and "": none did).
    bills_read_at_ms: int | None = None
    bill_read_failed_at_ms: int | None = None
    bill_read_error: str = ""
    # The OAuth client id of the service principal it authenticates as; "": a personal access token.
    client_id: str = ""

    @property
    def auth(self) -> str:
        """How Trimtab authenticates to the workspace, in the SDK's words: "pat" or "oauth-m2m"."""
        return "oauth-m2m" if self.client_id else "pat"

    @property
    def pricing_region(self) -> str:
        """The region runs are priced in: the one set on the workspace, else the cloud's default."""
        return self.region or DEFAULT_REGIONS.get(self.cloud, "")


@dataclass(frozen=True)
class FailingJob:
    """A job of a workspace whose own calls failed with a 5xx while the workspace answered
    (`server.collect.job_trouble`): how many tries in a row, since when, and its next try (wall clock
    ms, kept so a restarted server does not try it again before then)."""

    job_id: int
    failures: int
    since_ms: int
    retry_at_ms: int
    error: str
    name: str = ""


# ------------------------------------------------------------------ projects


# An SLA is one job run's runtime. Databricks job runs are measured in minutes to hours; a week is
# far beyond any batch run Trimtab plans for, so a longer one is a typo (a unit slip, extra digits).
# The server refuses it (server.services.projects) and so does the CLI's `--sla`, before the call.
MAX_SLA_SECONDS = 7 * 86400


@dataclass(frozen=True)
class ProjectSettings:
    """What the user decides for a project. ``sla_seconds=None``: minimize cost."""

    sla_seconds: float | None = None
    auto_apply: bool = False
    min_workers: int | None = None
    max_workers: int | None = None
    allowed_families: tuple[str, ...] = ()
    spot_allowed: bool = True
    driver_node_type_id: str | None = None
    keep_autoscaling: bool = False
    # Designed runs at most per segment: the decision core's default (models.decide.Settings), the
    # issue's, and the best of 2-5 on the tuning benchmark (docs/tuning.md); 8 was a placeholder.
    learning_budget: int = 3
    # True: each run meets the SLA with P >= 0.9 (cluster setup and run-to-run noise included): what a
    # max-runtime SLA promises its owner, and the rule (P(runtime <= SLA) from the prediction
    # interval of a run). False: only the typical run does, so a configuration whose mean sits just under
    # the SLA can be chosen and miss it on a third of its runs (docs/agent-metrics.md: half the misses at
    # a median SLA for a dearer cluster). The decision core's own default stays False
    # (models.decide.Settings.sla_per_run): the tuning benchmark scores a configuration by its mean.
    sla_every_run: bool = True
    # True: an SLA out of reach on the job's own runs is replaced, while it is, by a working SLA near
    # the fastest measured runtime (models.decide.Settings.working_sla), so the plan stops buying the
    # dearest cluster for a P near 0. False: the fastest measured configuration runs every night.
    working_sla: bool = True


@dataclass(frozen=True)
class ClusterConfig:
    """A cluster configuration in the terms Trimtab decides on.

    ``spec`` is the complete Databricks ``new_cluster`` object, so nothing the
    user set is lost; the named fields are the ones Trimtab reads and changes.
    ``autoscale_max > 0`` means autoscaling.
    """

    node_type_id: str
    driver_node_type_id: str = ""
    num_workers: int = 0
    autoscale_min: int = 0
    autoscale_max: int = 0
    availability: str = ""  # SPOT | ON_DEMAND | SPOT_WITH_FALLBACK
    first_on_demand: int = 0
    ebs_volume_type: str = ""
    ebs_volume_count: int = 0
    ebs_volume_size_gb: int = 0
    spark_version: str = ""
    spec: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)


@dataclass(frozen=True)
class JobSchedule:
    """The job's own schedule as the workspace holds it: ``settings.schedule`` (a Quartz cron) or
    ``settings.trigger.periodic`` (a run every ``interval_s`` seconds, cron empty).

    ``quartz_cron_expression`` is Quartz syntax (``server/schedule.py``), evaluated in
    ``timezone_id``; a paused schedule starts no runs. ``max_concurrent_runs`` is the job's
    (``settings.max_concurrent_runs``, 1 when unset as in the Jobs API): a fire while that many runs
    are going is skipped or queued, so runs longer than the interval start less often than it fires.
    """

    quartz_cron_expression: str
    timezone_id: str = "UTC"
    paused: bool = False
    interval_s: float | None = None
    max_concurrent_runs: int = 1


PROBLEM_KEY = "problem"  # where `PlanProblem` lives in `Project.state`
PROBLEM_STEPS: tuple[str, ...] = ("plan", "apply")


@dataclass(frozen=True)
class PlanProblem:
    """Why Trimtab stopped moving a project on: the last planning or auto-apply failure.

    ``step`` is ``"plan"`` or ``"apply"``; ``run_id`` the (Trimtab) run after which it
    failed; ``message`` one line, the error's type and message. Kept in the project's
    ``state`` under `PROBLEM_KEY` by `server.plan.planner` until a later plan (or apply) succeeds.
    """

    step: str
    run_id: int
    at_ms: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "run_id": self.run_id, "at_ms": self.at_ms, "message": self.message}

    @classmethod
    def from_json(cls, data: Any) -> PlanProblem | None:
        """None for anything that is not a problem as `to_json` writes it (state is free JSON)."""
        if not isinstance(data, dict) or data.get("step") not in PROBLEM_STEPS:
            return None
        try:
            return cls(step=str(data["step"]), run_id=int(data.get("run_id") or 0),
                       at_ms=int(data.get("at_ms") or 0), message=str(data.get("message") or ""))
        except (TypeError, ValueError):
            return None


# Where an apply's record (``Project.pending_apply``, `server.apply`) keeps what the runs that had
# started before it ran, when that is not its ``previous_spec`` (the spec a revert goes back to).
STARTED_BEFORE_SPEC = "started_before_spec"
STARTED_BEFORE_RECOMMENDATION = "started_before_recommendation_id"

# The owner's own sizing (an edit outside Trimtab of a field it owns: a resize, other node types) and
# the writes around it. `Project.state` keeps OWNER_SIZING_KEY from the rebase that adopts such an edit
# until Trimtab's next write; the apply written over it marks its record OVER_USER_EDIT (its
# ``previous_spec`` is the owner's cluster), and the revert of that apply marks its own
# BACK_TO_USER_EDIT: the job runs the owner's cluster again, not the one found at import, so savings
# read it as the owner's (`server.services.savings`) and auto-apply stays paused for the edit
# (`server.plan.planner.edit_hold`), as before the apply.
OWNER_SIZING_KEY = "owner_sizing"
OVER_USER_EDIT = "over_user_edit"
BACK_TO_USER_EDIT = "back_to_user_edit"


def started_before(record: Mapping[str, Any]) -> tuple[dict[str, Any] | None, int | None]:
    """What the runs up to an apply record's ``applied_after_run_id`` ran (they had started before
    it): the spec, None when the record has none, and the recommendation it was (None: none).

    Its ``previous_spec`` but after an apply over a revert that no run started between: the spec
    before the apply is then the one the revert went back to (what a revert of it writes), while
    the runs in flight started before the revert and ran what its record says they ran."""
    if STARTED_BEFORE_SPEC in record:
        spec, rec = record.get(STARTED_BEFORE_SPEC), record.get(STARTED_BEFORE_RECOMMENDATION)
    else:
        spec, rec = record.get("previous_spec"), record.get("previous_recommendation_id")
    return (dict(spec) if isinstance(spec, Mapping) else None), (int(rec) if rec is not None else None)


@dataclass(frozen=True)
class Project:
    """One job cluster of one Databricks job: ``(workspace, job_id, cluster_key)``.

    ``cluster_key`` is a ``job_cluster_key`` or ``task:<task_key>``.
    ``original_spec`` is the cluster entry as found at import (what detach
    restores); ``current_spec`` what Trimtab last wrote or saw.
    ``last_seen_run_id`` is the collector's cursor in the job's run list.
    ``pending_apply`` holds the state of an apply in progress (free JSON).
    ``state`` is the model's own state (free JSON, owned by `server/plan`); `problem` reads the
    planning or auto-apply failure kept there.
    ``schedule`` is the job's schedule as last read, at import or by a collector poll (None: none;
    it runs when triggered, by hand or by another tool).
    """

    workspace: str
    job_id: int
    cluster_key: str
    job_name: str = ""
    phase: str = "learning"
    settings: ProjectSettings = field(default_factory=ProjectSettings)
    original_spec: dict[str, Any] = field(default_factory=dict)
    current_spec: dict[str, Any] = field(default_factory=dict)
    orphaned: bool = False
    detached: bool = False
    last_seen_run_id: int | None = None
    pending_apply: dict[str, Any] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    created_at_ms: int = 0
    id: int | None = None
    schedule: JobSchedule | None = None

    @property
    def name(self) -> str:
        return f"{self.workspace}/{self.job_id}/{self.cluster_key}"

    @property
    def problem(self) -> PlanProblem | None:
        """The last planning or auto-apply failure not yet cleared by a success (None: none)."""
        return PlanProblem.from_json(self.state.get(PROBLEM_KEY))


# -------------------------------------------------------- Spark applications


@dataclass(frozen=True)
class Distribution:
    count: int = 0
    min: float = 0.0
    p25: float = 0.0
    p50: float = 0.0
    p75: float = 0.0
    p90: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    sum: float = 0.0


# Names of the aggregated task metrics of a stage (sums, except the peak).
TASK_METRIC_NAMES: tuple[str, ...] = (
    "executor_run_time_ms", "executor_cpu_time_ns", "executor_deserialize_time_ms",
    "executor_deserialize_cpu_time_ns", "jvm_gc_time_ms", "result_serialization_time_ms",
    "result_size_bytes", "input_bytes", "input_records", "output_bytes", "output_records",
    "shuffle_remote_bytes_read", "shuffle_local_bytes_read", "shuffle_remote_bytes_read_to_disk",
    "shuffle_records_read", "shuffle_fetch_wait_time_ms", "shuffle_bytes_written",
    "shuffle_records_written", "shuffle_write_time_ns", "memory_bytes_spilled", "disk_bytes_spilled",
    "peak_execution_memory_bytes",
)


@dataclass(frozen=True)
class ExecutorStagePeak:
    """Peak executor metrics (Spark's names) of one executor during one stage."""

    executor_id: str
    metrics: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    application_id: str
    stage_id: int
    attempt_id: int = 0
    name: str = ""
    num_tasks: int = 0
    parent_ids: tuple[int, ...] = ()
    submission_time_ms: int = 0
    completion_time_ms: int = 0
    failure_reason: str = ""
    metrics: dict[str, int] = field(default_factory=dict)  # keys: TASK_METRIC_NAMES
    task_duration_ms: Distribution = field(default_factory=Distribution)
    tasks_succeeded: int = 0
    tasks_failed: int = 0
    tasks_killed: int = 0
    executor_peaks: tuple[ExecutorStagePeak, ...] = ()
    # Read (some of) its input from an RDD an earlier stage cached: Spark counts those reads, from
    # executor memory or local disk, in ``metrics["input_bytes"]`` like storage reads.
    input_from_cache: bool = False

    @property
    def duration_s(self) -> float:
        if self.completion_time_ms and self.submission_time_ms:
            return max(0.0, (self.completion_time_ms - self.submission_time_ms) / 1000.0)
        return 0.0


@dataclass(frozen=True)
class Executor:
    application_id: str
    executor_id: str
    host: str = ""
    total_cores: int = 0
    added_ms: int = 0
    removed_ms: int = 0
    removal_reason: str = ""  # killed_by_driver | decommission | lost | heartbeat_timeout | exited
    removal_text: str = ""
    resource_profile_id: int = 0


@dataclass(frozen=True)
class Job:
    application_id: str
    job_id: int
    submission_time_ms: int = 0
    completion_time_ms: int = 0
    stage_ids: tuple[int, ...] = ()
    succeeded: bool = True
    sql_execution_id: str = ""


@dataclass(frozen=True)
class SqlExecution:
    application_id: str
    execution_id: int
    description: str = ""
    start_time_ms: int = 0
    end_time_ms: int = 0
    error: str = ""


@dataclass(frozen=True)
class ExecutorGauges:
    application_id: str
    executor_id: str
    time_ms: int = 0
    memory_used_bytes: int = 0
    max_memory_bytes: int = 0
    active_tasks: int = 0
    total_gc_time_ms: int = 0
    disk_used_bytes: int = 0


# Resident memory of a JVM's process tree outside the JVM itself (Spark's process-tree metrics).
OUTSIDE_HEAP_METRICS = ("ProcessTreePythonRSSMemory", "ProcessTreeOtherRSSMemory")


def outside_heap_bytes(metrics: Mapping[str, int]) -> int:
    """Memory of a JVM's Python and other child processes in one set of Spark executor metrics."""
    return int(sum(metrics.get(k, 0) for k in OUTSIDE_HEAP_METRICS))


@dataclass(frozen=True)
class DriverPeaks:
    """The driver JVM's running peak metrics (Spark's names; cumulative counters at their latest)."""

    application_id: str
    metrics: dict[str, int] = field(default_factory=dict)

    @property
    def jvm_heap_bytes(self) -> int:
        return int(self.metrics.get("JVMHeapMemory", 0))

    @property
    def total_gc_ms(self) -> int:
        return int(self.metrics.get("TotalGCTime", 0))

    @property
    def outside_heap_bytes(self) -> int:
        """Resident memory of the driver JVM's Python and other child processes (process-tree metrics)."""
        return outside_heap_bytes(self.metrics)


@dataclass(frozen=True)
class Application:
    """One Spark application attempt, as received from agents.

    ``run_id`` is set once the collector ties it to a run.
    """

    application_id: str
    spark_app_id: str = ""
    attempt_id: str = ""
    spark_context_id: str = ""
    app_name: str = ""
    spark_version: str = ""
    user: str = ""
    cluster_id: str = ""
    cluster_name: str = ""
    job_id: str = ""
    databricks_run_id: str = ""
    conf: dict[str, str] = field(default_factory=dict)
    event_log_path: str = ""
    start_time_ms: int = 0
    end_time_ms: int = 0
    ended: bool = False
    stage_count: int = 0
    executor_count: int = 0
    job_count: int = 0
    agent_id: str = ""
    run_id: int | None = None
    # The workspace of the agent token that first sent it; None: a token bound to none (see ApiToken).
    workspace: str | None = None


@dataclass(frozen=True)
class ApplicationEnd:
    """The end of an application, with the totals the agent saw."""

    end_time_ms: int
    stages_completed: int = 0
    jobs_completed: int = 0
    executors_added: int = 0


# ---------------------------------------------------------------- ingestion


# The kind of an event whose body this server does not know: a newer agent's. It is stored as
# received (its payload) and materializes nothing, so an agent upgraded before its server loses
# nothing and blocks nothing; a later server can read it again. Its payload is its only copy.
UNKNOWN_EVENT_KIND = "unknown"


@dataclass(frozen=True)
class IngestEvent:
    """One event of a batch. ``body`` is one of Application (start),
    ApplicationEnd, Executor (added: removed_ms == 0; removed: removed_ms > 0),
    Stage, Job, SqlExecution, ExecutorGauges or DriverPeaks (None for `UNKNOWN_EVENT_KIND`).
    ``payload`` is the event as received, kept verbatim so it can be read again later (until
    `trimtab db compact-events` drops old copies)."""

    application_id: str
    key: str
    kind: str
    body: object
    payload: bytes = b""


@dataclass(frozen=True)
class AgentInfo:
    agent_id: str
    version: str = ""
    hostname: str = ""
    cluster_id: str = ""


@dataclass(frozen=True)
class AgentCounters:
    events_read: int = 0
    events_sent: int = 0
    events_dropped_spool_full: int = 0
    batches_dropped_spool_full: int = 0
    lines_corrupt: int = 0
    lines_oversized: int = 0
    batches_rejected: int = 0
    spark_dropped_events: dict[str, int] = field(default_factory=dict)
    file_bytes_unread_at_stop: int = 0  # as of the agent's stop, not cumulative (ingest.proto)


@dataclass(frozen=True)
class IngestBatch:
    batch_id: str
    agent: AgentInfo
    events: tuple[IngestEvent, ...]
    counters: AgentCounters | None = None


@dataclass(frozen=True)
class RefusedApplication:
    """An application of a batch whose events were not stored (`IngestRepository.write`)."""

    application_id: str
    events: int  # the batch's events of it
    reason: str  # for a person, naming only what the sender sent


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    stored_events: int
    duplicate_events: int
    # Applications of the batch refused, their events not stored, the others' stored: another
    # workspace's agent token sent them first (`IngestRepository.write`).
    refused_applications: tuple[RefusedApplication, ...] = ()
    # The batch was stored, but its agent's status row was left as it was: the agent id was first
    # reported under another workspace's token (`IngestRepository.write`).
    agent_status_skipped: bool = False


@dataclass(frozen=True)
class AgentStatus:
    """What the server last heard from one agent."""

    agent_id: str
    version: str
    hostname: str
    cluster_id: str
    counters: AgentCounters
    batches_received: int
    last_seen_ms: int
    # The workspace of the token that first reported the agent; None when that token was bound to
    # none (an admin token, an unbound agent token) or the agent was stored before migration 0011.
    workspace: str | None = None


# ---------------------------------------------------------------------- runs


@dataclass(frozen=True)
class CostBreakdown:
    dbu_cost: float = 0.0
    compute_cost: float = 0.0
    storage_cost: float = 0.0
    total: float = 0.0
    dbus: float = 0.0
    currency: str = "USD"
    source: str = "estimate"  # estimate | billed
    billed_cloud_cost: float | None = None
    cost_per_input_gb: float | None = None
    used_by_models: str = "estimate"  # estimate | billed
    note: str = ""
    # The span the cost covers, in epoch ms: the cluster's timeline (CREATING..TERMINATING), which may
    # run past the run's last task into the next UTC day. Re-costing asks the cloud bill for this span,
    # as collection did (`server.costing.recost`). None: the run's own start and end.
    window_start_ms: int | None = None
    window_end_ms: int | None = None


@dataclass(frozen=True)
class Run:
    """One execution of a project's cluster. ``start_ms``/``end_ms`` bound the
    cluster's run (cluster setup included); ``anomalies`` are words like ``spot_loss``,
    ``data_growth``, ``failure``."""

    project_id: int
    databricks_run_id: int
    cluster_id: str = ""
    start_ms: int = 0
    end_ms: int = 0
    runtime_s: float = 0.0
    outcome: str = "succeeded"
    config: ClusterConfig | None = None
    input_bytes: int | None = None
    cost: CostBreakdown | None = None
    anomalies: tuple[str, ...] = ()
    application_ids: tuple[str, ...] = ()
    recommendation_id: int | None = None
    phase: str = "learning"
    created_at_ms: int = 0
    # The part of ``runtime_s`` spent creating the cluster (the Jobs API's ``setup_duration``);
    # None when unknown. The tuner learns it apart from the execution: it is minutes, varies
    # from run to run and hardly depends on the configuration.
    setup_s: float | None = None
    # Why a run that did not succeed ended so, in Databricks' own words (its tasks' state
    # messages); "" for a succeeded run, whose message is noise, and for runs stored before it.
    message: str = ""
    # True when ``runtime_s`` is the execution alone: a run made from its event log without the
    # workspace's run (backfill, older than Databricks keeps runs), whose span starts at the Spark
    # application, after the cluster's setup. ``setup_s`` stays None (the setup is not known) but,
    # unlike another run without a setup figure, no setup is in its runtime to take out.
    execution_only: bool = False
    # The part of ``runtime_s`` after the setup when none of the cluster's own tasks ran: the cluster
    # was up, idle, waiting for other clusters' tasks (a job a1 -> b -> a2 with a1 and a2 on this
    # cluster and b on another). Paid for and part of the runtime the SLA bounds, but set by the other
    # tasks, so the tuner does not learn it as this configuration's execution (`server.plan.observe`).
    # None for runs stored before it was measured.
    wait_s: float | None = None
    # Why the planner's latest decision did not learn this run (`models.changes`' words: "spot_loss:
    # runtime 236s is not this configuration's normal"); "" when it learned it, or no plan has read it.
    # Only the planner writes it (`RunRepository.set_not_learned`): `RunRepository.update` leaves it.
    not_learned: str = ""
    # The most workers the run's cluster had up at once, from its cluster events (an autoscaling
    # cluster's peak; a fixed one's size, or less when it lost nodes); None when no events said, and
    # for runs stored before it was kept. The mean alone hides a run that needed its max for minutes.
    peak_workers: int | None = None
    # The project's SLA when the run was collected: the target the run is judged against
    # (`server.timeline.sla_in_force`), so tightening the SLA later does not turn runs that met the
    # one in force then into misses. None: not recorded (the project had no SLA then; the runs stored
    # before 0027 carry the SLA the project had at the upgrade): judged against the project's SLA now.
    sla_s: float | None = None
    # The nodes the run's cluster lost (its NODES_LOST events: spot reclaims), and of those how many a
    # replacement joined for before the end; None when no events said (read none, or stored before
    # 0030). ``spot_loss`` alone says a run lost capacity, not whether one node of 8 or 5.
    nodes_lost: int | None = None
    nodes_replaced: int | None = None
    id: int | None = None

    @property
    def execution_s(self) -> float:
        """The runtime after the cluster's setup: the part the driver and executors lived for (the
        whole runtime when the setup is unknown; the collector keeps a setup only within the runtime)."""
        return self.runtime_s - (self.setup_s or 0.0)


# ----------------------------------------------------------- recommendations


@dataclass(frozen=True)
class Recommendation:
    project_id: int
    config: ClusterConfig
    predicted_runtime_s: float = 0.0
    runtime_interval_s: tuple[float, float] = (0.0, 0.0)
    predicted_cost: float = 0.0
    cost_interval: tuple[float, float] = (0.0, 0.0)
    p_meet_sla: float | None = None
    reason: str = ""
    phase: str = "learning"
    state: str = "pending"
    storage_advice: str = ""
    projected_monthly_saving: float | None = None
    created_at_ms: int = 0
    id: int | None = None
    # The change point the model's current segment starts at when it was made (`models.changes`):
    # the store's id of the segment's first run and the kind (code_change, input_shift,
    # runtime_regression); None when no change point has restarted learning. Timelines mark it and
    # savings stop comparing across it.
    change_run_id: int | None = None
    change_kind: str | None = None
    # When it was put on the job (the last apply of it) and taken off again by a revert, and by whom:
    # "auto" (auto-apply), the admin token the call authenticated with ("me (token 3fa2...)"), "an edit
    # outside Trimtab" (its owner edited the job to exactly it: `server.apply_record.adopt_owner_edit`), or ""
    # when unknown (an apply recorded by a server that found it written but unrecorded, or before they were kept).
    applied_at_ms: int | None = None
    applied_by: str = ""
    reverted_at_ms: int | None = None
    reverted_by: str = ""
    # The working SLA (s) the plan aimed at while the owner's was out of reach (`models.decide`'s
    # `_working_sla`); None when it aimed at the SLA itself, or for one made before 0025 kept it.
    working_sla_s: float | None = None


# -------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class ApiToken:
    """An API token as stored: its public id and scope, never the secret."""

    token_id: str
    name: str
    scope: str  # agent | admin
    created_at_ms: int = 0
    last_used_ms: int = 0
    revoked: bool = False
    # The workspace an agent token may send data for; None: any (admin tokens, and agent tokens made
    # without one: the collector then ties their applications to any workspace's runs).
    workspace: str | None = None


# ------------------------------------------------------ results of actions


@dataclass(frozen=True)
class ImportedProject:
    project: Project
    diff: str = ""  # unified diff of the job's cluster entry (what onboarding changes)
    created: bool = True
    # A detached project an import naming its job onboarded again (``created`` is False).
    reattached: bool = False


@dataclass(frozen=True)
class SkippedJob:
    job_id: int
    job_name: str = ""
    reason: str = ""
    # Skipped only over the metastore's INIT_SCRIPT allowlist: an admin allowlisting Trimtab's
    # script changes the answer while the job stays as it is.
    allowlist_bound: bool = False
    # The cluster policies its clusters left out name, each with what import read of it
    # (`server.services.job_policies.policy_state`, "" unread): an admin editing one, or granting CAN_USE
    # on it, may change the answer while the job stays as it is.
    policy_states: tuple[tuple[str, str], ...] = ()
    # A job the import was asked for by id that the workspace does not have: the caller's typo,
    # unlike a listed job deleted before the import read it (the CLI fails on it).
    not_found: bool = False
    # Its import raised (not the workspace's trouble): an import run with `ImportLimits` (auto-import) goes
    # on with the other jobs and reports it so; any other import raises, but for a value of the job the
    # store refuses (`InvalidArgument`), which is that job's alone whoever imports.
    failed: bool = False


@dataclass(frozen=True)
class LeftOut:
    """A task or cluster of an imported job that the import left alone, and why (a single-node cluster,
    a task on an all-purpose cluster, serverless, a SQL warehouse...): the job's other clusters became
    projects, so no `SkippedJob` says it."""

    job_id: int
    job_name: str
    reason: str
    # As `SkippedJob`'s, for the job's clusters left out: what auto-import judges them again on.
    allowlist_bound: bool = False
    policy_states: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ImportLimits:
    """How one call of an import is bounded: auto-import's pass over a discovery pass's new jobs, and
    each call of a person's import split into calls (`server.services.import_pages`; one in a single
    call has none).

    ``monotonic`` is the caller's clock; no job is started once it reads ``deadline`` or later (the first
    always is), and those not reached are `ImportResult.deferred`. With ``keep_going``, a job whose import
    raises anything but the workspace's trouble is reported `SkippedJob.failed` and the next one imported."""

    monotonic: Callable[[], float]
    deadline: float
    # False for a person's import split into calls (`server.services.import_pages`): a job's failure ends
    # the call and says why, as an import in one call does; only auto-import's pass goes on past it.
    keep_going: bool = True
    # Jobs of which only the clusters with no project yet are judged and onboarded: auto-import's jobs
    # imported in part (a cluster skipped over its policy or the allowlist, one added since). Those
    # with a project are left as they are (not written, their projects not rewritten); a job with
    # nothing new to onboard is reported skipped with why its other clusters stay out.
    new_clusters_only: frozenset[int] = frozenset()
    # Jobs the caller found without any project (auto-import's new jobs): one that has a project of a
    # cluster to import by the time its import holds the job's lock (`server.services.import_lock`) was
    # imported meanwhile by another server's pass, or a person's import, and is left to it (skipped).
    new_jobs: frozenset[int] = frozenset()


@dataclass(frozen=True)
class ImportResult:
    projects: tuple[ImportedProject, ...] = ()
    skipped: tuple[SkippedJob, ...] = ()
    # Per imported job, what of it was left alone and why (one line each, in the job's order).
    left_out: tuple[LeftOut, ...] = ()
    # What the person importing should know about the wiring itself (an init script every workspace user
    # can edit, one on DBFS): said once for the whole import, as the server's log says it.
    warnings: tuple[str, ...] = ()
    # Jobs an import with `ImportLimits` did not reach before its deadline (the next pass imports them).
    deferred: tuple[int, ...] = ()
    # Jobs auto-import left because a lock of theirs stayed held by another session past the wait (another
    # server's import of the job, an apply of one of its projects): the reason says who holds it. Not
    # failed: the next pass tries them again.
    locked: tuple[SkippedJob, ...] = ()


@dataclass(frozen=True)
class ApplyOutcome:
    """What applying (or reverting) a recommendation did, or would do with dry_run."""

    recommendation: Recommendation | None
    diff: str = ""
    applied: bool = False
    # Beyond the diff: e.g. the unconfirmed apply this one writes (dry: would write) over, and why.
    note: str = ""
    # Nothing written (or, dry, to write): the job's cluster already runs the recommendation.
    already_on_job: bool = False
