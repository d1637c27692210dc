"""benchmarks.server_view against the product: the run it builds from a simulated run carries the
outcome and labels the collector gives the same simulated run served by the emulator through the real
databricks-sdk (no agent data in either), so the agent-metrics benchmark's runtime-only twin sees
what the server derives without an agent."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.server_view import server_run
from sandbox.sim.run import simulate_run
from sandbox.workspace import RunningWorkspace
from sandbox.workspace.runs import PROFILE_TAG
from sandbox.workspace.seed import aws_cluster
from server.clock import SystemClock
from server.collect import Collector
from server.collect.build import AgentData
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING

_EMULATOR_DAY = 1  # a job the emulator was told no day for runs on day 1 (`sandbox.workspace.runs`)


@pytest.mark.parametrize(("profile", "cluster", "labels"), [
    # Executors killed outside the heap, no node lost: only the cluster's events tell it from a spot loss.
    ("pandas_udf", aws_cluster("c5.xlarge", 4, availability="ON_DEMAND"), {"failure", "out_of_memory"}),
    # The driver's heap: out_of_memory and driver_lost from the state message.
    ("skewed_join", {**aws_cluster("m5d.xlarge", 4, availability="ON_DEMAND"), "driver_node_type_id": "c6id.xlarge"},
     {"failure", "driver_lost", "out_of_memory"}),
    ("sort", aws_cluster("m5d.xlarge", 4, availability="ON_DEMAND"), set()),
])
def test_server_view_labels_a_simulated_run_as_the_collector_labels_it_from_the_emulator(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, profile: str, cluster: dict[str, Any], labels: set[str]) -> None:
    job_id = gateway.create_job({
        "name": profile, "tags": {PROFILE_TAG: profile},
        "job_clusters": [{"job_cluster_key": "main", "new_cluster": cluster}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main",
                   "spark_python_task": {"python_file": f"dbfs:/jobs/{profile}.py"}}]})
    workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=load_catalog())
    gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    (collected,) = collector.poll_once()

    # The emulator's simulation of that run (its seed: the run id x 1000 for the first cluster key).
    sim = simulate_run(cluster, profile, seed=collected.databricks_run_id * 1000, day=_EMULATOR_DAY,
                       cluster_id=collected.cluster_id, spark_context_id="1", start_time_ms=collected.start_ms,
                       job_id=job_id, run_id=collected.databricks_run_id, app_name="Databricks Shell")
    built = server_run(sim, cluster, collected.databricks_run_id, collected.cluster_id, AgentData())
    assert set(collected.anomalies) == labels
    assert (built.outcome, set(built.anomalies), built.message) == \
        (collected.outcome, set(collected.anomalies), collected.message)
    assert (built.runtime_s, built.setup_s) == (collected.runtime_s, collected.setup_s)
