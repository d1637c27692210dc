"""Domain objects -> admin protobuf messages (and settings changes and request ids back). Pure."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from protos.trimtab.v1 import admin_pb2, common_pb2, ingest_pb2
from server import translate
from server.costing.catalog import CURRENCY
from server.domain import (
    MAX_ROW_ID,
    AgentStatus,
    Application,
    ApplyOutcome,
    ClusterConfig,
    CostBreakdown,
    Executor,
    ImportResult,
    PlanProblem,
    ProjectSettings,
    Recommendation,
    Run,
    Stage,
    Workspace,
)
from server.errors import InvalidArgument, NotFound
from server.ids import parse_id
from server.orphan_cause import recorded_cause
from server.plan.candidates import project_default_max_workers
from server.services.collection_state import CollectionProblem
from server.services.pending import ShownRecommendation
from server.services.projects import ProjectSummary
from server.services.runs import RunDetail, RunSla
from server.services.savings import SavingsReport
from server.services.timeline import Timeline


def config(c: ClusterConfig | None) -> common_pb2.ClusterConfig | None:
    if c is None:
        return None
    return common_pb2.ClusterConfig(
        node_type_id=c.node_type_id, driver_node_type_id=c.driver_node_type_id, num_workers=c.num_workers,
        autoscale_min=c.autoscale_min, autoscale_max=c.autoscale_max, availability=c.availability,
        first_on_demand=c.first_on_demand, ebs_volume_type=c.ebs_volume_type,
        ebs_volume_count=c.ebs_volume_count, ebs_volume_size_gb=c.ebs_volume_size_gb,
        spark_version=c.spark_version, spec_json=json.dumps(c.spec, sort_keys=True) if c.spec else "",
    )


def cost(c: CostBreakdown | None) -> common_pb2.CostBreakdown | None:
    if c is None:
        return None
    return common_pb2.CostBreakdown(
        dbu_cost=c.dbu_cost, compute_cost=c.compute_cost, storage_cost=c.storage_cost, total=c.total,
        dbus=c.dbus, currency=c.currency, source=c.source, billed_cloud_cost=c.billed_cloud_cost,
        cost_per_input_gb=c.cost_per_input_gb, used_by_models=c.used_by_models, note=c.note,
    )


def workspace(w: Workspace, *, watched: bool = False, note: str = "", billing_warning: str = "") -> admin_pb2.Workspace:
    return admin_pb2.Workspace(
        name=w.name, host=w.host, cloud=w.cloud, plan=w.plan, token_masked=w.token_masked, status=w.status,
        last_error=w.last_error, created_at_ms=w.created_at_ms, has_cloud_credentials=w.has_cloud_credentials,
        region=w.region, auto_import=w.auto_import, watched=watched, note=note,
        bills_read_at_ms=w.bills_read_at_ms, bill_read_failed_at_ms=w.bill_read_failed_at_ms,
        bill_read_error=w.bill_read_error, billing_warning=billing_warning, client_id=w.client_id,
    )


def settings(s: ProjectSettings) -> admin_pb2.ProjectSettings:
    return admin_pb2.ProjectSettings(
        sla_seconds=s.sla_seconds, auto_apply=s.auto_apply, min_workers=s.min_workers,
        max_workers=s.max_workers, allowed_families=list(s.allowed_families), spot_allowed=s.spot_allowed,
        # "" (stored by servers that took it for "chosen by Trimtab") reads unset, as it means.
        driver_node_type_id=s.driver_node_type_id or None, keep_autoscaling=s.keep_autoscaling,
        learning_budget=s.learning_budget, sla_every_run=s.sla_every_run, working_sla=s.working_sla,
    )


# A setting and the flag that clears it: a request giving both is refused, as neither can be meant.
CLEARS = (("sla_seconds", "clear_sla"), ("min_workers", "clear_min_workers"), ("max_workers", "clear_max_workers"),
          ("driver_node_type_id", "clear_driver_node_type_id"))


def settings_changes(msg: admin_pb2.ProjectSettings) -> dict[str, Any]:
    """Only what the request names (proto3 optional presence); `clear_sla` clears the SLA,
    `clear_min_workers` / `clear_max_workers` a worker bound (None: the planner's default again), and
    `clear_driver_node_type_id` the driver (Trimtab chooses it).

    A value and its clear flag together are `InvalidArgument` naming both: the SLA was cleared
    without a word (review 9), whichever the caller meant."""
    for name, flag in CLEARS:
        if msg.HasField(name) and getattr(msg, flag):
            raise InvalidArgument(f"settings.{name} and settings.{flag}: give one, not both ({flag} clears "
                                  f"the setting, {name} sets it)")
    # An empty driver is what CLIs before clear_driver_node_type_id sent for `--driver-type auto`:
    # it clears the driver as the flag does, not stored as a driver set to nothing (HasField true with
    # "", which every reader took for "chosen by Trimtab"), and not refused (an older CLI would break).
    blank_driver = msg.HasField("driver_node_type_id") and not msg.driver_node_type_id.strip()
    changes: dict[str, Any] = {}
    for name in ("sla_seconds", "auto_apply", "min_workers", "max_workers", "spot_allowed",
                 "driver_node_type_id", "keep_autoscaling", "learning_budget", "sla_every_run",
                 "working_sla"):
        if msg.HasField(name):
            changes[name] = getattr(msg, name)
    for name, flag in CLEARS:
        if getattr(msg, flag):
            changes[name] = None
    if blank_driver:
        changes["driver_node_type_id"] = None
    if msg.replace_allowed_families or msg.allowed_families:
        changes["allowed_families"] = tuple(msg.allowed_families)
    return changes


# No row has an id above `MAX_ROW_ID` (SQL INTEGER, 32-bit on PostgreSQL). A larger number sent to
# the database fails deep in the driver (OverflowError on SQLite beyond 64 bits, "integer out of
# range" on PostgreSQL beyond 32), which was INTERNAL, not the NOT_FOUND a mistyped id deserves.
MAX_ID = MAX_ROW_ID
_NUMBER = re.compile(r"[+-]?[0-9]+")


def _signed_id(number: str, low: int) -> int | None:
    """A `_NUMBER` as the id it is when in [low, MAX_ID], else None; its digits are read by
    `server.ids.parse_id`, as the store reads them. The sign is the API's own and kept on purpose: a
    client may send "+42" (42), "-0" is 0, and any other negative number is no id."""
    value = parse_id(number.lstrip("+-"), MAX_ID, low)
    return None if value is None or (number.startswith("-") and value) else value


def requested_id(text: str, kind: str) -> str:
    """`text` (a project reference or a run id from a request) unchanged (a number in its plain
    form), unless it is a number no row can have: negative, above `MAX_ID`, or digits other than 0-9 (which `isdigit` accepts
    and `int` may refuse), all `NotFound` like an id that is merely absent."""
    number = text.strip()
    if _NUMBER.fullmatch(number):
        value = _signed_id(number, 0)
        if value is None:
            raise NotFound(f"{kind} {number} not found")
        return str(value)  # "000…042" (any length) is 42
    elif number.isdigit():
        raise NotFound(f"{kind} {number!r} not found")
    return text


def requested_page_token(token: str) -> str:
    """A page token is the last id of the page before: one out of range was never issued (ids
    start at 1, so "0" never was either)."""
    if not token:
        return token
    number = token.strip()
    value = _signed_id(number, 1) if _NUMBER.fullmatch(number) else None
    if value is None:
        raise InvalidArgument("page_token: not a token this server issued")
    return str(value)  # in plain form, as `requested_id` passes ids on


def _id(value: int | None) -> str:
    """An id as the API sends it: "" for none (a project a dry-run import would create has no id
    yet; `str` made it the string "None", which GetProject then took for a project's name)."""
    return "" if value is None else str(value)


def plan_problem(p: PlanProblem | None) -> admin_pb2.PlanProblem | None:
    if p is None:
        return None
    # run_id (int64) is kept for older clients; after_run_id is the string every other run id is.
    return admin_pb2.PlanProblem(step=p.step, run_id=p.run_id, at_ms=p.at_ms, message=p.message,
                                 after_run_id=str(p.run_id))


def project(s: ProjectSummary) -> admin_pb2.Project:
    p = s.project
    return admin_pb2.Project(
        id=_id(p.id), name=p.name, workspace=p.workspace, job_id=p.job_id, job_name=p.job_name,
        cluster_key=p.cluster_key, phase=p.phase, settings=settings(p.settings), orphaned=p.orphaned,
        detached=p.detached, created_at_ms=p.created_at_ms, run_count=s.run_count,
        current_config=config(s.current_config), latest_cost=s.latest_cost,
        latest_runtime_s=s.latest_runtime_s, sla_met_fraction=s.sla_met_fraction,
        sla_met_fraction_now=s.sla_share.now, sla_now_judged=s.sla_share.now_judged,
        sla_earlier_judged=s.sla_share.earlier_judged,
        problem=plan_problem(p.problem), default_max_workers=project_default_max_workers(p),
        auto_apply_hold=s.auto_apply_hold, latest_outcome=s.latest_outcome,
        pending_recommendation=shown_recommendation(s.pending) if s.pending is not None else None,
        current_cost_per_run=s.current_cost_per_run, working_sla_seconds=s.working_sla_s,
        orphaned_reason=recorded_cause(p), collection_problem=collection_problem(s.collection),
        search_window_low_cores=s.window.low if s.window else None,
        search_window_high_cores=s.window.high if s.window else None,
        search_window=s.window.line() if s.window else "",
    )


def collection_problem(c: CollectionProblem | None) -> admin_pb2.CollectionProblem | None:
    if c is None:
        return None
    return admin_pb2.CollectionProblem(scope=c.scope, status=c.status, message=c.message, since_ms=c.since_ms,
                                       failures=c.failures)


def stage(s: Stage) -> admin_pb2.StageSummary:
    return admin_pb2.StageSummary(
        stage_id=s.stage_id, attempt_id=s.attempt_id, name=s.name, num_tasks=s.num_tasks,
        duration_s=s.duration_s, metrics=translate.metrics_to_proto(s.metrics),
        task_duration_ms=translate.distribution_to_proto(s.task_duration_ms), failure_reason=s.failure_reason,
        input_from_cache=s.input_from_cache,
    )


def executor(e: Executor) -> admin_pb2.ExecutorSummary:
    return admin_pb2.ExecutorSummary(executor_id=e.executor_id, host=e.host, total_cores=e.total_cores,
                                     added_ms=e.added_ms, removed_ms=e.removed_ms,
                                     removal_reason=e.removal_reason)


def run(r: Run, detail: RunDetail | None = None, sla: RunSla | None = None) -> admin_pb2.Run:
    judged = sla if sla is not None else detail.sla if detail is not None else RunSla()
    msg = admin_pb2.Run(
        id=_id(r.id), project_id=_id(r.project_id), databricks_run_id=r.databricks_run_id,
        cluster_id=r.cluster_id, start_time_ms=r.start_ms, end_time_ms=r.end_ms, runtime_s=r.runtime_s,
        outcome=r.outcome, config=config(r.config), input_bytes=r.input_bytes, cost=cost(r.cost),
        anomalies=list(r.anomalies), application_ids=list(r.application_ids),
        recommendation_id=str(r.recommendation_id) if r.recommendation_id is not None else "", phase=r.phase,
        setup_s=r.setup_s, message=r.message, execution_only=r.execution_only, wait_s=r.wait_s,
        not_learned=r.not_learned, peak_workers=r.peak_workers, sla_seconds=judged.judged_s,
        sla_met=judged.met, current_sla_seconds=judged.current_s,
        nodes_lost=r.nodes_lost, nodes_replaced=r.nodes_replaced,
    )
    if detail is not None:
        msg.stages.extend(stage(s) for s in detail.stages)
        msg.executors.extend(executor(e) for e in detail.executors)
        if detail.detail_pruned_at_ms is not None:
            msg.detail_pruned_at_ms = detail.detail_pruned_at_ms
        if detail.driver is not None:
            d = detail.driver
            msg.driver.CopyFrom(admin_pb2.DriverUse(peak_heap_bytes=d.peak_heap_bytes, gc_ms=d.gc_ms,
                                                    peak_outside_heap_bytes=d.peak_outside_heap_bytes))
    return msg


def application(a: Application) -> admin_pb2.Application:
    return admin_pb2.Application(
        application_id=a.application_id, spark_app_id=a.spark_app_id, app_name=a.app_name,
        spark_version=a.spark_version, cluster_id=a.cluster_id, start_time_ms=a.start_time_ms,
        end_time_ms=a.end_time_ms, stage_count=a.stage_count, executor_count=a.executor_count,
        job_count=a.job_count, run_id=str(a.run_id) if a.run_id is not None else "", ended=a.ended,
    )


def agent(a: AgentStatus) -> admin_pb2.Agent:
    return admin_pb2.Agent(
        agent_id=a.agent_id, version=a.version, hostname=a.hostname, cluster_id=a.cluster_id,
        workspace=a.workspace or "", last_seen_ms=a.last_seen_ms, batches_received=a.batches_received,
        counters=ingest_pb2.AgentCounters(**dataclasses.asdict(a.counters)))


def recommendation(r: Recommendation | None, *, already_on_job: bool = False,
                   planned_from: ClusterConfig | None = None) -> admin_pb2.Recommendation | None:
    if r is None:
        return None
    return admin_pb2.Recommendation(
        id=_id(r.id), project_id=_id(r.project_id), created_at_ms=r.created_at_ms, state=r.state,
        config=config(r.config), predicted_runtime_s=r.predicted_runtime_s,
        runtime_interval_s=admin_pb2.Interval(low=r.runtime_interval_s[0], high=r.runtime_interval_s[1]),
        predicted_cost=r.predicted_cost,
        cost_interval=admin_pb2.Interval(low=r.cost_interval[0], high=r.cost_interval[1]),
        p_meet_sla=r.p_meet_sla, reason=r.reason, phase=r.phase, storage_advice=r.storage_advice,
        projected_monthly_saving=r.projected_monthly_saving, applied_at_ms=r.applied_at_ms, applied_by=r.applied_by,
        reverted_at_ms=r.reverted_at_ms, reverted_by=r.reverted_by, already_on_job=already_on_job,
        # Priced with the catalog (the planner's `Settings.currency`), whose one currency is CURRENCY.
        planned_from=config(planned_from), currency=CURRENCY, working_sla_seconds=r.working_sla_s,
    )


def shown_recommendation(s: ShownRecommendation) -> admin_pb2.Recommendation:
    msg = recommendation(s.recommendation, already_on_job=s.already_on_job, planned_from=s.planned_from)
    assert msg is not None
    return msg


def apply_result(o: ApplyOutcome) -> admin_pb2.ApplyResult:
    return admin_pb2.ApplyResult(recommendation=recommendation(o.recommendation, already_on_job=o.already_on_job),
                                 diff=o.diff, applied=o.applied, note=o.note)


def import_result(r: ImportResult, summaries: list[ProjectSummary], *, next_page_token: str = "", total: int = 0,
                  remaining: int = 0) -> admin_pb2.ImportJobsResponse:
    return admin_pb2.ImportJobsResponse(
        next_page_token=next_page_token, jobs_total=total, jobs_remaining=remaining,
        projects=[admin_pb2.ImportedProject(project=project(s), diff=i.diff, created=i.created,
                                            reattached=i.reattached)
                  for i, s in zip(r.projects, summaries, strict=True)],
        skipped=[admin_pb2.SkippedJob(job_id=s.job_id, job_name=s.job_name, reason=s.reason,
                                      not_found=s.not_found, failed=s.failed) for s in r.skipped],
        left_out=[admin_pb2.LeftOut(job_id=o.job_id, job_name=o.job_name, reason=o.reason) for o in r.left_out],
        warnings=list(r.warnings),
    )


def timeline(t: Timeline) -> admin_pb2.Timeline:
    return admin_pb2.Timeline(
        project=project(t.project), sla_seconds=t.sla_seconds, working_sla_seconds=t.project.working_sla_s,
        points=[admin_pb2.TimelinePoint(
            run_id=str(p.run_id), start_time_ms=p.start_time_ms, runtime_s=p.runtime_s, cost=p.cost,
            phase=p.phase, outcome=p.outcome, anomalies=list(p.anomalies),
            applied_recommendation_id=str(p.applied_recommendation_id)
            if p.applied_recommendation_id is not None else "",
            input_gb=p.input_gb, setup_s=p.setup_s, execution_only=p.execution_only, sla_seconds=p.sla_s)
            for p in t.points],
    )


def savings(s: SavingsReport) -> admin_pb2.SavingsReport:
    return admin_pb2.SavingsReport(
        projects=[admin_pb2.ProjectSavings(
            project_id=str(p.project_id), project_name=p.project_name,
            baseline_cost_per_run=p.baseline_cost_per_run, current_cost_per_run=p.current_cost_per_run,
            saved_to_date=p.saved_to_date, projected_annual=p.projected_annual, basis=p.basis, runs=p.runs,
            cadence_basis=p.cadence_basis, runs_per_year=p.runs_per_year, cadence_note=p.cadence_note,
            current_source=p.current_source,
            current_recommendation_id=str(p.current_recommendation_id)
            if p.current_recommendation_id is not None else "",
            current_runs=p.current_runs, current_over_sla_runs=p.current_over_sla_runs,
            cost_basis=p.cost_basis, billed_runs=p.billed_runs,
            user_edited_runs=p.user_edited_runs, baseline_runs=p.baseline_runs, has_sla=p.has_sla,
            not_comparable_since_run_id=str(p.not_comparable_since_run_id)
            if p.not_comparable_since_run_id is not None else "",
            workload_change=p.workload_change, not_comparable_note=p.not_comparable_note,
            not_comparable_runs=p.not_comparable_runs, per_gb_unproven=p.per_gb_unproven,
            preliminary=p.preliminary, saved_to_date_preliminary=p.saved_to_date_preliminary,
            baseline_note=p.baseline_note, repriced_runs=p.repriced_runs, dbu_plan=p.dbu_plan,
            other_config_runs=p.other_config_runs,
            user_config_since_run_id=str(p.user_config_since_run_id)
            if p.user_config_since_run_id is not None else "",
            saving_fraction=p.saving_fraction)
            for p in s.projects],
        total_saved_to_date=s.total_saved_to_date, total_projected_annual=s.total_projected_annual,
        currency=s.currency,
        waiting=[admin_pb2.NoSavingsYet(project_id=str(w.project_id), project_name=w.project_name,
                                        failed_runs=w.failed_runs, failed_cost=w.failed_cost,
                                        baseline_runs=w.baseline_runs, reason=w.reason) for w in s.waiting],
    )
