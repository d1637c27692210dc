"""The closed loop against the emulator: run -> collect -> apply -> the next run uses the new spec;
drift; a deleted job; revert; detach."""

from __future__ import annotations

import dataclasses

import pytest

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation, restore_original, revert
from server.clock import SystemClock
from server.collect import Collector, run_usage
from server.costing.catalog import load_catalog
from server.costing.run_cost import cost_run
from server.databricks import DatabricksGateway, DatabricksRejected
from server.domain import ClusterConfig, Project, Recommendation, Run, Workspace
from server.errors import FailedPrecondition
from server.onboard import RECOMMENDATION_TAG
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING


@pytest.fixture
def collected(store: Store, secrets: SecretBox) -> tuple[Collector, list[Run]]:
    seen: list[Run] = []
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          on_run_collected=seen.append, catalog=load_catalog())
    return collector, seen


def _run(emulator: RunningWorkspace, gateway: DatabricksGateway, job_id: int) -> int:
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    return run_id


def _recommend(store: Store, project: Project, **fields: object) -> Recommendation:
    config = ClusterConfig(**{"node_type_id": "m5d.2xlarge", "num_workers": 2, "availability": "ON_DEMAND",
                              "first_on_demand": 1, **fields})  # type: ignore[arg-type]
    return store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config,
                                                    reason="test"))


def test_a_poll_follows_the_job_schedule_without_a_re_import(
        store: Store, gateway: DatabricksGateway, daily: Project, collected: tuple[Collector, list[Run]]) -> None:
    collector, _ = collected
    nightly = {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "Europe/Paris", "pause_status": "UNPAUSED"}
    gateway.update_job(daily.job_id, {"schedule": nightly})
    collector.poll_once()
    got = store.projects.get(int(daily.id or 0)).schedule
    assert got is not None and (got.quartz_cron_expression, got.timezone_id, got.paused) == \
        ("0 0 2 * * ?", "Europe/Paris", False)
    gateway.update_job(daily.job_id, {"schedule": {**nightly, "pause_status": "PAUSED"}})
    collector.poll_once()
    got = store.projects.get(int(daily.id or 0)).schedule
    assert got is not None and got.paused


def test_run_collect_apply_next_run_uses_the_new_spec(
        store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway, daily: Project,
        collected: tuple[Collector, list[Run]]) -> None:
    collector, seen = collected
    assert collector.poll_once() == []  # nothing ran yet
    first_id = _run(emulator, gateway, daily.job_id)
    (first,) = collector.poll_once()
    assert seen == [first] and collector.poll_once() == []  # stored once
    assert (first.databricks_run_id, first.outcome, first.project_id) == (first_id, "succeeded", daily.id)
    assert first.config is not None and (first.config.node_type_id, first.config.num_workers) == ("m5d.xlarge", 4)
    assert first.runtime_s > 0 and first.cluster_id and "user_edit" not in first.anomalies
    assert first.cost is not None and first.cost.total > 0 and first.cost.dbu_cost > 0
    # The usage can be rebuilt later (re-costing when the bill lands) and prices the same.
    usage = run_usage(gateway, store.workspaces.get("sbx"), first)
    assert abs(cost_run(usage, load_catalog()).total - first.cost.total) < 1e-9
    assert store.projects.get(int(daily.id or 0)).last_seen_run_id == first_id

    rec = _recommend(store, daily)
    preview = apply_recommendation(store, gateway, int(daily.id or 0), dry_run=True)
    assert '-  "node_type_id": "m5d.xlarge"' in preview.diff and not preview.applied
    assert find_cluster_spec(gateway.get_job(daily.job_id)["settings"], "main") == \
        store.projects.get(int(daily.id or 0)).current_spec  # dry run changed nothing

    result = apply_recommendation(store, gateway, int(daily.id or 0))
    assert result.applied and result.recommendation is not None and result.recommendation.state == "applied"
    live = find_cluster_spec(gateway.get_job(daily.job_id)["settings"], "main")
    assert live is not None
    assert (live["node_type_id"], live["num_workers"], live["aws_attributes"]["availability"]) == \
        ("m5d.2xlarge", 2, "ON_DEMAND")
    assert live["custom_tags"][RECOMMENDATION_TAG] == str(rec.id)
    assert live["custom_tags"]["team"] == "data-eng"  # what the user set stays
    assert live["aws_attributes"]["zone_id"] == "auto"
    assert "TRIMTAB_SERVER" in live["spark_env_vars"]  # onboarding stays

    _recommend(store, daily, num_workers=3)
    with pytest.raises(FailedPrecondition, match="not confirmed"):
        apply_recommendation(store, gateway, int(daily.id or 0))  # no run used the last apply yet

    second_id = _run(emulator, gateway, daily.job_id)
    used = gateway.get_run(second_id)["job_clusters"][0]["new_cluster"]
    assert (used["node_type_id"], used["num_workers"]) == ("m5d.2xlarge", 2)  # verified in the emulator
    (second,) = collector.poll_once()
    assert second.recommendation_id == rec.id and second.config is not None
    assert second.config.node_type_id == "m5d.2xlarge" and "user_edit" not in second.anomalies
    project = store.projects.get(int(daily.id or 0))
    assert project.pending_apply is not None and project.pending_apply["confirmed"] is True

    # Confirmed: the next apply may go; revert goes back to the spec before it.
    apply_recommendation(store, gateway, int(daily.id or 0))
    assert find_cluster_spec(gateway.get_job(daily.job_id)["settings"], "main")["num_workers"] == 3
    revert(store, gateway, int(daily.id or 0))
    assert find_cluster_spec(gateway.get_job(daily.job_id)["settings"], "main")["num_workers"] == 2


