"""Auto-apply writes a recommendation that changes only what no `config_id` names: gp3's IOPS and
throughput, or spot without fallback for spot with. `project show` and `recommendation show` offered
it as not yet on the job (`server.already_runs`), while the planner compared the two clusters by id,
driver and EBS type/count/size alone (`same_cluster`, now `same_hardware`), took it for the cluster
the job runs, and never applied it. Real parts: the sandbox workspace emulator over HTTP through the
real databricks-sdk gateway, import, a cluster policy edited by an admin, the planner and apply;
both store engines."""

from __future__ import annotations

import json
from typing import Any

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, ProjectSettings, Recommendation, Run, Workspace
from server.plan.candidates import config_id_of, driver_of
from server.plan.planner import Planner
from server.plan.storage import volume_set
from server.services import workspaces
from server.services.pending import on_job
from server.services.secrets import SecretBox
from server.spec import GP3_FIELDS, config_from_spec, find_cluster_spec
from server.store import Store
from tests.integration.conftest import admin_post, import_etl_job
from tests.plan.stored_runs import store_run
from tests.plan.test_review14_ebs_workers import _run

# gp2-equivalent volumes (GENERAL_PURPOSE_SSD without IOPS): one 100 GB volume a node, enough for the
# runs' 40 GB of shuffle over 4 workers, so the storage advice keeps the count and size and writes them
# as gp3 (cheaper at the same speed): the same named fields, IOPS and throughput added.
SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "c6i.xlarge", "driver_node_type_id": "c6i.xlarge",
        "num_workers": 4, "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1,
                                             "ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1,
                                             "ebs_volume_size": 100}}


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _agrees(store: Store, project: Project, rec: Recommendation) -> None:
    """Auto-apply left ``rec`` pending only if `project show` says the job already runs it."""
    stored = store.recommendations.get(int(rec.id or 0))
    assert stored.state == "applied" or on_job(store, store.projects.get(int(project.id or 0)), stored), \
        "auto-apply skipped a recommendation that `project show` offers as not yet on the job"


def _planner(store: Store, secrets: SecretBox) -> Planner:
    def gateway_for(ws: Workspace) -> DatabricksGateway:
        return workspaces.gateway_for(store, secrets, ws)

    return Planner(store, load_catalog(), gateway_for)


def test_auto_apply_writes_a_recommendation_that_changes_only_gp3_performance(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, connected: object) -> None:
    project = import_etl_job(store, secrets, gateway, SPEC)
    pid = int(project.id or 0)
    # The owner keeps the workers (this family and count, on demand): the plan keeps them too.
    store.projects.update_settings(pid, ProjectSettings(auto_apply=True, allowed_families=("c6i",), min_workers=4,
                                                        max_workers=4, spot_allowed=False))
    before = _live(gateway, project)
    _run(store, store.projects.get(pid), 1, 40)
    run = store.runs.list(pid, limit=1)[0]

    rec = _planner(store, secrets).after_run(run)

    assert rec is not None
    live = config_from_spec(before, cloud="aws")
    # The recommendation is the cluster the job runs but for gp3's performance...
    assert (config_id_of(rec.config), driver_of(rec.config), volume_set(rec.config)) == \
        (config_id_of(live), driver_of(live), volume_set(live)), rec.reason
    advised = rec.config.spec["aws_attributes"]
    assert all(advised.get(k) for k in GP3_FIELDS), rec.storage_advice
    # ...and auto-apply wrote it, as `recommendation show` offered it.
    after = _live(gateway, project)["aws_attributes"]
    assert {k: after.get(k) for k in GP3_FIELDS} == {k: advised[k] for k in GP3_FIELDS}
    assert store.recommendations.get(int(rec.id or 0)).state == "applied"
    assert (store.projects.get(pid).pending_apply or {}).get("recommendation_id") == rec.id
    _agrees(store, project, rec)

    # The next plan keeps those volumes: the job runs it already, and nothing is written again.
    written = _live(gateway, project)
    _run(store, store.projects.get(pid), 2, 40)
    again = _planner(store, secrets).after_run(store.runs.list(pid, limit=1)[0])
    assert again is not None and again.state == "pending"
    assert on_job(store, store.projects.get(pid), again), again.reason
    assert _live(gateway, project) == written


def _policy(availability: list[str]) -> str:
    return json.dumps({"node_type_id": {"type": "fixed", "value": "m5d.xlarge"},
                       "aws_attributes.availability": {"type": "allowlist", "values": availability}})


def test_auto_apply_writes_spot_without_fallback_when_the_policy_now_allows_only_that(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: object) -> None:
    # A job on spot with fallback under a policy that allowed it; an admin then allows pure spot only.
    # Databricks judges a job's cluster again when a run creates it: the next run would fail at start.
    # The plan keeps the workers and writes spot without fallback (`spot_kind_for`): the same id, the
    # same driver and disks, so auto-apply took it for the cluster the job runs and never wrote it.
    policy_id = str(admin_post(emulator, "policies/clusters/create",
                               {"name": "spot", "definition": _policy(["SPOT_WITH_FALLBACK", "SPOT"])})["policy_id"])
    project = import_etl_job(store, secrets, gateway, {**aws_cluster("m5d.xlarge", 4), "policy_id": policy_id})
    pid = int(project.id or 0)
    store.projects.update_settings(pid, ProjectSettings(auto_apply=True, allowed_families=("m5d",), min_workers=4,
                                                        max_workers=4))
    assert _live(gateway, project)["aws_attributes"]["availability"] == "SPOT_WITH_FALLBACK"
    admin_post(emulator, "policies/clusters/edit", {"policy_id": policy_id, "name": "spot",
                                                    "definition": _policy(["SPOT"])})
    run: Run = store_run(store, store.projects.get(pid), 1, [])

    rec = _planner(store, secrets).after_run(run)

    assert rec is not None and rec.config.availability == "SPOT", rec.reason
    live = config_from_spec(_live(gateway, project), cloud="aws")
    assert (config_id_of(rec.config), driver_of(rec.config), volume_set(rec.config)) == \
        (config_id_of(live), driver_of(live), volume_set(live)), rec.reason
    assert live.availability == "SPOT"
    assert store.recommendations.get(int(rec.id or 0)).state == "applied"
    _agrees(store, project, rec)
    # Written, the next run's cluster passes the policy.
    run_id = gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    state = gateway._do("GET", "/api/2.2/jobs/runs/get", query={"run_id": run_id})["state"]
    assert state["result_state"] == "SUCCESS", state
