"""A failed run repaired after it was collected (Databricks' runs/repair keeps the run_id, so the
cursor never lists it again): the next poll reads it again, and the stored run becomes the repair's
succeeded run, marked "repaired" (not learned) and costed over both its clusters (SQLite and
PostgreSQL, the real databricks-sdk against the workspace emulator)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from models.changes import screen
from models.observation import NOT_LEARNED, REPAIRED, REPAIRED_ELSEWHERE
from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation
from server.clock import FakeClock, SystemClock
from server.collect import Collector
from server.collect.run_parse import cluster_runs
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation, Run, Workspace
from server.plan.candidates import config_id_of
from server.plan.observe import observation
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, config_from_spec, find_cluster_spec
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING, sdk_client

FAILING_INIT = b"#!/bin/bash\necho 'no such package' >&2\nexit 1\n"
# The job's own init script, what fails its runs here: Trimtab's own script failing is no failure of
# the configuration (test_dbx_own_init_script_failure.py), and these runs must be one.
JOB_INIT = "/etl/setup.sh"


@pytest.fixture
def daily(store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int],
          gateway: DatabricksGateway) -> Project:
    """The single-task job "daily-..." with an init script of its own, imported."""
    gateway.put_dbfs_file(JOB_INIT, NOOP_INIT)
    settings = gateway.get_job(job_ids[0])["settings"]
    spec = find_cluster_spec(settings, "main") or {}
    spec["init_scripts"] = [*(spec.get("init_scripts") or []), {"dbfs": {"destination": f"dbfs:{JOB_INIT}"}}]
    gateway.update_job(job_ids[0], cluster_entry_update(settings, "main", spec))
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    return imported.project




def _failed_run(emulator: RunningWorkspace, gateway: DatabricksGateway, collector: Collector,
                daily: Project) -> tuple[int, Run]:
    gateway.put_dbfs_file(JOB_INIT, FAILING_INIT)
    run_id = gateway.run_now(daily.job_id)
    assert emulator.wait_idle(60)
    (failed,) = collector.poll_once()
    assert (failed.databricks_run_id, failed.outcome) == (run_id, "failed")
    return run_id, failed


def test_a_failed_run_repaired_after_collection_is_updated_to_succeeded(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    planned: list[Run] = []
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog(), on_run_collected=planned.append)
    run_id, failed = _failed_run(emulator, gateway, collector, daily)
    assert collector.poll_once() == []  # not repaired: read again, left as it is
    assert failed.cost is not None and failed.cost.total > 0

    # The user fixes the init script and repairs the run: its failed task runs again on a new cluster.
    gateway.put_dbfs_file(JOB_INIT, NOOP_INIT)
    repair_id = sdk_client(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True).response.repair_id
    assert emulator.wait_idle(60)
    detail = gateway.get_run(run_id)
    assert [h["type"] for h in detail["repair_history"]] == ["ORIGINAL", "REPAIR"]
    assert detail["repair_history"][1]["id"] == repair_id
    (piece,) = cluster_runs(detail)
    assert piece.outcome == "succeeded" and piece.repaired_attempts == 1 and piece.retried_attempts == 0
    (first_cluster, *_), (repair_cluster, *_) = piece.instances
    assert first_cluster == failed.cluster_id and repair_cluster == piece.cluster_id != failed.cluster_id

    (repaired,) = collector.poll_once()
    assert (repaired.id, repaired.databricks_run_id) == (failed.id, run_id)  # the same stored run, updated
    assert repaired.outcome == "succeeded" and REPAIRED in repaired.anomalies and "failure" not in repaired.anomalies
    assert REPAIRED in NOT_LEARNED
    assert "repaired" in repaired.message
    assert repaired.cluster_id == repair_cluster and repaired.end_ms == piece.end_ms
    # Its time and cost are both clusters': the first attempt's cost plus the repair's.
    assert repaired.cost is not None and repaired.cost.total > failed.cost.total
    assert "2 clusters" in repaired.cost.note
    assert repaired.runtime_s == pytest.approx(sum(end - start for _, start, end in piece.instances) / 1000)
    assert store.runs.get(int(failed.id or 0)) == repaired
    assert store.runs.count(int(daily.id or 0)) == 1
    assert planned[-1] == repaired  # planned again after the update, as after a new run
    # Stored once: the next poll finds nothing more (a succeeded run is not read again).
    assert collector.poll_once() == []


def test_a_run_repaired_before_its_first_collection_is_stored_repaired(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    gateway.put_dbfs_file(JOB_INIT, FAILING_INIT)
    run_id = gateway.run_now(daily.job_id)
    assert emulator.wait_idle(60)
    gateway.put_dbfs_file(JOB_INIT, NOOP_INIT)
    sdk_client(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True)
    assert emulator.wait_idle(60)
    (run,) = collector.poll_once()
    assert (run.databricks_run_id, run.outcome) == (run_id, "succeeded")
    assert REPAIRED in run.anomalies and run.cost is not None and "2 clusters" in run.cost.note
    assert collector.poll_once() == []


def test_a_repair_that_fails_again_stays_a_failure_of_its_configuration(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    # Review: marked 'repaired' (not learned), a run whose repair failed too dropped out of the
    # failed configurations the models avoid. It is updated (time, cost, message) and stays a failure.
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    run_id, failed = _failed_run(emulator, gateway, collector, daily)
    sdk_client(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True)  # the init script still fails
    assert emulator.wait_idle(60)
    (again,) = collector.poll_once()
    assert (again.id, again.outcome) == (failed.id, "failed")
    # Marked repaired (its time and cost are two clusters': re-costing leaves it alone), which explains
    # no failure: the models still avoid its configuration.
    assert "failure" in again.anomalies and REPAIRED in again.anomalies
    assert again.cost is not None and failed.cost is not None and again.cost.total > failed.cost.total
    assert _avoided(store, daily) == {_config_id(failed)}


def _config_id(run: Run) -> str:
    assert run.config is not None
    return config_id_of(run.config)


def _avoided(store: Store, project: Project) -> frozenset[str]:
    """The configurations the models avoid after the project's stored runs (`models.changes.screen`)."""
    runs = list(reversed(store.runs.list(int(project.id or 0))))
    history = [o for r in runs if (o := observation(r, [], applied_recommendation=True)) is not None]
    return screen(history, {}, sigma_run=0.1, input_elasticity=0.0).failed_configs


