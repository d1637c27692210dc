"""The whole path with the real agent: import uploads Trimtab's init script, the simulated
cluster runs it, the agent streams the run to a real server, and the collected run carries
the agent's application and input size."""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.databricks import DatabricksGateway, GatewayConfig
from server.onboard import AgentWiring
from server.serve import RunningServer
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: the engine does not matter here (import, cycle and collection run on both)."""
    return sqlite_store


def test_agent_data_reaches_the_collected_run(store: Store, secrets: SecretBox, server: RunningServer,
                                              slower: RunningWorkspace) -> None:
    job_ids = slower.seed_jobs()
    workspaces.add_workspace(store, secrets, "sbx", slower.host, slower.token, "aws")
    wiring = AgentWiring(server_address=server.address)  # the default init script, uploaded by import
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=wiring).projects
    gateway = DatabricksGateway(GatewayConfig(slower.host, slower.token), clock=SystemClock())
    live = find_cluster_spec(gateway.get_job(job_ids[0])["settings"], "main") or {}
    assert wiring.init_script in live["init_scripts"]

    run_id = gateway.run_now(job_ids[0])
    assert slower.wait_idle(120)  # the agent flushed (acknowledged = committed) at TERMINATING
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock())
    (run,) = collector.poll_once()
    instance = gateway.get_run(run_id)["tasks"][0]["cluster_instance"]
    assert run.project_id == imported.project.id and run.cluster_id == instance["cluster_id"]
    (app_id,) = run.application_ids
    app = store.applications.get(app_id)
    assert app.ended and app.spark_context_id == instance["spark_context_id"] and app.stage_count > 0
    assert run.input_bytes is not None and run.input_bytes > 0
