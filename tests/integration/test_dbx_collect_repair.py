"""A failed run repaired after it was collected (Databricks' runs/repair keeps the run_id, so the
cursor never lists it again): the next poll reads it again, and the stored run becomes the repair's
succeeded run, marked "repaired" (not learned) and costed over both its clusters (SQLite and
PostgreSQL, the real databricks-sdk against the workspace emulator)."""

from __future__ import annotations

import time

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config

from models.observation import NOT_LEARNED, REPAIRED
from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock, SystemClock
from server.collect import Collector
from server.collect.run_parse import cluster_runs
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, Run, Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING

FAILING_INIT = b"#!/bin/bash\necho 'no such package' >&2\nexit 1\n"


@pytest.fixture
def daily(store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int]) -> Project:
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    return imported.project


def _sdk(emulator: RunningWorkspace) -> WorkspaceClient:
    return WorkspaceClient(config=Config(host=emulator.host, token=emulator.token, auth_type="pat",
                                         retry_timeout_seconds=20, http_timeout_seconds=10))


def _failed_run(emulator: RunningWorkspace, gateway: DatabricksGateway, collector: Collector,
                daily: Project) -> tuple[int, Run]:
    gateway.put_dbfs_file("/trimtab/test-init.sh", FAILING_INIT)
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
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    repair_id = _sdk(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True).response.repair_id
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
    gateway.put_dbfs_file("/trimtab/test-init.sh", FAILING_INIT)
    run_id = gateway.run_now(daily.job_id)
    assert emulator.wait_idle(60)
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    _sdk(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True)
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
    _sdk(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True)  # the init script still fails
    assert emulator.wait_idle(60)
    (again,) = collector.poll_once()
    assert (again.id, again.outcome) == (failed.id, "failed")
    assert "failure" in again.anomalies and REPAIRED not in again.anomalies
    assert again.cost is not None and failed.cost is not None and again.cost.total > failed.cost.total


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
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    _sdk(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True)
    assert emulator.wait_idle(60)
    assert collector.poll_once() == []  # not read again yet
    clock.advance(31 * 60)
    (repaired,) = collector.poll_once()
    assert (repaired.id, repaired.outcome) == (failed.id, "succeeded")
