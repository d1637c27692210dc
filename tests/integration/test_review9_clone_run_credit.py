"""A run is credited to a recommendation by the cluster's trimtab:recommendation-id tag only when that
recommendation can be the run's project's. A copy of a managed job (Databricks' "Clone job") carries the
other project's tag: before, its runs were credited to that recommendation, so the copy never had a run
as found and savings could say nothing (review 9; run 11 recommendation_id 4).

Real parts: the sandbox emulator through the real databricks-sdk, the real collector, SQLite and
PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.apply import apply_recommendation
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Recommendation
from server.onboard import PROJECT_TAG, RECOMMENDATION_TAG
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, sdk_client


def _live(gateway: DatabricksGateway, job_id: int) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    assert spec is not None
    return spec


def _applied(store: Store, gateway: DatabricksGateway, daily: Project) -> Recommendation:
    rec = store.recommendations.add(Recommendation(project_id=int(daily.id or 0), reason="test", config=ClusterConfig(
        node_type_id="m5d.2xlarge", num_workers=2, availability="ON_DEMAND", first_on_demand=1)))
    assert apply_recommendation(store, gateway, int(daily.id or 0)).applied
    return rec


def _clone(emulator: RunningWorkspace, job_id: int) -> int:
    """Databricks' "Clone job": a new job with the settings of ``job_id``, through the real SDK."""
    client = sdk_client(emulator)
    settings = client.jobs.get(job_id).settings.as_dict()
    settings["name"] = "clone-of-etl"
    return int(client.api_client.do("POST", "/api/2.1/jobs/create", body=settings)["job_id"])


def _collector(store: Store, secrets: SecretBox) -> Collector:
    return Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                     catalog=load_catalog())


def _run_collected(emulator: RunningWorkspace, gateway: DatabricksGateway, collector: Collector,
                   project: Project) -> Any:
    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    runs = [r for r in collector.poll_once() if r.project_id == project.id]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.parametrize("how", ["imported before the fix", "entry pasted from the other job"])
def test_a_run_is_never_credited_to_another_projects_recommendation(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project, how: str) -> None:
    rec = _applied(store, gateway, daily)
    clone_id = _clone(emulator, daily.job_id)
    copied = _live(gateway, clone_id)  # the other project's wiring and both its tags
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [clone_id], wiring=WIRING).projects
    clone = store.projects.get(int(imported.project.id or 0))
    collector = _collector(store, secrets)
    if how == "imported before the fix":
        # What an older server left: the copy recorded as found, its recommendation tag kept on the job.
        spec = {**copied, "custom_tags": {**copied["custom_tags"], PROJECT_TAG: str(clone.id)}}
        store.projects.update(dataclasses.replace(clone, original_spec=copied, current_spec=spec))
    else:
        spec = copied  # both tags name the other project
    gateway.update_job(clone_id, cluster_entry_update(gateway.get_job(clone_id)["settings"], "main", spec))
    assert _live(gateway, clone_id)["custom_tags"][RECOMMENDATION_TAG] == str(rec.id)
    run = _run_collected(emulator, gateway, collector, clone)
    assert run.recommendation_id is None, how
    # Control: the project the recommendation is for is still credited with it.
    assert _run_collected(emulator, gateway, collector, daily).recommendation_id == rec.id
