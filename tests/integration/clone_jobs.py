"""What the clone-job tests share (test_review9_clone_*.py): a managed job's live cluster, an applied
recommendation on it, Databricks' "Clone job" through the real SDK, a collector and one run collected."""

from __future__ import annotations

from typing import Any

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import sdk_client


def live(gateway: DatabricksGateway, job_id: int) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    assert spec is not None
    return spec


def applied(store: Store, gateway: DatabricksGateway, daily: Project) -> Recommendation:
    rec = store.recommendations.add(Recommendation(project_id=int(daily.id or 0), reason="test", config=ClusterConfig(
        node_type_id="m5d.2xlarge", num_workers=2, availability="ON_DEMAND", first_on_demand=1)))
    assert apply_recommendation(store, gateway, int(daily.id or 0)).applied
    return rec


def clone(emulator: RunningWorkspace, job_id: int) -> int:
    """Databricks' "Clone job": a new job with the settings of ``job_id``, through the real SDK."""
    client = sdk_client(emulator)
    settings = client.jobs.get(job_id).settings.as_dict()
    settings["name"] = "clone-of-etl"
    return int(client.api_client.do("POST", "/api/2.1/jobs/create", body=settings)["job_id"])


def collector(store: Store, secrets: SecretBox) -> Collector:
    return Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                     catalog=load_catalog())


def run_collected(emulator: RunningWorkspace, gateway: DatabricksGateway, collector: Collector,
                  project: Project) -> Any:
    """One run of the project's job, collected: the collector's run of it."""
    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    runs = [r for r in collector.poll_once() if r.project_id == project.id]
    assert len(runs) == 1, runs
    return runs[0]