def _apply_more_workers(store: Store, gateway: DatabricksGateway, project: Project) -> ClusterConfig:
    """Trimtab applies a recommendation with two more workers (as auto-apply would); its configuration."""
    now = config_from_spec(project.current_spec)
    config = dataclasses.replace(now, num_workers=now.num_workers + 2, spec={})
    store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config, reason="test"))
    assert apply_recommendation(store, gateway, int(project.id or 0)).applied
    return config


def _edit_by_hand(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    """The user gives the job's cluster one more worker in the workspace (not through Trimtab)."""
    settings = gateway.get_job(project.job_id)["settings"]
    spec = find_cluster_spec(settings, project.cluster_key)
    assert spec is not None
    edited = {**spec, "num_workers": int(spec.get("num_workers") or 0) + 1}
    gateway.update_job(project.job_id, cluster_entry_update(settings, project.cluster_key, edited))
    return edited


def test_a_repair_that_succeeded_on_an_applied_configuration_stays_a_failure_of_the_first(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    # Review: auto-apply changed the job between the failure and the repair, whose new clusters took
    # the new settings; the run kept its configuration, became succeeded and `repaired`, and the
    # configuration it failed on was no longer avoided.
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    run_id, failed = _failed_run(emulator, gateway, collector, daily)
    assert _avoided(store, daily) == {_config_id(failed)}
    applied = _apply_more_workers(store, gateway, store.projects.get(int(daily.id or 0)))
    gateway.put_dbfs_file(JOB_INIT, NOOP_INIT)
    sdk_client(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True)
    assert emulator.wait_idle(60)
    assert gateway.get_run(run_id)["state"]["result_state"] == "SUCCESS"
    (repaired,) = collector.poll_once()
    assert repaired.id == failed.id and repaired.config == failed.config
    assert repaired.outcome == "failed"  # for every reader: the success was another configuration's
    assert {"failure", REPAIRED, REPAIRED_ELSEWHERE} <= set(repaired.anomalies)
    assert "user_edit" not in repaired.anomalies  # Trimtab wrote the repair's spec
    assert f"{applied.num_workers} workers" in repaired.message and "another configuration" in repaired.message
    assert repaired.cost is not None and "2 clusters" in repaired.cost.note
    assert _avoided(store, daily) == {_config_id(failed)}
    assert collector.poll_once() == []  # done in Databricks: not read again as a failure


def test_a_repair_on_a_spec_edited_by_hand_is_a_user_edit(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    # Review: a hand edit was caught on a normal run's spec only; a repair started from the edited
    # job, and auto-apply went on as if nothing had changed.
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    run_id, failed = _failed_run(emulator, gateway, collector, daily)
    edited = _edit_by_hand(gateway, daily)
    gateway.put_dbfs_file(JOB_INIT, NOOP_INIT)
    sdk_client(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True)
    assert emulator.wait_idle(60)
    (repaired,) = collector.poll_once()
    assert repaired.id == failed.id
    assert "user_edit" in repaired.anomalies and REPAIRED_ELSEWHERE in repaired.anomalies
    project = store.projects.get(int(daily.id or 0))
    # Rebased on the user's spec, as after any hand edit (the planner's edit hold reads this state).
    assert project.current_spec == edited and project.pending_apply is None
    assert project.state["user_edit_paths"] == ["num_workers"]


def test_a_run_repaired_on_another_configuration_before_its_first_collection_is_stored_on_the_first(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    # Review: stored from its last attempts, such a run got the repair's configuration, succeeded:
    # the configuration that failed was never seen to fail.
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    before = config_from_spec(daily.current_spec)
    gateway.put_dbfs_file(JOB_INIT, FAILING_INIT)
    run_id = gateway.run_now(daily.job_id)
    assert emulator.wait_idle(60)
    applied = _apply_more_workers(store, gateway, daily)
    gateway.put_dbfs_file(JOB_INIT, NOOP_INIT)
    sdk_client(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True)
    assert emulator.wait_idle(60)
    (run,) = collector.poll_once()
    assert run.databricks_run_id == run_id and run.config is not None
    assert run.config.num_workers == before.num_workers != applied.num_workers  # the first attempt's
    assert run.outcome == "failed" and {"failure", REPAIRED, REPAIRED_ELSEWHERE} <= set(run.anomalies)
    assert "user_edit" not in run.anomalies  # started before the apply: the spec before it was expected
    assert run.cost is not None and "2 clusters" in run.cost.note
    assert _avoided(store, daily) == {_config_id(run)}
    assert collector.poll_once() == []


def test_an_old_failed_run_is_read_again_for_a_repair_at_most_every_half_hour(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    # Review: five runs/get a poll for every failed run of the last week, whether repaired or not.
    # In its first hour a failed run is read at every poll, then at most every 30 minutes.
    clock = FakeClock(int(time.time() * 1000))
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=clock,
                          catalog=load_catalog())
    run_id, failed = _failed_run(emulator, gateway, collector, daily)
    clock.advance(2 * 3600)
    assert collector.poll_once() == []  # read: not repaired; the next read is due in 30 minutes
    gateway.put_dbfs_file(JOB_INIT, NOOP_INIT)
    sdk_client(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True)
    assert emulator.wait_idle(60)
    assert collector.poll_once() == []  # not read again yet
    clock.advance(31 * 60)
    (repaired,) = collector.poll_once()
    assert (repaired.id, repaired.outcome) == (failed.id, "succeeded")
