"""An autoscaling job on spot that loses spot nodes, over real HTTP (emulator, collector, planner,
apply; SQLite and PostgreSQL): the move after the loss is judged from the workers its runs used."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace, start_workspace
from sandbox.workspace.backend import SandboxSimBackend
from sandbox.workspace.seed import aws_cluster
from server.clock import SystemClock
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway, GatewayConfig
from server.plan.range_use import range_use
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, etl_job
from tests.integration.loop import _Loop


class FirstRunLoses(SandboxSimBackend):
    """The real simulator, whose first run loses most of its spot nodes and later runs none."""

    def __init__(self) -> None:
        self.runs = 0

    def simulate_run(self, new_cluster: dict[str, Any], profile: str, **kw: Any) -> Any:
        from sandbox.sim.run import simulate_run

        self.runs += 1
        return simulate_run(new_cluster, profile, spot_loss_prob=0.9 if self.runs == 1 else 0.0, **kw)


@pytest.fixture
def lossy(tmp_path: Path) -> Iterator[RunningWorkspace]:
    with start_workspace(tmp_path / "lossy", speed=20000, backend=FirstRunLoses()) as running:
        yield running


def test_the_move_after_a_spot_loss_is_sized_at_what_the_autoscaling_run_used(
        store: Store, secrets: SecretBox, lossy: RunningWorkspace) -> None:
    # m5d.xlarge on 3-16, spot; its first run loses spot nodes at ~7 workers (28 cores). With no usable
    # run, the next was the middle of the space around the imported max of 16 (64 cores): c5d.2xlarge on
    # 5-10, 56 cores as the run's share prices it.
    gateway = DatabricksGateway(GatewayConfig(lossy.host, lossy.token, retry_timeout_s=20), clock=SystemClock())
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "sbx", lossy.host, lossy.token, "aws")
    job_id = gateway.create_job(etl_job(aws_cluster("m5d.xlarge", autoscale=(3, 16))))
    loop = _Loop(store, secrets, job_id, lossy, gateway, auto_apply=True)
    update_settings(store, str(loop.pid), {"keep_autoscaling": True, "sla_seconds": None})

    run, rec = loop.cycle()
    assert "spot_loss" in run.anomalies and rec is not None
    catalog = load_catalog()
    use = range_use([(r, r.config) for r in store.runs.history(loop.pid) if r.config is not None], catalog,
                    "aws", "jobs")
    assert use is not None and 5.0 <= use.mean_workers <= 9.0
    used = catalog.node_type("aws", "m5d.xlarge").vcpus * round(use.mean_workers)
    cores = catalog.node_type("aws", rec.config.node_type_id).vcpus * \
        round(use.workers(rec.config.autoscale_min, rec.config.autoscale_max))
    assert 0.8 * used <= cores <= 1.25 * used, rec.reason
    assert f"the size nearest what the run that lost spot nodes used (m5d.xlarge x autoscale 3-16 workers, spot, " \
           f"{used} cores)" in rec.reason
    # Auto-apply wrote it, and the next run runs on it.
    run, _ = loop.cycle()
    assert run.config is not None and (run.config.node_type_id, run.config.autoscale_min, run.config.autoscale_max) \
        == (rec.config.node_type_id, rec.config.autoscale_min, rec.config.autoscale_max)
