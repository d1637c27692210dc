"""A spot driver reclaimed on the workspace emulator, over real HTTP (SQLite and PostgreSQL): the
emulator's spot loss rate (`SandboxSimBackend(spot_loss_rate=)`, what `sandbox up --spot-loss-rate`
sets) reaches the simulator, the cluster terminates with SPOT_INSTANCE_TERMINATION as Databricks'
does, the run fails, and the collector holds it against the cloud (launch_failed), not the driver's
size (driver_lost)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.workspace import RunningWorkspace, start_workspace
from sandbox.workspace.backend import SandboxSimBackend
from sandbox.workspace.seed import aws_cluster
from server.clock import SystemClock
from server.databricks import DatabricksGateway, GatewayConfig
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING, etl_job, run_and_collect


@pytest.fixture
def stormy(tmp_path: Path) -> Iterator[RunningWorkspace]:
    # Reclaims so frequent every spot node goes within seconds of the application's start.
    with start_workspace(tmp_path / "stormy", speed=20000, backend=SandboxSimBackend(spot_loss_rate=1e5)) as running:
        yield running


def test_a_reclaimed_spot_driver_fails_the_run_with_the_clouds_reason(store: Store, secrets: SecretBox,
                                                                      stormy: RunningWorkspace) -> None:
    gateway = DatabricksGateway(GatewayConfig(stormy.host, stormy.token, retry_timeout_s=20), clock=SystemClock())
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "sbx", stormy.host, stormy.token, "aws")
    spec = aws_cluster("m5d.xlarge", 3, availability="SPOT")
    spec["aws_attributes"]["first_on_demand"] = 0  # the driver on spot too
    job_id = gateway.create_job(etl_job(spec))
    workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    run_id, (run,) = run_and_collect(store, secrets, stormy, gateway, job_id)
    cluster = gateway.get_cluster(run.cluster_id)
    assert cluster["termination_reason"]["code"] == "SPOT_INSTANCE_TERMINATION", cluster["termination_reason"]
    assert cluster["termination_reason"]["type"] == "CLOUD_FAILURE"
    assert gateway.get_run(run_id)["state"]["result_state"] == "FAILED"
    stored = store.runs.get(int(run.id or 0))
    assert stored.outcome == "failed"
    assert "launch_failed" in stored.anomalies and "driver_lost" not in stored.anomalies
    assert "SPOT_INSTANCE_TERMINATION" in stored.message
