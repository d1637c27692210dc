"""Auto-apply leaves a driver the user put on spot on spot (review fod0).

A job on m5d.xlarge x 4 spot workers with ``first_on_demand`` 0 (the driver on spot too), under a
cluster policy fixing the workers' type, was recommended the same hardware with first_on_demand 1 and
auto-apply wrote it (it asks `server.already_runs`, which counts first_on_demand): the driver moved to
on demand and the reason said only "m5d.xlarge x 4 workers, spot". Real parts: the sandbox workspace
emulator over HTTP through the real databricks-sdk gateway, import, a policy created by an admin, the
planner and auto-apply; both store engines."""

from __future__ import annotations

import json
from typing import Any

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, ProjectSettings, Workspace
from server.plan.planner import Planner
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import admin_post, import_etl_job
from tests.plan.stored_runs import store_run


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def test_auto_apply_keeps_the_spot_driver(store: Store, secrets: SecretBox, gateway: DatabricksGateway,
                                          connected: Workspace, emulator: RunningWorkspace) -> None:
    # The policy fixes the workers' type: the only hardware the plan can pick is the one the job runs.
    policy_id = str(admin_post(emulator, "policies/clusters/create", {"name": "fixed", "definition": json.dumps(
        {"node_type_id": {"type": "fixed", "value": "m5d.xlarge"}})})["policy_id"])
    spec = {**aws_cluster("m5d.xlarge", 4), "policy_id": policy_id}
    spec["aws_attributes"]["first_on_demand"] = 0
    project = import_etl_job(store, secrets, gateway, spec)
    pid = int(project.id or 0)
    store.projects.update_settings(pid, ProjectSettings(auto_apply=True, allowed_families=("m5d",), min_workers=4,
                                                        max_workers=4))
    before = _live(gateway, project)
    assert before["aws_attributes"]["first_on_demand"] == 0
    run = store_run(store, store.projects.get(pid), 1, [])
    planner = Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws))
    rec = planner.after_run(run)
    assert rec is not None
    assert (rec.config.node_type_id, rec.config.num_workers, rec.config.first_on_demand) == ("m5d.xlarge", 4, 0)
    assert rec.state == "pending"  # the job already runs it: nothing to write
    assert "spot (the driver too)" in rec.reason and "on demand" not in rec.reason, rec.reason
    # Was 1: the driver moved off spot by auto-apply.
    assert _live(gateway, project) == before
