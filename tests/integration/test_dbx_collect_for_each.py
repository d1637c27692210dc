"""A job whose cluster runs only for_each iterations is collected: the iterations are read from
runs/get of the for-each task's own run (``iterations``) and grouped on the nested task's cluster."""

from __future__ import annotations

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING, run_and_collect
from tests.integration.test_dbx_emulator_for_each import fan_out


def test_a_for_each_job_is_collected_on_its_nested_tasks_job_cluster(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    job_id = gateway.create_job(fan_out(inputs=3, concurrency=2))
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    assert imported.project.cluster_key == "workers"
    run_id, collected = run_and_collect(store, secrets, emulator, gateway, job_id)
    (run,) = collected
    detail = gateway.get_run(run_id)
    (parent,) = detail["tasks"]
    assert run.project_id == imported.project.id and run.databricks_run_id == run_id
    assert run.outcome == "succeeded" and run.cluster_id == parent["cluster_instance"]["cluster_id"]
    assert run.cost is not None and run.cost.total > 0
    # The run spans the iterations: they are what ran on the cluster.
    iterations = gateway.get_run(parent["run_id"])["iterations"]
    assert len(iterations) == 3 and len({i["run_id"] for i in iterations}) == 3
    assert run.start_ms == min(i["start_time"] for i in iterations)
    assert run.end_ms == max(i["end_time"] for i in iterations)
