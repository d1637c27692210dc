"""Rows ⇄ domain objects. Pure functions; the only place that knows both shapes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from server.domain import (
    TASK_METRIC_NAMES,
    ApiToken,
    Application,
    ClusterConfig,
    CostBreakdown,
    Distribution,
    Executor,
    Job,
    JobSchedule,
    Project,
    ProjectSettings,
    Recommendation,
    Run,
    SqlExecution,
    Stage,
    Workspace,
)
from server.errors import InvalidArgument

_DIST_FIELDS = ("count", "min", "p25", "p50", "p75", "p90", "p95", "p99", "max", "sum")


def storable_text(value: str) -> str:
    """`value` storable in a PostgreSQL text column: NUL, which PostgreSQL refuses (the whole
    write failed) and SQLite keeps, becomes U+FFFD on both engines, so the row is stored, and
    stored alike everywhere. For text only (an agent's, or what Databricks answers: a job's name,
    a run's state message and cluster id, an error's words); a key the store finds a row by again
    is not rewritten but refused (`storable_key`)."""
    return value.replace("\x00", "\ufffd")


def storable_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """A row's column ``values`` with every text value `storable_text`: the one rule each row made
    here (and each repository write of outside text) goes through, so no column is left out
    (a run's cluster id with NUL once stopped a whole workspace's collection on PostgreSQL, its
    message cleaned but not its cluster id). Keys are refused by `storable_key` before it.
    JSON columns are stored as JSON text, where NUL is written ``\\u0000``, which PostgreSQL's
    ``json`` type takes."""
    return {column: storable_text(v) if isinstance(v, str) else v for column, v in values.items()}


def storable_key(value: str, what: str) -> str:
    """``value`` as it is: a key something is found again by (a job cluster's key, which the job's
    own spec and every later lookup name as Databricks has it) is never rewritten. One with NUL is
    refused on both engines (`InvalidArgument`), as PostgreSQL refuses it, rather than stored on
    SQLite only."""
    if "\x00" in value:
        raise InvalidArgument(f"{what} {value!r} contains a NUL character (\\x00), which the database cannot store")
    return value


def config_to_json(config: ClusterConfig | None) -> dict[str, Any] | None:
    return None if config is None else dataclasses.asdict(config)


def config_from_json(data: dict[str, Any] | None) -> ClusterConfig | None:
    if not data:
        return None
    names = {f.name for f in dataclasses.fields(ClusterConfig)}
    return ClusterConfig(**{k: v for k, v in data.items() if k in names})


def settings_to_json(settings: ProjectSettings) -> dict[str, Any]:
    data = dataclasses.asdict(settings)
    data["allowed_families"] = list(settings.allowed_families)
    return data


def settings_from_json(data: dict[str, Any]) -> ProjectSettings:
    names = {f.name for f in dataclasses.fields(ProjectSettings)}
    clean = {k: v for k, v in data.items() if k in names}
    clean["allowed_families"] = tuple(clean.get("allowed_families") or ())
    # Worker bounds of 0, accepted before bounds needed a worker (server.services.projects
    # check_worker_bounds), read as unset: otherwise such a project could neither be planned nor
    # have any other setting changed after an upgrade.
    for bound in ("min_workers", "max_workers"):
        if clean.get(bound) is not None and clean[bound] < 1:
            clean[bound] = None
    # Settings stored before `sla_every_run` existed were planned for the typical run: an upgrade keeps
    # that promise rather than silently moving such a project to dearer clusters (new projects get the
    # every-run default).
    clean.setdefault("sla_every_run", False)
    return ProjectSettings(**clean)


def workspace(row: Any) -> Workspace:
    return Workspace(
        id=row.id, name=row.name, host=row.host, cloud=row.cloud, plan=row.plan, region=row.region,
        token_masked=row.token_masked, status=row.status, last_error=row.last_error,
        has_cloud_credentials=bool(row.cloud_credentials_encrypted), created_at_ms=row.created_at_ms,
        auto_import=bool(row.auto_import), bills_read_at_ms=row.bills_read_at_ms,
        bill_read_failed_at_ms=row.bill_read_failed_at_ms, bill_read_error=row.bill_read_error or "",
        client_id=row.client_id or "",
    )


def project(row: Any) -> Project:
    return Project(
        id=row.id, workspace=row.workspace, job_id=row.job_id, cluster_key=row.cluster_key,
        job_name=row.job_name, phase=row.phase, settings=settings_from_json(row.settings or {}),
        original_spec=row.original_spec or {}, current_spec=row.current_spec or {},
        orphaned=row.orphaned, detached=row.detached, last_seen_run_id=row.last_seen_run_id,
        pending_apply=row.pending_apply, state=row.project_state or {}, created_at_ms=row.created_at_ms,
        schedule=schedule_from_json(row.schedule),
    )


def project_values(p: Project) -> dict[str, Any]:
    """Column values of a project, without its id."""
    return storable_row({
        # Both from Databricks (the job's settings): a name is text, a cluster key a key.
        "workspace": p.workspace, "job_id": p.job_id, "cluster_key": storable_key(p.cluster_key, "cluster key"),
        "job_name": p.job_name, "phase": p.phase, "settings": settings_to_json(p.settings),
        "original_spec": p.original_spec, "current_spec": p.current_spec, "orphaned": p.orphaned,
        "detached": p.detached, "last_seen_run_id": p.last_seen_run_id,
        "pending_apply": p.pending_apply, "project_state": p.state, "created_at_ms": p.created_at_ms,
        "schedule": schedule_to_json(p.schedule),
    })


def schedule_from_json(data: dict[str, Any] | None) -> JobSchedule | None:
    if not data:
        return None
    periodic = data.get("periodic")
    return JobSchedule(quartz_cron_expression=str(data.get("quartz_cron_expression") or ""),
                       timezone_id=str(data.get("timezone_id") or "UTC"),
                       paused=data.get("pause_status") == "PAUSED",
                       interval_s=float(periodic["interval_s"]) if isinstance(periodic, dict) else None,
                       # Stored before it was kept: 1, the Jobs API's default (the next poll corrects it).
                       max_concurrent_runs=int(data.get("max_concurrent_runs", 1)))


def schedule_to_json(schedule: JobSchedule | None) -> dict[str, Any] | None:
    """Stored in the Jobs API's own shape, so the column reads like the job's settings (a periodic
    trigger's interval in seconds)."""
    if schedule is None:
        return None
    out: dict[str, Any] = {"quartz_cron_expression": schedule.quartz_cron_expression,
                           "timezone_id": schedule.timezone_id,
                           "pause_status": "PAUSED" if schedule.paused else "UNPAUSED"}
    if schedule.interval_s is not None:
        out["periodic"] = {"interval_s": schedule.interval_s}
    out["max_concurrent_runs"] = schedule.max_concurrent_runs  # a job setting beside it, kept with it
    return out


def cost(row: Any) -> CostBreakdown:
    return CostBreakdown(
        dbu_cost=row.dbu_cost, compute_cost=row.compute_cost, storage_cost=row.storage_cost,
        total=row.total, dbus=row.dbus, currency=row.currency, source=row.source,
        billed_cloud_cost=row.billed_cloud_cost, cost_per_input_gb=row.cost_per_input_gb,
        used_by_models=row.used_by_models, note=row.note,
        window_start_ms=row.window_start_ms, window_end_ms=row.window_end_ms,
    )


def cost_values(c: CostBreakdown) -> dict[str, Any]:
    return storable_row(dataclasses.asdict(c))


def run(row: Any, cost_row: Any | None, application_ids: tuple[str, ...]) -> Run:
    return Run(
        id=row.id, project_id=row.project_id, databricks_run_id=row.databricks_run_id,
        cluster_id=row.cluster_id, start_ms=row.start_ms, end_ms=row.end_ms, runtime_s=row.runtime_s,
        outcome=row.outcome, config=config_from_json(row.config), input_bytes=row.input_bytes,
        cost=cost(cost_row) if cost_row is not None else None, anomalies=tuple(row.anomalies or ()),
        application_ids=application_ids, recommendation_id=row.recommendation_id, phase=row.phase,
        created_at_ms=row.created_at_ms, setup_s=row.setup_s, message=row.message or "",
        execution_only=bool(row.execution_only), wait_s=row.wait_s, not_learned=row.not_learned or "",
        peak_workers=row.peak_workers, sla_s=row.sla_s, nodes_lost=row.nodes_lost, nodes_replaced=row.nodes_replaced,
    )


def run_values(r: Run) -> dict[str, Any]:
    return storable_row({
        "project_id": r.project_id, "databricks_run_id": r.databricks_run_id, "cluster_id": r.cluster_id,
        "start_ms": r.start_ms, "end_ms": r.end_ms, "runtime_s": r.runtime_s, "outcome": r.outcome,
        "config": config_to_json(r.config), "input_bytes": r.input_bytes, "anomalies": list(r.anomalies),
        "recommendation_id": r.recommendation_id, "phase": r.phase, "created_at_ms": r.created_at_ms,
        "setup_s": r.setup_s, "message": r.message, "execution_only": r.execution_only,
        "wait_s": r.wait_s, "peak_workers": r.peak_workers, "sla_s": r.sla_s,
        "nodes_lost": r.nodes_lost, "nodes_replaced": r.nodes_replaced,
    })


def recommendation(row: Any) -> Recommendation:
    config = config_from_json(row.config) or ClusterConfig(node_type_id="")
    return Recommendation(
        id=row.id, project_id=row.project_id, config=config, created_at_ms=row.created_at_ms,
        state=row.state, predicted_runtime_s=row.predicted_runtime_s,
        runtime_interval_s=(row.runtime_low_s, row.runtime_high_s), predicted_cost=row.predicted_cost,
        cost_interval=(row.cost_low, row.cost_high), p_meet_sla=row.p_meet_sla, reason=row.reason,
        phase=row.phase, storage_advice=row.storage_advice,
        projected_monthly_saving=row.projected_monthly_saving,
        change_run_id=row.change_run_id, change_kind=row.change_kind,
        applied_at_ms=row.applied_at_ms, applied_by=row.applied_by or "", reverted_at_ms=row.reverted_at_ms,
        reverted_by=row.reverted_by or "", working_sla_s=row.working_sla_s,
    )


def recommendation_values(r: Recommendation) -> dict[str, Any]:
    return storable_row({
        "project_id": r.project_id, "created_at_ms": r.created_at_ms, "state": r.state,
        "config": config_to_json(r.config), "predicted_runtime_s": r.predicted_runtime_s,
        "runtime_low_s": r.runtime_interval_s[0], "runtime_high_s": r.runtime_interval_s[1],
        "predicted_cost": r.predicted_cost, "cost_low": r.cost_interval[0], "cost_high": r.cost_interval[1],
        "p_meet_sla": r.p_meet_sla, "reason": r.reason, "phase": r.phase,
        "storage_advice": r.storage_advice, "projected_monthly_saving": r.projected_monthly_saving,
        "change_run_id": r.change_run_id, "change_kind": r.change_kind,
        "applied_at_ms": r.applied_at_ms, "applied_by": r.applied_by,
        "reverted_at_ms": r.reverted_at_ms, "reverted_by": r.reverted_by, "working_sla_s": r.working_sla_s,
    })


def token(row: Any) -> ApiToken:
    return ApiToken(token_id=row.token_id, name=row.name, scope=row.scope, created_at_ms=row.created_at_ms,
                    last_used_ms=row.last_used_ms, revoked=row.revoked, workspace=row.workspace)


def application(row: Any, counts: tuple[int, int, int], run_id: int | None) -> Application:
    return Application(
        application_id=row.application_id, spark_app_id=row.spark_app_id, attempt_id=row.attempt_id,
        spark_context_id=row.spark_context_id, app_name=row.app_name, spark_version=row.spark_version,
        user=row.user, cluster_id=row.cluster_id, cluster_name=row.cluster_name, job_id=row.job_id,
        databricks_run_id=row.databricks_run_id, conf=dict(row.conf or {}),
        event_log_path=row.event_log_path, start_time_ms=row.start_time_ms, end_time_ms=row.end_time_ms,
        ended=row.ended, stage_count=counts[0], executor_count=counts[1], job_count=counts[2],
        agent_id=row.agent_id, run_id=run_id, workspace=row.workspace,
    )


# A stage row's metric columns before the set ones, and its task-duration columns (ingest_wire uses them too).
ZERO_METRICS = dict.fromkeys(TASK_METRIC_NAMES, 0)
_METRIC_SET = frozenset(TASK_METRIC_NAMES)
TD_COLUMNS = tuple(f"td_{name}" for name in _DIST_FIELDS)


def stage_values(s: Stage) -> dict[str, Any]:
    """Column values of a stage row. On the ingest hot path: kept to dict
    merges, no per-field Python loop."""
    metrics = s.metrics if s.metrics.keys() <= _METRIC_SET else {
        k: v for k, v in s.metrics.items() if k in _METRIC_SET}
    d = s.task_duration_ms
    return {
        "application_id": s.application_id, "stage_id": s.stage_id, "attempt_id": s.attempt_id,
        "name": s.name, "num_tasks": s.num_tasks, "parent_ids": list(s.parent_ids),
        "submission_time_ms": s.submission_time_ms, "completion_time_ms": s.completion_time_ms,
        "failure_reason": s.failure_reason, "tasks_succeeded": s.tasks_succeeded,
        "tasks_failed": s.tasks_failed, "tasks_killed": s.tasks_killed, "input_from_cache": s.input_from_cache,
        **ZERO_METRICS, **metrics,
        **dict(zip(TD_COLUMNS, (d.count, d.min, d.p25, d.p50, d.p75, d.p90, d.p95, d.p99, d.max, d.sum),
                   strict=True)),
    }


def stage(row: Any, peaks: tuple[Any, ...] = ()) -> Stage:
    from server.domain import ExecutorStagePeak

    return Stage(
        application_id=row.application_id, stage_id=row.stage_id, attempt_id=row.attempt_id,
        name=row.name, num_tasks=row.num_tasks, parent_ids=tuple(row.parent_ids or ()),
        submission_time_ms=row.submission_time_ms, completion_time_ms=row.completion_time_ms,
        failure_reason=row.failure_reason,
        metrics={name: getattr(row, name) for name in TASK_METRIC_NAMES},
        task_duration_ms=Distribution(**{name: getattr(row, f"td_{name}") for name in _DIST_FIELDS}),
        tasks_succeeded=row.tasks_succeeded, tasks_failed=row.tasks_failed, tasks_killed=row.tasks_killed,
        executor_peaks=tuple(ExecutorStagePeak(executor_id=p.executor_id, metrics=dict(p.metrics or {}))
                             for p in peaks),
        input_from_cache=bool(row.input_from_cache),
    )


def executor(row: Any) -> Executor:
    return Executor(
        application_id=row.application_id, executor_id=row.executor_id, host=row.host,
        total_cores=row.total_cores, added_ms=row.added_ms, removed_ms=row.removed_ms,
        removal_reason=row.removal_reason, removal_text=row.removal_text,
        resource_profile_id=row.resource_profile_id,
    )


def job(row: Any) -> Job:
    return Job(
        application_id=row.application_id, job_id=row.job_id, submission_time_ms=row.submission_time_ms,
        completion_time_ms=row.completion_time_ms, stage_ids=tuple(row.stage_ids or ()),
        succeeded=row.succeeded, sql_execution_id=row.sql_execution_id,
    )


def sql_execution(row: Any) -> SqlExecution:
    return SqlExecution(
        application_id=row.application_id, execution_id=row.execution_id, description=row.description,
        start_time_ms=row.start_time_ms, end_time_ms=row.end_time_ms, error=row.error,
    )
