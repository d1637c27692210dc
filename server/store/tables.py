"""SQLModel table classes: the schema, and nothing else.

Rows never leave `server/store`; repositories convert them to `server.domain`
objects. Times are epoch ms in BIGINT columns (PostgreSQL's INTEGER is 32-bit).
Applications, stages, executors, jobs and SQL executions are keyed by the
agent's ``application_id`` string rather than a foreign key, because an
agent's batches may arrive in any order (an executor before its application).
Any change here needs an Alembic migration: `tests/store` fails otherwise.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Index, LargeBinary, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

metadata = SQLModel.metadata

# SQLite: tables keyed by text are stored clustered on their primary key
# (one B-tree per insert instead of a rowid table plus its key index). It
# roughly halves the cost of each ingested row; PostgreSQL ignores it.
_NO_ROWID = {"sqlite_with_rowid": False}


def _big(default: int = 0, **kw: Any) -> Any:
    return Field(default=default, sa_type=BigInteger, **kw)


def _json(default: Any = None, nullable: bool = False) -> Any:
    if default is None and not nullable:
        return Field(default_factory=dict, sa_type=JSON, nullable=False)
    return Field(default=default, sa_type=JSON, nullable=nullable)


class WorkspaceRow(SQLModel, table=True):
    __tablename__ = "workspaces"
    # Names are unique in any case ("Prod" is "prod"'s), by the database since 0023: the check in
    # `WorkspaceRepository.add` alone let two servers (or sessions) each add one of them. One host (in
    # `normal_host`'s form, as every write stores it) is one workspace, by the database since 0028: the
    # check at `workspace add` alone let two calls at once store two names whose agents share one secret.
    __table_args__ = (Index("uq_workspaces_name_lower", text("lower(name)"), unique=True),
                      Index("uq_workspaces_host", "host", unique=True))

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    host: str
    cloud: str
    plan: str = "premium"
    region: str = ""
    # A personal access token, or with client_id the service principal's OAuth client secret (0018).
    token_encrypted: str
    token_masked: str = ""
    # The OAuth client id of the service principal the workspace authenticates as (OAuth M2M); "": a PAT.
    client_id: str = Field(default="", sa_column_kwargs={"server_default": ""})
    cloud_credentials_encrypted: str | None = None
    status: str = "ok"
    last_error: str = ""
    created_at_ms: int = _big()
    # New jobs become projects without `workspace import` (server.collect.discovery); rows from before 0006 read false.
    auto_import: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The last bill read with the stored cloud credentials that the cloud answered, and the last that
    # failed since, with why (re-costing and the check at `workspace add`/`set`; 0015).
    bills_read_at_ms: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    bill_read_failed_at_ms: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    bill_read_error: str = Field(default="", sa_column_kwargs={"server_default": ""})
    # The jobs whose own calls fail while the workspace answers, with their rests (`FailingJob` by job
    # id; None: none). Kept for a restart: remembered in the process only, each failing job cost every
    # restart's first poll its 15 s of retries again (0017).
    failing_jobs: dict[str, Any] | None = _json(nullable=True)
    # When a collector poll of it last worked (wall ms; None: never since it was added). Kept for a
    # restart: the metrics' poll age counted from each start, hiding polls failing before it (0026).
    polled_ok_at_ms: int | None = Field(default=None, sa_type=BigInteger, nullable=True)


class ProjectRow(SQLModel, table=True):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("workspace", "job_id", "cluster_key", name="uq_projects_key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(index=True)
    job_id: int = _big()
    cluster_key: str
    job_name: str = ""
    phase: str = "learning"
    settings: dict[str, Any] = _json()
    original_spec: dict[str, Any] = _json()
    current_spec: dict[str, Any] = _json()
    orphaned: bool = False
    detached: bool = False
    last_seen_run_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    pending_apply: dict[str, Any] | None = _json(nullable=True)
    project_state: dict[str, Any] = _json()
    created_at_ms: int = _big()
    # The job's Databricks schedule as last read ({quartz_cron_expression, timezone_id,
    # pause_status}, plus {periodic: {interval_s}} for a periodic trigger); NULL when it has none.
    schedule: dict[str, Any] | None = _json(nullable=True)


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("project_id", "databricks_run_id", name="uq_runs_project_run"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    databricks_run_id: int = _big()
    cluster_id: str = ""
    start_ms: int = _big()
    end_ms: int = _big()
    runtime_s: float = 0.0
    outcome: str = "succeeded"
    config: dict[str, Any] | None = _json(nullable=True)
    input_bytes: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    anomalies: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    recommendation_id: int | None = None
    phase: str = "learning"
    created_at_ms: int = _big()
    setup_s: float | None = None
    # Databricks' state message of a run that did not succeed; "" otherwise and for older rows.
    message: str = Field(default="", sa_column_kwargs={"server_default": ""})
    # runtime_s leaves out the cluster's setup (a run backfilled from its log alone); false before 0012.
    execution_only: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The part of runtime_s the cluster sat idle between its own tasks (other clusters' tasks ran);
    # NULL for runs collected before 0016.
    wait_s: float | None = None
    # Why the planner's latest decision did not learn the run; "" when it did (or before 0021). Written
    # by the planner alone (`RunRepository.set_not_learned`), never by a whole-row update.
    not_learned: str = Field(default="", sa_column_kwargs={"server_default": ""})
    # The most workers the cluster had up at once, from its events; NULL when its events did not say
    # (none read, or collected before 0024).
    peak_workers: int | None = None
    # The project's SLA when the run was collected, which it is judged against (`Run.sla_s`); NULL when
    # it had none then. Rows stored before 0027 got the SLA their project had at the upgrade.
    sla_s: float | None = None
    # The nodes the cluster lost and of those the ones replaced before the end (`Run.nodes_lost`); NULL
    # when its events did not say (none read, or collected before 0030): unknown, not none lost.
    nodes_lost: int | None = None
    nodes_replaced: int | None = None


class RunCostRow(SQLModel, table=True):
    """The cost breakdown of a run (absent until costing has run)."""

    __tablename__ = "run_costs"

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    dbu_cost: float = 0.0
    compute_cost: float = 0.0
    storage_cost: float = 0.0
    total: float = 0.0
    dbus: float = 0.0
    currency: str = "USD"
    source: str = "estimate"
    billed_cloud_cost: float | None = None
    cost_per_input_gb: float | None = None
    used_by_models: str = "estimate"
    note: str = ""
    # The span the cost covers (the cluster's timeline); None: the run's own bounds (before 0008).
    window_start_ms: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    window_end_ms: int | None = Field(default=None, sa_type=BigInteger, nullable=True)


class RunApplicationRow(SQLModel, table=True):
    """Which Spark applications belong to which run (the app may arrive later)."""

    __tablename__ = "run_applications"

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    application_id: str = Field(primary_key=True, index=True)


class RecommendationRow(SQLModel, table=True):
    __tablename__ = "recommendations"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    created_at_ms: int = _big()
    state: str = "pending"
    config: dict[str, Any] = _json()
    predicted_runtime_s: float = 0.0
    runtime_low_s: float = 0.0
    runtime_high_s: float = 0.0
    predicted_cost: float = 0.0
    cost_low: float = 0.0
    cost_high: float = 0.0
    p_meet_sla: float | None = None
    reason: str = ""
    phase: str = "learning"
    storage_advice: str = ""
    projected_monthly_saving: float | None = None
    change_run_id: int | None = None
    change_kind: str | None = None
    # When the recommendation was put on the job and taken off it again, and by whom ("auto", or the admin
    # token the call authenticated with; "" when unknown); NULL/"" for recommendations before 0022.
    applied_at_ms: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    applied_by: str = Field(default="", sa_column_kwargs={"server_default": ""})
    reverted_at_ms: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    reverted_by: str = Field(default="", sa_column_kwargs={"server_default": ""})
    # NULL: the plan aimed at the SLA itself, or the recommendation predates 0025.
    working_sla_s: float | None = None


class ApiTokenRow(SQLModel, table=True):
    __tablename__ = "api_tokens"

    token_id: str = Field(primary_key=True)
    name: str
    scope: str
    # sha256 of the secret part; the secret itself is never stored.
    secret_sha256: str
    created_at_ms: int = _big()
    last_used_ms: int = _big()
    revoked: bool = False
    # The workspace an agent token sends data for (import binds `agent-<workspace>`); None: any (an
    # admin token, or an agent token made without --workspace or before migration 0010).
    workspace: str | None = None


# ------------------------------------------------------------ agent data


class EventRow(SQLModel, table=True):
    """Every event received, once: the primary key is the idempotency key."""

    __tablename__ = "events"
    __table_args__ = _NO_ROWID

    application_id: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    kind: str
    payload: bytes = Field(default=b"", sa_type=LargeBinary)
    received_ms: int = _big()


class IngestBatchRow(SQLModel, table=True):
    """Batches seen, per agent, with what each first delivery stored."""

    __tablename__ = "ingest_batches"
    __table_args__ = _NO_ROWID

    agent_id: str = Field(primary_key=True)
    batch_id: str = Field(primary_key=True)
    received_ms: int = _big()
    stored_events: int = 0
    duplicate_events: int = 0
    deliveries: int = 1


class AgentRow(SQLModel, table=True):
    __tablename__ = "agents"
    __table_args__ = _NO_ROWID

    agent_id: str = Field(primary_key=True)
    version: str = ""
    hostname: str = ""
    cluster_id: str = ""
    counters: dict[str, Any] = _json()
    batches_received: int = _big()
    last_seen_ms: int = _big()
    # The workspace of the first workspace-bound token that reported the agent (first writer wins);
    # None while only unbound tokens have, or for a row stored before migration 0011 until a bound
    # token reports it. Another workspace's token does not update the row.
    workspace: str | None = None


class ApplicationRow(SQLModel, table=True):
    __tablename__ = "applications"
    __table_args__ = _NO_ROWID

    application_id: str = Field(primary_key=True)
    spark_app_id: str = ""
    attempt_id: str = ""
    spark_context_id: str = ""
    app_name: str = ""
    spark_version: str = ""
    user: str = ""
    cluster_id: str = Field(default="", index=True)
    cluster_name: str = ""
    job_id: str = ""
    databricks_run_id: str = ""
    conf: dict[str, Any] = _json()
    event_log_path: str = ""
    start_time_ms: int = _big()
    end_time_ms: int = _big()
    ended: bool = False
    expected_stages: int = 0
    expected_jobs: int = 0
    expected_executors: int = 0
    agent_id: str = ""
    received_ms: int = _big()
    # The workspace of the token that first sent the application's events (first writer wins), None
    # when that token had none: the collector ties it only to runs of that workspace's projects.
    workspace: str | None = None
    # When `trimtab db prune` deleted its per-executor detail (`server.store.repos.retention`); its
    # stages stay. None: never pruned (and every row stored before 0029).
    detail_pruned_at_ms: int | None = Field(default=None, sa_type=BigInteger, nullable=True)


class StageRow(SQLModel, table=True):
    __tablename__ = "stages"
    __table_args__ = _NO_ROWID

    application_id: str = Field(primary_key=True)
    stage_id: int = Field(primary_key=True)
    attempt_id: int = Field(default=0, primary_key=True)
    name: str = ""
    num_tasks: int = 0
    parent_ids: list[int] = Field(default_factory=list, sa_type=JSON, nullable=False)
    submission_time_ms: int = _big()
    completion_time_ms: int = _big()
    failure_reason: str = ""
    tasks_succeeded: int = 0
    tasks_failed: int = 0
    tasks_killed: int = 0
    # Read its input from a cached RDD (server.domain.Stage); rows stored before 0003 read false.
    input_from_cache: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # Aggregated task metrics (server.domain.TASK_METRIC_NAMES).
    executor_run_time_ms: int = _big()
    executor_cpu_time_ns: int = _big()
    executor_deserialize_time_ms: int = _big()
    executor_deserialize_cpu_time_ns: int = _big()
    jvm_gc_time_ms: int = _big()
    result_serialization_time_ms: int = _big()
    result_size_bytes: int = _big()
    input_bytes: int = _big()
    input_records: int = _big()
    output_bytes: int = _big()
    output_records: int = _big()
    shuffle_remote_bytes_read: int = _big()
    shuffle_local_bytes_read: int = _big()
    shuffle_remote_bytes_read_to_disk: int = _big()
    shuffle_records_read: int = _big()
    shuffle_fetch_wait_time_ms: int = _big()
    shuffle_bytes_written: int = _big()
    shuffle_records_written: int = _big()
    shuffle_write_time_ns: int = _big()
    memory_bytes_spilled: int = _big()
    disk_bytes_spilled: int = _big()
    peak_execution_memory_bytes: int = _big()
    # Task-duration distribution (ms).
    td_count: int = _big()
    td_min: float = 0.0
    td_p25: float = 0.0
    td_p50: float = 0.0
    td_p75: float = 0.0
    td_p90: float = 0.0
    td_p95: float = 0.0
    td_p99: float = 0.0
    td_max: float = 0.0
    td_sum: float = 0.0


class StageExecutorPeakRow(SQLModel, table=True):
    """Peak executor metrics of one executor during one stage attempt."""

    __tablename__ = "stage_executor_peaks"
    __table_args__ = _NO_ROWID

    application_id: str = Field(primary_key=True)
    stage_id: int = Field(primary_key=True)
    attempt_id: int = Field(primary_key=True)
    executor_id: str = Field(primary_key=True)
    metrics: dict[str, Any] = _json()


class DriverPeakRow(SQLModel, table=True):
    """The driver JVM's running peak metrics at one point of an application (agent: driver heartbeats).

    Keyed by the values that identify a sample, as the agent's event key is: a resend is the same
    row. The application's driver peak is the largest of its rows.
    """

    __tablename__ = "driver_peaks"
    __table_args__ = _NO_ROWID

    application_id: str = Field(primary_key=True)
    jvm_heap_bytes: int = Field(default=0, sa_type=BigInteger, primary_key=True)
    total_gc_ms: int = Field(default=0, sa_type=BigInteger, primary_key=True)
    outside_heap_bytes: int = Field(default=0, sa_type=BigInteger, primary_key=True)
    metrics: dict[str, Any] = _json()


class ExecutorRow(SQLModel, table=True):
    __tablename__ = "executors"
    __table_args__ = _NO_ROWID

    application_id: str = Field(primary_key=True)
    executor_id: str = Field(primary_key=True)
    host: str = ""
    total_cores: int = 0
    added_ms: int = _big()
    removed_ms: int = _big()
    removal_reason: str = ""
    removal_text: str = ""
    resource_profile_id: int = 0


class ExecutorGaugeRow(SQLModel, table=True):
    __tablename__ = "executor_gauges"
    __table_args__ = _NO_ROWID

    application_id: str = Field(primary_key=True)
    executor_id: str = Field(primary_key=True)
    time_ms: int = Field(default=0, sa_type=BigInteger, primary_key=True)
    memory_used_bytes: int = _big()
    max_memory_bytes: int = _big()
    active_tasks: int = 0
    total_gc_time_ms: int = _big()
    disk_used_bytes: int = _big()


class JobRow(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = _NO_ROWID

    application_id: str = Field(primary_key=True)
    job_id: int = Field(primary_key=True)
    submission_time_ms: int = _big()
    completion_time_ms: int = _big()
    stage_ids: list[int] = Field(default_factory=list, sa_type=JSON, nullable=False)
    succeeded: bool = True
    sql_execution_id: str = ""


class SqlExecutionRow(SQLModel, table=True):
    __tablename__ = "sql_executions"
    __table_args__ = _NO_ROWID

    application_id: str = Field(primary_key=True)
    execution_id: int = Field(sa_type=BigInteger, primary_key=True)
    description: str = ""
    start_time_ms: int = _big()
    end_time_ms: int = _big()
    error: str = ""


Index("ix_runs_project_start", RunRow.__table__.c.project_id, RunRow.__table__.c.start_ms)  # type: ignore[attr-defined]
