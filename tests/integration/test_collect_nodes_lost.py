"""The collector keeps how many nodes a run's cluster lost and how many were replaced (`Run.nodes_lost`,
`nodes_replaced`), from the cluster's events on the workspace emulator over real HTTP (SQLite and
PostgreSQL): a spot_loss run says what the loss did, not only that there was one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


class LosesSpot(SandboxSimBackend):
    """The real simulator, every spot worker of every run reclaimed."""

    def simulate_run(self, new_cluster: dict[str, Any], profile: str, **kw: Any) -> Any:
        from sandbox.sim.run import simulate_run

        return simulate_run(new_cluster, profile, **{**kw, "spot_loss_prob": 1.0})


@pytest.fixture
def lossy(tmp_path: Path) -> Iterator[RunningWorkspace]:
    with start_workspace(tmp_path / "lossy", speed=20000, backend=LosesSpot()) as running:
        yield running


def test_a_run_that_lost_spot_workers_keeps_how_many(store: Store, secrets: SecretBox,
                                                     lossy: RunningWorkspace) -> None:
    gateway = DatabricksGateway(GatewayConfig(lossy.host, lossy.token, retry_timeout_s=20), clock=SystemClock())
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "sbx", lossy.host, lossy.token, "aws")
    job_id = gateway.create_job(etl_job(aws_cluster("m5d.xlarge", 6)))
    workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    _, (run,) = run_and_collect(store, secrets, lossy, gateway, job_id)
    stored = store.runs.get(int(run.id or 0))
    events = list(gateway.cluster_events(run.cluster_id))
    # Read apart from the collector: the emulator reports each reclaimed node in an event of its own,
    # and the cluster's last count is its 6 less the losses no replacement came for.
    lost = sum(1 for e in events if e.get("type") == "NODES_LOST")
    last = [int(e["details"]["current_num_workers"]) for e in events
            if (e.get("details") or {}).get("current_num_workers") is not None][-1]
    assert lost >= 2, events
    assert "spot_loss" in stored.anomalies
    assert (stored.nodes_lost, stored.nodes_replaced) == (lost, last - (6 - lost))
