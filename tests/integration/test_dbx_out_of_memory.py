"""A run that ran out of memory, through the emulator and the real databricks-sdk: the collector labels
it ``out_of_memory`` with what to do in its message, and the next plan holds it against the
configuration (too little memory), not against the cloud as a spot loss would be."""

from __future__ import annotations

from typing import Any

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.runs import PROFILE_TAG
from sandbox.workspace.seed import aws_cluster
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, Run, Workspace
from server.plan.planner import plan_project
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING


def _imported(store: Store, secrets: SecretBox, gateway: DatabricksGateway, profile: str,
              cluster: dict[str, Any]) -> Project:
    job_id = gateway.create_job({
        "name": profile, "tags": {PROFILE_TAG: profile},
        "job_clusters": [{"job_cluster_key": "main", "new_cluster": cluster}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main",
                   "spark_python_task": {"python_file": f"dbfs:/jobs/{profile}.py"}}]})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


def _run_once(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
              project: Project) -> Run:
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    (run,) = collector.poll_once()
    return run


def plans_more_memory_per_core(store: Store, project: Project) -> None:
    """The next plan after the run that ran out of memory on c5.xlarge says so and moves to more
    memory per core."""
    catalog = load_catalog()
    rec = plan_project(store, int(project.id or 0), catalog)
    assert rec is not None
    assert "1 run failed out of memory" in rec.reason
    node = catalog.node_type("aws", rec.config.node_type_id)
    assert node.memory_gb / node.vcpus > 2.0  # more memory per core than c5.xlarge's 8 GiB over 4

def test_executors_killed_for_memory_are_out_of_memory_and_the_plan_moves_to_more_memory_per_core(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    # pandas_udf keeps each group in a Python worker, outside the heap: a c5.xlarge (2 GiB a core) has
    # too little room for it, and the OS kills the executors (the emulator reports no node lost).
    project = _imported(store, secrets, gateway, "pandas_udf", aws_cluster("c5.xlarge", 4, availability="ON_DEMAND"))
    run = _run_once(store, secrets, emulator, gateway, project)
    assert run.outcome == "failed"
    assert "out_of_memory" in run.anomalies and "spot_loss" not in run.anomalies
    assert "driver_lost" not in run.anomalies and "launch_failed" not in run.anomalies
    assert run.message.startswith("Out of memory on the executors (executors lost (ExecutorLostFailure) while no "
                                  "node was): the configuration's fault, not a spot loss; configurations with no "
                                  "more memory per core are avoided")
    assert "Databricks: Job aborted due to stage failure" in run.message

    plans_more_memory_per_core(store, project)


def test_a_driver_out_of_memory_is_labelled_and_still_grows_the_driver(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace) -> None:
    # skewed_join builds its hot keys' broadcast on the driver: more than c6id.xlarge's heap holds.
    cluster = {**aws_cluster("m5d.xlarge", 4, availability="ON_DEMAND"), "driver_node_type_id": "c6id.xlarge"}
    project = _imported(store, secrets, gateway, "skewed_join", cluster)
    run = _run_once(store, secrets, emulator, gateway, project)
    assert run.outcome == "failed"
    assert {"out_of_memory", "driver_lost"} <= set(run.anomalies)
    assert run.message.startswith("Out of memory on the driver (java.lang.OutOfMemoryError: Java heap space)")
    assert "the next plan sizes the driver up" in run.message

    catalog = load_catalog()
    rec = plan_project(store, int(project.id or 0), catalog)
    assert rec is not None
    assert catalog.node_type("aws", rec.config.driver_node_type_id).memory_gb >= 16
    # The workers are not blamed: the explanation is the driver's, not a memory-per-core one.
    assert "lost the driver" in rec.reason and "failed out of memory" not in rec.reason
