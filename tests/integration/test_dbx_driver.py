"""A driver too small for its job, through the emulator: the run fails as Databricks reports a dead
driver, the collector tells it apart from a worker failure, and the next plan doubles the driver."""

from __future__ import annotations

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.runs import PROFILE_TAG
from sandbox.workspace.seed import aws_cluster
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Run, Workspace
from server.plan.planner import plan_project
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING


def test_a_run_whose_driver_ran_out_of_memory_grows_the_driver_and_blames_no_worker(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    # skewed_join broadcasts its hot keys through the driver: ~4.5 GB live, more than an 8 GiB node's heap.
    cluster = {**aws_cluster("m5d.xlarge", 4, availability="ON_DEMAND"), "driver_node_type_id": "c6id.xlarge"}
    job_id = gateway.create_job({
        "name": "hot-keys", "tags": {PROFILE_TAG: "skewed_join"},
        "job_clusters": [{"job_cluster_key": "main", "new_cluster": cluster}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main",
                   "spark_python_task": {"python_file": "dbfs:/jobs/skewed_join.py"}}]})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    project = imported.project
    seen: list[Run] = []
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          on_run_collected=seen.append, catalog=load_catalog())
    gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    (run,) = collector.poll_once()
    assert run.outcome == "failed"
    assert "driver_lost" in run.anomalies and "user_edit" not in run.anomalies

    catalog = load_catalog()
    rec = plan_project(store, int(project.id or 0), catalog)
    assert rec is not None
    memory = catalog.node_type("aws", rec.config.driver_node_type_id).memory_gb
    assert memory >= 16  # doubled from c6id.xlarge's 8 GiB
    # A driver's out-of-memory (driver_lost + out_of_memory) is named as such, with the run.
    assert f"run {run.id} ran out of driver memory on c6id.xlarge" in rec.reason, rec.reason
