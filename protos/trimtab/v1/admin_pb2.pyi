from protos.trimtab.v1 import common_pb2 as _common_pb2
from protos.trimtab.v1 import ingest_pb2 as _ingest_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Workspace(_message.Message):
    __slots__ = ("name", "host", "cloud", "plan", "token_masked", "status", "last_error", "created_at_ms", "has_cloud_credentials", "region", "auto_import", "watched", "note", "bills_read_at_ms", "bill_read_failed_at_ms", "bill_read_error", "billing_warning", "client_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    CLOUD_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_MASKED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    HAS_CLOUD_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    AUTO_IMPORT_FIELD_NUMBER: _ClassVar[int]
    WATCHED_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    BILLS_READ_AT_MS_FIELD_NUMBER: _ClassVar[int]
    BILL_READ_FAILED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    BILL_READ_ERROR_FIELD_NUMBER: _ClassVar[int]
    BILLING_WARNING_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    host: str
    cloud: str
    plan: str
    token_masked: str
    status: str
    last_error: str
    created_at_ms: int
    has_cloud_credentials: bool
    region: str
    auto_import: bool
    watched: bool
    note: str
    bills_read_at_ms: int
    bill_read_failed_at_ms: int
    bill_read_error: str
    billing_warning: str
    client_id: str
    def __init__(self, name: _Optional[str] = ..., host: _Optional[str] = ..., cloud: _Optional[str] = ..., plan: _Optional[str] = ..., token_masked: _Optional[str] = ..., status: _Optional[str] = ..., last_error: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., has_cloud_credentials: _Optional[bool] = ..., region: _Optional[str] = ..., auto_import: _Optional[bool] = ..., watched: _Optional[bool] = ..., note: _Optional[str] = ..., bills_read_at_ms: _Optional[int] = ..., bill_read_failed_at_ms: _Optional[int] = ..., bill_read_error: _Optional[str] = ..., billing_warning: _Optional[str] = ..., client_id: _Optional[str] = ...) -> None: ...

class AddWorkspaceRequest(_message.Message):
    __slots__ = ("name", "host", "token", "cloud", "plan", "region", "cloud_credentials_json", "replace", "auto_import", "skip_billing_check", "client_id", "client_secret")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLOUD_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CLOUD_CREDENTIALS_JSON_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    AUTO_IMPORT_FIELD_NUMBER: _ClassVar[int]
    SKIP_BILLING_CHECK_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    name: str
    host: str
    token: str
    cloud: str
    plan: str
    region: str
    cloud_credentials_json: str
    replace: bool
    auto_import: bool
    skip_billing_check: bool
    client_id: str
    client_secret: str
    def __init__(self, name: _Optional[str] = ..., host: _Optional[str] = ..., token: _Optional[str] = ..., cloud: _Optional[str] = ..., plan: _Optional[str] = ..., region: _Optional[str] = ..., cloud_credentials_json: _Optional[str] = ..., replace: _Optional[bool] = ..., auto_import: _Optional[bool] = ..., skip_billing_check: _Optional[bool] = ..., client_id: _Optional[str] = ..., client_secret: _Optional[str] = ...) -> None: ...

class UpdateWorkspaceRequest(_message.Message):
    __slots__ = ("name", "auto_import", "plan", "region", "host", "token", "cloud_credentials_json", "skip_billing_check", "client_id", "client_secret")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AUTO_IMPORT_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLOUD_CREDENTIALS_JSON_FIELD_NUMBER: _ClassVar[int]
    SKIP_BILLING_CHECK_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    name: str
    auto_import: bool
    plan: str
    region: str
    host: str
    token: str
    cloud_credentials_json: str
    skip_billing_check: bool
    client_id: str
    client_secret: str
    def __init__(self, name: _Optional[str] = ..., auto_import: _Optional[bool] = ..., plan: _Optional[str] = ..., region: _Optional[str] = ..., host: _Optional[str] = ..., token: _Optional[str] = ..., cloud_credentials_json: _Optional[str] = ..., skip_billing_check: _Optional[bool] = ..., client_id: _Optional[str] = ..., client_secret: _Optional[str] = ...) -> None: ...

class RemoveWorkspaceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveWorkspaceResponse(_message.Message):
    __slots__ = ("kept_projects", "revoked_agent_tokens")
    KEPT_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AGENT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    kept_projects: _containers.RepeatedScalarFieldContainer[str]
    revoked_agent_tokens: int
    def __init__(self, kept_projects: _Optional[_Iterable[str]] = ..., revoked_agent_tokens: _Optional[int] = ...) -> None: ...

class ListWorkspacesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWorkspacesResponse(_message.Message):
    __slots__ = ("workspaces",)
    WORKSPACES_FIELD_NUMBER: _ClassVar[int]
    workspaces: _containers.RepeatedCompositeFieldContainer[Workspace]
    def __init__(self, workspaces: _Optional[_Iterable[_Union[Workspace, _Mapping]]] = ...) -> None: ...

class GetWorkspaceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ImportJobsRequest(_message.Message):
    __slots__ = ("workspace", "job_ids", "dry_run", "take_over", "paged", "page_token")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    TAKE_OVER_FIELD_NUMBER: _ClassVar[int]
    PAGED_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    job_ids: _containers.RepeatedScalarFieldContainer[int]
    dry_run: bool
    take_over: bool
    paged: bool
    page_token: str
    def __init__(self, workspace: _Optional[str] = ..., job_ids: _Optional[_Iterable[int]] = ..., dry_run: _Optional[bool] = ..., take_over: _Optional[bool] = ..., paged: _Optional[bool] = ..., page_token: _Optional[str] = ...) -> None: ...

class ImportedProject(_message.Message):
    __slots__ = ("project", "diff", "created", "reattached")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    DIFF_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    REATTACHED_FIELD_NUMBER: _ClassVar[int]
    project: Project
    diff: str
    created: bool
    reattached: bool
    def __init__(self, project: _Optional[_Union[Project, _Mapping]] = ..., diff: _Optional[str] = ..., created: _Optional[bool] = ..., reattached: _Optional[bool] = ...) -> None: ...

class SkippedJob(_message.Message):
    __slots__ = ("job_id", "job_name", "reason", "not_found", "failed")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOT_FOUND_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    job_name: str
    reason: str
    not_found: bool
    failed: bool
    def __init__(self, job_id: _Optional[int] = ..., job_name: _Optional[str] = ..., reason: _Optional[str] = ..., not_found: _Optional[bool] = ..., failed: _Optional[bool] = ...) -> None: ...

class LeftOut(_message.Message):
    __slots__ = ("job_id", "job_name", "reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    job_name: str
    reason: str
    def __init__(self, job_id: _Optional[int] = ..., job_name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ImportJobsResponse(_message.Message):
    __slots__ = ("projects", "skipped", "left_out", "warnings", "next_page_token", "jobs_total", "jobs_remaining")
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    LEFT_OUT_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    JOBS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    JOBS_REMAINING_FIELD_NUMBER: _ClassVar[int]
    projects: _containers.RepeatedCompositeFieldContainer[ImportedProject]
    skipped: _containers.RepeatedCompositeFieldContainer[SkippedJob]
    left_out: _containers.RepeatedCompositeFieldContainer[LeftOut]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    jobs_total: int
    jobs_remaining: int
    def __init__(self, projects: _Optional[_Iterable[_Union[ImportedProject, _Mapping]]] = ..., skipped: _Optional[_Iterable[_Union[SkippedJob, _Mapping]]] = ..., left_out: _Optional[_Iterable[_Union[LeftOut, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ..., jobs_total: _Optional[int] = ..., jobs_remaining: _Optional[int] = ...) -> None: ...

class ProjectSettings(_message.Message):
    __slots__ = ("sla_seconds", "auto_apply", "min_workers", "max_workers", "allowed_families", "spot_allowed", "driver_node_type_id", "keep_autoscaling", "learning_budget", "clear_sla", "replace_allowed_families", "sla_every_run", "clear_min_workers", "clear_max_workers", "working_sla", "clear_driver_node_type_id")
    SLA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    AUTO_APPLY_FIELD_NUMBER: _ClassVar[int]
    MIN_WORKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_WORKERS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FAMILIES_FIELD_NUMBER: _ClassVar[int]
    SPOT_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    DRIVER_NODE_TYPE_ID_FIELD_NUMBER: _ClassVar[int]
    KEEP_AUTOSCALING_FIELD_NUMBER: _ClassVar[int]
    LEARNING_BUDGET_FIELD_NUMBER: _ClassVar[int]
    CLEAR_SLA_FIELD_NUMBER: _ClassVar[int]
    REPLACE_ALLOWED_FAMILIES_FIELD_NUMBER: _ClassVar[int]
    SLA_EVERY_RUN_FIELD_NUMBER: _ClassVar[int]
    CLEAR_MIN_WORKERS_FIELD_NUMBER: _ClassVar[int]
    CLEAR_MAX_WORKERS_FIELD_NUMBER: _ClassVar[int]
    WORKING_SLA_FIELD_NUMBER: _ClassVar[int]
    CLEAR_DRIVER_NODE_TYPE_ID_FIELD_NUMBER: _ClassVar[int]
    sla_seconds: float
    auto_apply: bool
    min_workers: int
    max_workers: int
    allowed_families: _containers.RepeatedScalarFieldContainer[str]
    spot_allowed: bool
    driver_node_type_id: str
    keep_autoscaling: bool
    learning_budget: int
    clear_sla: bool
    replace_allowed_families: bool
    sla_every_run: bool
    clear_min_workers: bool
    clear_max_workers: bool
    working_sla: bool
    clear_driver_node_type_id: bool
    def __init__(self, sla_seconds: _Optional[float] = ..., auto_apply: _Optional[bool] = ..., min_workers: _Optional[int] = ..., max_workers: _Optional[int] = ..., allowed_families: _Optional[_Iterable[str]] = ..., spot_allowed: _Optional[bool] = ..., driver_node_type_id: _Optional[str] = ..., keep_autoscaling: _Optional[bool] = ..., learning_budget: _Optional[int] = ..., clear_sla: _Optional[bool] = ..., replace_allowed_families: _Optional[bool] = ..., sla_every_run: _Optional[bool] = ..., clear_min_workers: _Optional[bool] = ..., clear_max_workers: _Optional[bool] = ..., working_sla: _Optional[bool] = ..., clear_driver_node_type_id: _Optional[bool] = ...) -> None: ...

class Project(_message.Message):
    __slots__ = ("id", "name", "workspace", "job_id", "job_name", "cluster_key", "phase", "settings", "orphaned", "detached", "created_at_ms", "run_count", "current_config", "latest_cost", "latest_runtime_s", "sla_met_fraction", "problem", "default_max_workers", "auto_apply_hold", "latest_outcome", "pending_recommendation", "current_cost_per_run", "working_sla_seconds", "orphaned_reason", "collection_problem", "search_window_low_cores", "search_window_high_cores", "search_window", "sla_met_fraction_now", "sla_now_judged", "sla_earlier_judged")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_KEY_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    ORPHANED_FIELD_NUMBER: _ClassVar[int]
    DETACHED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    RUN_COUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_CONFIG_FIELD_NUMBER: _ClassVar[int]
    LATEST_COST_FIELD_NUMBER: _ClassVar[int]
    LATEST_RUNTIME_S_FIELD_NUMBER: _ClassVar[int]
    SLA_MET_FRACTION_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MAX_WORKERS_FIELD_NUMBER: _ClassVar[int]
    AUTO_APPLY_HOLD_FIELD_NUMBER: _ClassVar[int]
    LATEST_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    PENDING_RECOMMENDATION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_COST_PER_RUN_FIELD_NUMBER: _ClassVar[int]
    WORKING_SLA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ORPHANED_REASON_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_PROBLEM_FIELD_NUMBER: _ClassVar[int]
    SEARCH_WINDOW_LOW_CORES_FIELD_NUMBER: _ClassVar[int]
    SEARCH_WINDOW_HIGH_CORES_FIELD_NUMBER: _ClassVar[int]
    SEARCH_WINDOW_FIELD_NUMBER: _ClassVar[int]
    SLA_MET_FRACTION_NOW_FIELD_NUMBER: _ClassVar[int]
    SLA_NOW_JUDGED_FIELD_NUMBER: _ClassVar[int]
    SLA_EARLIER_JUDGED_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    workspace: str
    job_id: int
    job_name: str
    cluster_key: str
    phase: str
    settings: ProjectSettings
    orphaned: bool
    detached: bool
    created_at_ms: int
    run_count: int
    current_config: _common_pb2.ClusterConfig
    latest_cost: float
    latest_runtime_s: float
    sla_met_fraction: float
    problem: PlanProblem
    default_max_workers: int
    auto_apply_hold: str
    latest_outcome: str
    pending_recommendation: Recommendation
    current_cost_per_run: float
    working_sla_seconds: float
    orphaned_reason: str
    collection_problem: CollectionProblem
    search_window_low_cores: float
    search_window_high_cores: float
    search_window: str
    sla_met_fraction_now: float
    sla_now_judged: int
    sla_earlier_judged: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., workspace: _Optional[str] = ..., job_id: _Optional[int] = ..., job_name: _Optional[str] = ..., cluster_key: _Optional[str] = ..., phase: _Optional[str] = ..., settings: _Optional[_Union[ProjectSettings, _Mapping]] = ..., orphaned: _Optional[bool] = ..., detached: _Optional[bool] = ..., created_at_ms: _Optional[int] = ..., run_count: _Optional[int] = ..., current_config: _Optional[_Union[_common_pb2.ClusterConfig, _Mapping]] = ..., latest_cost: _Optional[float] = ..., latest_runtime_s: _Optional[float] = ..., sla_met_fraction: _Optional[float] = ..., problem: _Optional[_Union[PlanProblem, _Mapping]] = ..., default_max_workers: _Optional[int] = ..., auto_apply_hold: _Optional[str] = ..., latest_outcome: _Optional[str] = ..., pending_recommendation: _Optional[_Union[Recommendation, _Mapping]] = ..., current_cost_per_run: _Optional[float] = ..., working_sla_seconds: _Optional[float] = ..., orphaned_reason: _Optional[str] = ..., collection_problem: _Optional[_Union[CollectionProblem, _Mapping]] = ..., search_window_low_cores: _Optional[float] = ..., search_window_high_cores: _Optional[float] = ..., search_window: _Optional[str] = ..., sla_met_fraction_now: _Optional[float] = ..., sla_now_judged: _Optional[int] = ..., sla_earlier_judged: _Optional[int] = ...) -> None: ...

class CollectionProblem(_message.Message):
    __slots__ = ("scope", "status", "message", "since_ms", "failures")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    scope: str
    status: str
    message: str
    since_ms: int
    failures: int
    def __init__(self, scope: _Optional[str] = ..., status: _Optional[str] = ..., message: _Optional[str] = ..., since_ms: _Optional[int] = ..., failures: _Optional[int] = ...) -> None: ...

class PlanProblem(_message.Message):
    __slots__ = ("step", "run_id", "at_ms", "message", "after_run_id")
    STEP_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    AFTER_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    step: str
    run_id: int
    at_ms: int
    message: str
    after_run_id: str
    def __init__(self, step: _Optional[str] = ..., run_id: _Optional[int] = ..., at_ms: _Optional[int] = ..., message: _Optional[str] = ..., after_run_id: _Optional[str] = ...) -> None: ...

class ListProjectsRequest(_message.Message):
    __slots__ = ("workspace",)
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    def __init__(self, workspace: _Optional[str] = ...) -> None: ...

class ListProjectsResponse(_message.Message):
    __slots__ = ("projects",)
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    projects: _containers.RepeatedCompositeFieldContainer[Project]
    def __init__(self, projects: _Optional[_Iterable[_Union[Project, _Mapping]]] = ...) -> None: ...

class GetProjectRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class UpdateProjectSettingsRequest(_message.Message):
    __slots__ = ("project", "settings")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    project: str
    settings: ProjectSettings
    def __init__(self, project: _Optional[str] = ..., settings: _Optional[_Union[ProjectSettings, _Mapping]] = ...) -> None: ...

class DetachProjectRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class GetTimelineRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class TimelinePoint(_message.Message):
    __slots__ = ("run_id", "start_time_ms", "runtime_s", "cost", "phase", "outcome", "anomalies", "applied_recommendation_id", "input_gb", "setup_s", "execution_only", "sla_seconds")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_S_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    APPLIED_RECOMMENDATION_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_GB_FIELD_NUMBER: _ClassVar[int]
    SETUP_S_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_ONLY_FIELD_NUMBER: _ClassVar[int]
    SLA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    start_time_ms: int
    runtime_s: float
    cost: float
    phase: str
    outcome: str
    anomalies: _containers.RepeatedScalarFieldContainer[str]
    applied_recommendation_id: str
    input_gb: float
    setup_s: float
    execution_only: bool
    sla_seconds: float
    def __init__(self, run_id: _Optional[str] = ..., start_time_ms: _Optional[int] = ..., runtime_s: _Optional[float] = ..., cost: _Optional[float] = ..., phase: _Optional[str] = ..., outcome: _Optional[str] = ..., anomalies: _Optional[_Iterable[str]] = ..., applied_recommendation_id: _Optional[str] = ..., input_gb: _Optional[float] = ..., setup_s: _Optional[float] = ..., execution_only: _Optional[bool] = ..., sla_seconds: _Optional[float] = ...) -> None: ...

class Timeline(_message.Message):
    __slots__ = ("project", "points", "sla_seconds", "working_sla_seconds")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    SLA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WORKING_SLA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    project: Project
    points: _containers.RepeatedCompositeFieldContainer[TimelinePoint]
    sla_seconds: float
    working_sla_seconds: float
    def __init__(self, project: _Optional[_Union[Project, _Mapping]] = ..., points: _Optional[_Iterable[_Union[TimelinePoint, _Mapping]]] = ..., sla_seconds: _Optional[float] = ..., working_sla_seconds: _Optional[float] = ...) -> None: ...

class GetSavingsRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class ProjectSavings(_message.Message):
    __slots__ = ("project_id", "project_name", "baseline_cost_per_run", "current_cost_per_run", "saved_to_date", "projected_annual", "basis", "runs", "cadence_basis", "runs_per_year", "cadence_note", "current_source", "current_recommendation_id", "current_runs", "cost_basis", "billed_runs", "user_edited_runs", "baseline_runs", "has_sla", "not_comparable_since_run_id", "workload_change", "not_comparable_note", "not_comparable_runs", "per_gb_unproven", "preliminary", "saved_to_date_preliminary", "baseline_note", "repriced_runs", "dbu_plan", "other_config_runs", "user_config_since_run_id", "saving_fraction", "current_over_sla_runs")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_NAME_FIELD_NUMBER: _ClassVar[int]
    BASELINE_COST_PER_RUN_FIELD_NUMBER: _ClassVar[int]
    CURRENT_COST_PER_RUN_FIELD_NUMBER: _ClassVar[int]
    SAVED_TO_DATE_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_ANNUAL_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    CADENCE_BASIS_FIELD_NUMBER: _ClassVar[int]
    RUNS_PER_YEAR_FIELD_NUMBER: _ClassVar[int]
    CADENCE_NOTE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_RECOMMENDATION_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENT_RUNS_FIELD_NUMBER: _ClassVar[int]
    COST_BASIS_FIELD_NUMBER: _ClassVar[int]
    BILLED_RUNS_FIELD_NUMBER: _ClassVar[int]
    USER_EDITED_RUNS_FIELD_NUMBER: _ClassVar[int]
    BASELINE_RUNS_FIELD_NUMBER: _ClassVar[int]
    HAS_SLA_FIELD_NUMBER: _ClassVar[int]
    NOT_COMPARABLE_SINCE_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_CHANGE_FIELD_NUMBER: _ClassVar[int]
    NOT_COMPARABLE_NOTE_FIELD_NUMBER: _ClassVar[int]
    NOT_COMPARABLE_RUNS_FIELD_NUMBER: _ClassVar[int]
    PER_GB_UNPROVEN_FIELD_NUMBER: _ClassVar[int]
    PRELIMINARY_FIELD_NUMBER: _ClassVar[int]
    SAVED_TO_DATE_PRELIMINARY_FIELD_NUMBER: _ClassVar[int]
    BASELINE_NOTE_FIELD_NUMBER: _ClassVar[int]
    REPRICED_RUNS_FIELD_NUMBER: _ClassVar[int]
    DBU_PLAN_FIELD_NUMBER: _ClassVar[int]
    OTHER_CONFIG_RUNS_FIELD_NUMBER: _ClassVar[int]
    USER_CONFIG_SINCE_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SAVING_FRACTION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_OVER_SLA_RUNS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    project_name: str
    baseline_cost_per_run: float
    current_cost_per_run: float
    saved_to_date: float
    projected_annual: float
    basis: str
    runs: int
    cadence_basis: str
    runs_per_year: float
    cadence_note: str
    current_source: str
    current_recommendation_id: str
    current_runs: int
    cost_basis: str
    billed_runs: int
    user_edited_runs: int
    baseline_runs: int
    has_sla: bool
    not_comparable_since_run_id: str
    workload_change: str
    not_comparable_note: str
    not_comparable_runs: int
    per_gb_unproven: bool
    preliminary: bool
    saved_to_date_preliminary: bool
    baseline_note: str
    repriced_runs: int
    dbu_plan: str
    other_config_runs: int
    user_config_since_run_id: str
    saving_fraction: float
    current_over_sla_runs: int
    def __init__(self, project_id: _Optional[str] = ..., project_name: _Optional[str] = ..., baseline_cost_per_run: _Optional[float] = ..., current_cost_per_run: _Optional[float] = ..., saved_to_date: _Optional[float] = ..., projected_annual: _Optional[float] = ..., basis: _Optional[str] = ..., runs: _Optional[int] = ..., cadence_basis: _Optional[str] = ..., runs_per_year: _Optional[float] = ..., cadence_note: _Optional[str] = ..., current_source: _Optional[str] = ..., current_recommendation_id: _Optional[str] = ..., current_runs: _Optional[int] = ..., cost_basis: _Optional[str] = ..., billed_runs: _Optional[int] = ..., user_edited_runs: _Optional[int] = ..., baseline_runs: _Optional[int] = ..., has_sla: _Optional[bool] = ..., not_comparable_since_run_id: _Optional[str] = ..., workload_change: _Optional[str] = ..., not_comparable_note: _Optional[str] = ..., not_comparable_runs: _Optional[int] = ..., per_gb_unproven: _Optional[bool] = ..., preliminary: _Optional[bool] = ..., saved_to_date_preliminary: _Optional[bool] = ..., baseline_note: _Optional[str] = ..., repriced_runs: _Optional[int] = ..., dbu_plan: _Optional[str] = ..., other_config_runs: _Optional[int] = ..., user_config_since_run_id: _Optional[str] = ..., saving_fraction: _Optional[float] = ..., current_over_sla_runs: _Optional[int] = ...) -> None: ...

class SavingsReport(_message.Message):
    __slots__ = ("projects", "total_saved_to_date", "total_projected_annual", "currency", "waiting")
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SAVED_TO_DATE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PROJECTED_ANNUAL_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    projects: _containers.RepeatedCompositeFieldContainer[ProjectSavings]
    total_saved_to_date: float
    total_projected_annual: float
    currency: str
    waiting: _containers.RepeatedCompositeFieldContainer[NoSavingsYet]
    def __init__(self, projects: _Optional[_Iterable[_Union[ProjectSavings, _Mapping]]] = ..., total_saved_to_date: _Optional[float] = ..., total_projected_annual: _Optional[float] = ..., currency: _Optional[str] = ..., waiting: _Optional[_Iterable[_Union[NoSavingsYet, _Mapping]]] = ...) -> None: ...

class NoSavingsYet(_message.Message):
    __slots__ = ("project_id", "project_name", "failed_runs", "failed_cost", "baseline_runs", "reason")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_NAME_FIELD_NUMBER: _ClassVar[int]
    FAILED_RUNS_FIELD_NUMBER: _ClassVar[int]
    FAILED_COST_FIELD_NUMBER: _ClassVar[int]
    BASELINE_RUNS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    project_name: str
    failed_runs: int
    failed_cost: float
    baseline_runs: int
    reason: str
    def __init__(self, project_id: _Optional[str] = ..., project_name: _Optional[str] = ..., failed_runs: _Optional[int] = ..., failed_cost: _Optional[float] = ..., baseline_runs: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("id", "project_id", "databricks_run_id", "cluster_id", "start_time_ms", "end_time_ms", "runtime_s", "outcome", "config", "input_bytes", "cost", "anomalies", "application_ids", "recommendation_id", "phase", "stages", "executors", "driver", "setup_s", "message", "execution_only", "wait_s", "not_learned", "agent_refusal", "peak_workers", "sla_seconds", "sla_met", "current_sla_seconds", "nodes_lost", "nodes_replaced", "detail_pruned_at_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DATABRICKS_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_S_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    INPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_IDS_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_ID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    EXECUTORS_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    SETUP_S_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_ONLY_FIELD_NUMBER: _ClassVar[int]
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    NOT_LEARNED_FIELD_NUMBER: _ClassVar[int]
    AGENT_REFUSAL_FIELD_NUMBER: _ClassVar[int]
    PEAK_WORKERS_FIELD_NUMBER: _ClassVar[int]
    SLA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SLA_MET_FIELD_NUMBER: _ClassVar[int]
    CURRENT_SLA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    NODES_LOST_FIELD_NUMBER: _ClassVar[int]
    NODES_REPLACED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_PRUNED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    databricks_run_id: int
    cluster_id: str
    start_time_ms: int
    end_time_ms: int
    runtime_s: float
    outcome: str
    config: _common_pb2.ClusterConfig
    input_bytes: int
    cost: _common_pb2.CostBreakdown
    anomalies: _containers.RepeatedScalarFieldContainer[str]
    application_ids: _containers.RepeatedScalarFieldContainer[str]
    recommendation_id: str
    phase: str
    stages: _containers.RepeatedCompositeFieldContainer[StageSummary]
    executors: _containers.RepeatedCompositeFieldContainer[ExecutorSummary]
    driver: DriverUse
    setup_s: float
    message: str
    execution_only: bool
    wait_s: float
    not_learned: str
    agent_refusal: AgentRefusal
    peak_workers: int
    sla_seconds: float
    sla_met: bool
    current_sla_seconds: float
    nodes_lost: int
    nodes_replaced: int
    detail_pruned_at_ms: int
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., databricks_run_id: _Optional[int] = ..., cluster_id: _Optional[str] = ..., start_time_ms: _Optional[int] = ..., end_time_ms: _Optional[int] = ..., runtime_s: _Optional[float] = ..., outcome: _Optional[str] = ..., config: _Optional[_Union[_common_pb2.ClusterConfig, _Mapping]] = ..., input_bytes: _Optional[int] = ..., cost: _Optional[_Union[_common_pb2.CostBreakdown, _Mapping]] = ..., anomalies: _Optional[_Iterable[str]] = ..., application_ids: _Optional[_Iterable[str]] = ..., recommendation_id: _Optional[str] = ..., phase: _Optional[str] = ..., stages: _Optional[_Iterable[_Union[StageSummary, _Mapping]]] = ..., executors: _Optional[_Iterable[_Union[ExecutorSummary, _Mapping]]] = ..., driver: _Optional[_Union[DriverUse, _Mapping]] = ..., setup_s: _Optional[float] = ..., message: _Optional[str] = ..., execution_only: _Optional[bool] = ..., wait_s: _Optional[float] = ..., not_learned: _Optional[str] = ..., agent_refusal: _Optional[_Union[AgentRefusal, _Mapping]] = ..., peak_workers: _Optional[int] = ..., sla_seconds: _Optional[float] = ..., sla_met: _Optional[bool] = ..., current_sla_seconds: _Optional[float] = ..., nodes_lost: _Optional[int] = ..., nodes_replaced: _Optional[int] = ..., detail_pruned_at_ms: _Optional[int] = ...) -> None: ...

class AgentRefusal(_message.Message):
    __slots__ = ("reason", "at_ms", "fix", "calls")
    REASON_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    FIX_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    reason: str
    at_ms: int
    fix: str
    calls: int
    def __init__(self, reason: _Optional[str] = ..., at_ms: _Optional[int] = ..., fix: _Optional[str] = ..., calls: _Optional[int] = ...) -> None: ...

class DriverUse(_message.Message):
    __slots__ = ("peak_heap_bytes", "gc_ms", "peak_outside_heap_bytes")
    PEAK_HEAP_BYTES_FIELD_NUMBER: _ClassVar[int]
    GC_MS_FIELD_NUMBER: _ClassVar[int]
    PEAK_OUTSIDE_HEAP_BYTES_FIELD_NUMBER: _ClassVar[int]
    peak_heap_bytes: int
    gc_ms: int
    peak_outside_heap_bytes: int
    def __init__(self, peak_heap_bytes: _Optional[int] = ..., gc_ms: _Optional[int] = ..., peak_outside_heap_bytes: _Optional[int] = ...) -> None: ...

class StageSummary(_message.Message):
    __slots__ = ("stage_id", "attempt_id", "name", "num_tasks", "duration_s", "metrics", "task_duration_ms", "failure_reason", "input_from_cache")
    STAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUM_TASKS_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TASK_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    INPUT_FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    stage_id: int
    attempt_id: int
    name: str
    num_tasks: int
    duration_s: float
    metrics: _common_pb2.TaskMetrics
    task_duration_ms: _common_pb2.Distribution
    failure_reason: str
    input_from_cache: bool
    def __init__(self, stage_id: _Optional[int] = ..., attempt_id: _Optional[int] = ..., name: _Optional[str] = ..., num_tasks: _Optional[int] = ..., duration_s: _Optional[float] = ..., metrics: _Optional[_Union[_common_pb2.TaskMetrics, _Mapping]] = ..., task_duration_ms: _Optional[_Union[_common_pb2.Distribution, _Mapping]] = ..., failure_reason: _Optional[str] = ..., input_from_cache: _Optional[bool] = ...) -> None: ...

class ExecutorSummary(_message.Message):
    __slots__ = ("executor_id", "host", "total_cores", "added_ms", "removed_ms", "removal_reason")
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CORES_FIELD_NUMBER: _ClassVar[int]
    ADDED_MS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_MS_FIELD_NUMBER: _ClassVar[int]
    REMOVAL_REASON_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    host: str
    total_cores: int
    added_ms: int
    removed_ms: int
    removal_reason: str
    def __init__(self, executor_id: _Optional[str] = ..., host: _Optional[str] = ..., total_cores: _Optional[int] = ..., added_ms: _Optional[int] = ..., removed_ms: _Optional[int] = ..., removal_reason: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("project", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class Application(_message.Message):
    __slots__ = ("application_id", "spark_app_id", "app_name", "spark_version", "cluster_id", "start_time_ms", "end_time_ms", "stage_count", "executor_count", "job_count", "run_id", "ended")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    SPARK_APP_ID_FIELD_NUMBER: _ClassVar[int]
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    SPARK_VERSION_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    STAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_COUNT_FIELD_NUMBER: _ClassVar[int]
    JOB_COUNT_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    spark_app_id: str
    app_name: str
    spark_version: str
    cluster_id: str
    start_time_ms: int
    end_time_ms: int
    stage_count: int
    executor_count: int
    job_count: int
    run_id: str
    ended: bool
    def __init__(self, application_id: _Optional[str] = ..., spark_app_id: _Optional[str] = ..., app_name: _Optional[str] = ..., spark_version: _Optional[str] = ..., cluster_id: _Optional[str] = ..., start_time_ms: _Optional[int] = ..., end_time_ms: _Optional[int] = ..., stage_count: _Optional[int] = ..., executor_count: _Optional[int] = ..., job_count: _Optional[int] = ..., run_id: _Optional[str] = ..., ended: _Optional[bool] = ...) -> None: ...

class ListApplicationsRequest(_message.Message):
    __slots__ = ("limit", "page_token", "run_id", "cluster_id", "unassigned")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    UNASSIGNED_FIELD_NUMBER: _ClassVar[int]
    limit: int
    page_token: str
    run_id: str
    cluster_id: str
    unassigned: bool
    def __init__(self, limit: _Optional[int] = ..., page_token: _Optional[str] = ..., run_id: _Optional[str] = ..., cluster_id: _Optional[str] = ..., unassigned: _Optional[bool] = ...) -> None: ...

class ListApplicationsResponse(_message.Message):
    __slots__ = ("applications", "next_page_token")
    APPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    applications: _containers.RepeatedCompositeFieldContainer[Application]
    next_page_token: str
    def __init__(self, applications: _Optional[_Iterable[_Union[Application, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetApplicationRequest(_message.Message):
    __slots__ = ("application_id",)
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    def __init__(self, application_id: _Optional[str] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("agent_id", "version", "hostname", "cluster_id", "workspace", "last_seen_ms", "batches_received", "counters")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_MS_FIELD_NUMBER: _ClassVar[int]
    BATCHES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    version: str
    hostname: str
    cluster_id: str
    workspace: str
    last_seen_ms: int
    batches_received: int
    counters: _ingest_pb2.AgentCounters
    def __init__(self, agent_id: _Optional[str] = ..., version: _Optional[str] = ..., hostname: _Optional[str] = ..., cluster_id: _Optional[str] = ..., workspace: _Optional[str] = ..., last_seen_ms: _Optional[int] = ..., batches_received: _Optional[int] = ..., counters: _Optional[_Union[_ingest_pb2.AgentCounters, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("workspace", "cluster_id", "limit")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    cluster_id: str
    limit: int
    def __init__(self, workspace: _Optional[str] = ..., cluster_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents", "agent_build")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    AGENT_BUILD_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[Agent]
    agent_build: str
    def __init__(self, agents: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ..., agent_build: _Optional[str] = ...) -> None: ...

class Interval(_message.Message):
    __slots__ = ("low", "high")
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    low: float
    high: float
    def __init__(self, low: _Optional[float] = ..., high: _Optional[float] = ...) -> None: ...

class Recommendation(_message.Message):
    __slots__ = ("id", "project_id", "created_at_ms", "state", "config", "predicted_runtime_s", "runtime_interval_s", "predicted_cost", "cost_interval", "p_meet_sla", "reason", "phase", "storage_advice", "projected_monthly_saving", "applied_at_ms", "applied_by", "reverted_at_ms", "reverted_by", "already_on_job", "planned_from", "currency", "working_sla_seconds")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_RUNTIME_S_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_COST_FIELD_NUMBER: _ClassVar[int]
    COST_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    P_MEET_SLA_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    STORAGE_ADVICE_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_MONTHLY_SAVING_FIELD_NUMBER: _ClassVar[int]
    APPLIED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_BY_FIELD_NUMBER: _ClassVar[int]
    REVERTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    REVERTED_BY_FIELD_NUMBER: _ClassVar[int]
    ALREADY_ON_JOB_FIELD_NUMBER: _ClassVar[int]
    PLANNED_FROM_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    WORKING_SLA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    created_at_ms: int
    state: str
    config: _common_pb2.ClusterConfig
    predicted_runtime_s: float
    runtime_interval_s: Interval
    predicted_cost: float
    cost_interval: Interval
    p_meet_sla: float
    reason: str
    phase: str
    storage_advice: str
    projected_monthly_saving: float
    applied_at_ms: int
    applied_by: str
    reverted_at_ms: int
    reverted_by: str
    already_on_job: bool
    planned_from: _common_pb2.ClusterConfig
    currency: str
    working_sla_seconds: float
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., state: _Optional[str] = ..., config: _Optional[_Union[_common_pb2.ClusterConfig, _Mapping]] = ..., predicted_runtime_s: _Optional[float] = ..., runtime_interval_s: _Optional[_Union[Interval, _Mapping]] = ..., predicted_cost: _Optional[float] = ..., cost_interval: _Optional[_Union[Interval, _Mapping]] = ..., p_meet_sla: _Optional[float] = ..., reason: _Optional[str] = ..., phase: _Optional[str] = ..., storage_advice: _Optional[str] = ..., projected_monthly_saving: _Optional[float] = ..., applied_at_ms: _Optional[int] = ..., applied_by: _Optional[str] = ..., reverted_at_ms: _Optional[int] = ..., reverted_by: _Optional[str] = ..., already_on_job: _Optional[bool] = ..., planned_from: _Optional[_Union[_common_pb2.ClusterConfig, _Mapping]] = ..., currency: _Optional[str] = ..., working_sla_seconds: _Optional[float] = ...) -> None: ...

class ListRecommendationsRequest(_message.Message):
    __slots__ = ("project", "state", "page_size", "page_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: str
    state: str
    page_size: int
    page_token: str
    def __init__(self, project: _Optional[str] = ..., state: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRecommendationsResponse(_message.Message):
    __slots__ = ("recommendations", "next_page_token")
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    recommendations: _containers.RepeatedCompositeFieldContainer[Recommendation]
    next_page_token: str
    def __init__(self, recommendations: _Optional[_Iterable[_Union[Recommendation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetRecommendationRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class ApplyRecommendationRequest(_message.Message):
    __slots__ = ("project", "dry_run", "recommendation_id", "replace_unconfirmed")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_ID_FIELD_NUMBER: _ClassVar[int]
    REPLACE_UNCONFIRMED_FIELD_NUMBER: _ClassVar[int]
    project: str
    dry_run: bool
    recommendation_id: str
    replace_unconfirmed: bool
    def __init__(self, project: _Optional[str] = ..., dry_run: _Optional[bool] = ..., recommendation_id: _Optional[str] = ..., replace_unconfirmed: _Optional[bool] = ...) -> None: ...

class ApplyResult(_message.Message):
    __slots__ = ("recommendation", "diff", "applied", "note")
    RECOMMENDATION_FIELD_NUMBER: _ClassVar[int]
    DIFF_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    recommendation: Recommendation
    diff: str
    applied: bool
    note: str
    def __init__(self, recommendation: _Optional[_Union[Recommendation, _Mapping]] = ..., diff: _Optional[str] = ..., applied: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class RejectRecommendationRequest(_message.Message):
    __slots__ = ("project", "recommendation_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    recommendation_id: str
    def __init__(self, project: _Optional[str] = ..., recommendation_id: _Optional[str] = ...) -> None: ...

class RevertRecommendationRequest(_message.Message):
    __slots__ = ("project", "dry_run", "recommendation_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    dry_run: bool
    recommendation_id: str
    def __init__(self, project: _Optional[str] = ..., dry_run: _Optional[bool] = ..., recommendation_id: _Optional[str] = ...) -> None: ...
