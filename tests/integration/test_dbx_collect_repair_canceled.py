"""A canceled run is repairable in Databricks too (runs/repair accepts any unsuccessful finished
run): collected as canceled, it is read again like a failed one, and updated when a repair re-ran it
(SQLite and PostgreSQL, the real databricks-sdk against the workspace emulator).

The emulator runs slower here than in the other integration tests, so the run can be canceled while
its cluster is up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.observation import REPAIRED
from sandbox.workspace import RunningWorkspace, start_workspace
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import sdk_client

SPEED = 250.0  # simulated seconds per real second: the run stays RUNNING for a few real seconds (at 1000 it
# passed that state in a fraction of one, and on a busy machine the cancel came after it ended: 1 run in 10)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningWorkspace]:
    running = start_workspace(tmp_path / "workspace", speed=SPEED)
    try:
        yield running
    finally:
        running.stop()




def _cancel_once_running(gateway: DatabricksGateway, emulator: RunningWorkspace, run_id: int) -> None:
    """Cancel the run once its task runs on its cluster (a run canceled before has no cluster and is
    not stored at all)."""
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        (task,) = gateway.get_run(run_id)["tasks"]
        if (task.get("state") or {}).get("life_cycle_state") == "RUNNING":
            sdk_client(emulator).jobs.cancel_run(run_id)
            return
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} never ran")


def test_a_canceled_run_repaired_is_updated(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    # Review: only runs stored as failed were read again, so a canceled run the user repaired stayed
    # canceled, its repair's cost and outcome never seen.
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    run_id = gateway.run_now(daily.job_id)
    _cancel_once_running(gateway, emulator, run_id)
    assert emulator.wait_idle(120)
    (canceled,) = collector.poll_once()
    assert (canceled.databricks_run_id, canceled.outcome) == (run_id, "canceled")
    sdk_client(emulator).jobs.repair_run(run_id, rerun_all_failed_tasks=True)
    assert emulator.wait_idle(120)
    (repaired,) = collector.poll_once()
    assert (repaired.id, repaired.outcome) == (canceled.id, "succeeded")
    assert REPAIRED in repaired.anomalies and repaired.config == canceled.config
    assert repaired.cost is not None and "2 clusters" in repaired.cost.note
    assert collector.poll_once() == []