def test_user_edit_is_detected_on_the_next_run_and_respected(
        store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway, daily: Project,
        collected: tuple[Collector, list[Run]]) -> None:
    collector, _ = collected
    settings = gateway.get_job(daily.job_id)["settings"]
    edited = dict(find_cluster_spec(settings, "main") or {})
    edited["num_workers"] = 6
    edited["spark_conf"] = {"spark.sql.shuffle.partitions": "48"}
    gateway.update_job(daily.job_id, cluster_entry_update(settings, "main", edited))
    stale = _recommend(store, daily)  # made for the spec before the edit

    _run(emulator, gateway, daily.job_id)
    (run,) = collector.poll_once()
    assert "user_edit" in run.anomalies and run.config is not None and run.config.num_workers == 6
    project = store.projects.get(int(daily.id or 0))
    assert project.current_spec == edited  # rebased on the user's spec
    assert store.recommendations.get(int(stale.id or 0)).state == "superseded"

    # A new recommendation merges on top of the user's spec: the edit it does not own stays.
    _recommend(store, daily, node_type_id="m5d.xlarge", num_workers=3)
    apply_recommendation(store, gateway, int(daily.id or 0))
    live = find_cluster_spec(gateway.get_job(daily.job_id)["settings"], "main") or {}
    assert live["spark_conf"] == {"spark.sql.shuffle.partitions": "48"} and live["num_workers"] == 3


def test_apply_after_an_unseen_edit_rebases_instead_of_overwriting(
        store: Store, gateway: DatabricksGateway, daily: Project) -> None:
    settings = gateway.get_job(daily.job_id)["settings"]
    edited = {**(find_cluster_spec(settings, "main") or {}), "node_type_id": "r5d.xlarge"}
    gateway.update_job(daily.job_id, cluster_entry_update(settings, "main", edited))
    rec = _recommend(store, daily)
    with pytest.raises(FailedPrecondition, match="edited outside Trimtab"):
        apply_recommendation(store, gateway, int(daily.id or 0))
    assert find_cluster_spec(gateway.get_job(daily.job_id)["settings"], "main") == edited  # not overwritten
    assert store.recommendations.get(int(rec.id or 0)).state == "superseded"
    assert store.projects.get(int(daily.id or 0)).current_spec == edited


def test_deleted_job_orphans_its_projects(store: Store, gateway: DatabricksGateway, daily: Project,
                                          collected: tuple[Collector, list[Run]]) -> None:
    collector, _ = collected
    gateway.delete_job(daily.job_id)
    assert collector.poll_once() == []
    assert store.projects.get(int(daily.id or 0)).orphaned
    with pytest.raises(FailedPrecondition, match="orphaned"):
        apply_recommendation(store, gateway, int(daily.id or 0))


def test_multi_task_job_maps_each_cluster_to_its_own_project(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], collected: tuple[Collector, list[Run]]) -> None:
    collector, _ = collected
    imported = workspaces.import_jobs(store, secrets, "sbx", [job_ids[1]], wiring=WIRING).projects
    by_key = {p.project.cluster_key: p.project for p in imported}
    assert sorted(by_key) == ["ingest", "report"]
    run_id = _run(emulator, gateway, job_ids[1])
    runs = collector.poll_once()
    assert sorted((r.project_id, r.databricks_run_id) for r in runs) == \
        sorted((int(p.id or 0), run_id) for p in by_key.values())
    clusters = {r.project_id: r.cluster_id for r in runs}
    assert clusters[int(by_key["ingest"].id or 0)] != clusters[int(by_key["report"].id or 0)]


def test_detach_restores_the_original_spec(store: Store, gateway: DatabricksGateway, daily: Project,
                                           collected: tuple[Collector, list[Run]]) -> None:
    collector, _ = collected
    result = restore_original(store, gateway, int(daily.id or 0))
    assert result.applied and "-    \"TRIMTAB_SERVER\"" in result.diff
    assert find_cluster_spec(gateway.get_job(daily.job_id)["settings"], "main") == daily.original_spec
    project = store.projects.get(int(daily.id or 0))
    assert project.detached and dataclasses.replace(project, detached=False).detached is False
    assert collector.poll_once() == []  # detached projects are not collected


def test_runs_from_before_the_import_are_not_collected(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], collected: tuple[Collector, list[Run]]) -> None:
    collector, _ = collected
    before = _run(emulator, gateway, job_ids[0])  # history: backfill's job, not the collector's
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    assert imported.project.last_seen_run_id == before
    assert collector.poll_once() == []
    after = _run(emulator, gateway, job_ids[0])
    assert [r.databricks_run_id for r in collector.poll_once()] == [after]


def test_a_spec_the_workspace_rejects_leaves_nothing_half_applied(
        store: Store, gateway: DatabricksGateway, daily: Project) -> None:
    before = gateway.get_job(daily.job_id)["settings"]
    rec = _recommend(store, daily, node_type_id="zz.nothing")
    with pytest.raises(DatabricksRejected, match="zz.nothing"):
        apply_recommendation(store, gateway, int(daily.id or 0))
    assert gateway.get_job(daily.job_id)["settings"] == before
    assert store.recommendations.get(int(rec.id or 0)).state == "pending"
    assert store.projects.get(int(daily.id or 0)).pending_apply is None
