"""Runs of a tuned job that never got a cluster (skipped at the job's concurrency limit, cancelled while
queued) hold no piece to store as a run: the collector says each in one INFO line (job, run, outcome, why
not learned), where before they showed nowhere. Emulator over real HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.workspace import RunningWorkspace, start_workspace
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING, priced_collector


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningWorkspace]:
    # Slow enough that a run is still going when the next run-now and two polls come (a run lasts ~10 s).
    running = start_workspace(tmp_path / "workspace", speed=60)
    try:
        yield running
    finally:
        running.stop()


def test_a_skipped_run_and_a_run_cancelled_in_the_queue_are_logged(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], caplog: pytest.LogCaptureFixture) -> None:
    job_id = job_ids[0]
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    pid = int(imported.project.id or 0)
    caplog.set_level(logging.INFO, logger="server.collect.outcome_log")

    gateway.update_job(job_id, {"max_concurrent_runs": 1, "queue": {"enabled": False}})
    ran, skipped = gateway.run_now(job_id), gateway.run_now(job_id)
    # While the first run goes, the job's cursor waits behind it and each poll reads the skipped run
    # again: said once all the same.
    collector = priced_collector(store, secrets)
    assert collector.poll_once() == [] and collector.poll_once() == []
    assert gateway._do("GET", "/api/2.2/jobs/runs/get", query={"run_id": ran})["state"]["life_cycle_state"] != \
        "TERMINATED", "the first run ended before the polls: use a slower emulator"
    assert emulator.wait_idle(120)
    gateway.update_job(job_id, {"queue": {"enabled": True}})
    ran_too, queued = gateway.run_now(job_id), gateway.run_now(job_id)
    gateway._do("POST", "/api/2.1/jobs/runs/cancel", body={"run_id": queued})
    assert emulator.wait_idle(120)
    state = gateway._do("GET", "/api/2.2/jobs/runs/get", query={"run_id": skipped})["state"]
    assert state["result_state"] == "MAXIMUM_CONCURRENT_RUNS_REACHED"

    stored = collector.poll_once()
    assert sorted(r.databricks_run_id for r in stored) == sorted([ran, ran_too])
    assert store.runs.get_by_databricks_run(pid, skipped) is None

    said = [r.getMessage() for r in caplog.records if r.name == "server.collect.outcome_log"]
    skips = [line for line in said if line.startswith(f"job {job_id} run {skipped}: MAXIMUM_CONCURRENT_RUNS_REACHED "
                                                         "(MAX_CONCURRENT_RUNS_EXCEEDED): Skipping this run")]
    assert len(skips) == 1 and "not learned" in skips[0], said
    assert any(line.startswith(f"job {job_id} run {queued}: CANCELED (USER_CANCELED)") and "not learned" in line
               for line in said), said
    # A run that succeeded and was learned says nothing.
    assert not any(f"run {ran}:" in line for line in said), said
