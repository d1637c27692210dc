"""A run is credited to a recommendation by the cluster's trimtab:recommendation-id tag only when that
recommendation can be the run's project's. A copy of a managed job (Databricks' "Clone job") carries the
other project's tag: before, its runs were credited to that recommendation, so the copy never had a run
as found and savings could say nothing (review 9; run 11 recommendation_id 4).

Real parts: the sandbox emulator through the real databricks-sdk, the real collector, SQLite and
PostgreSQL.
"""

from __future__ import annotations

import dataclasses

import pytest

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.domain import Project
from server.onboard import PROJECT_TAG, RECOMMENDATION_TAG
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import cluster_entry_update
from server.store import Store
from tests.integration.clone_jobs import applied as _applied
from tests.integration.clone_jobs import clone as _clone
from tests.integration.clone_jobs import collector as _collector
from tests.integration.clone_jobs import live as _live
from tests.integration.clone_jobs import run_collected as _run_collected
from tests.integration.conftest import WIRING


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
