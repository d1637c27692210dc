"""What a cluster policy fills into a job cluster's spec, over real HTTP against the emulator: the
emulator fills the policy's values in first, then resolves pools, then validates (at jobs/create,
reset, update and when a run's cluster starts), so it refuses what Databricks refuses; and a plan
under a policy fixing the autoscale range keeps the range, so the next nightly run still starts.
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.databricks.errors import DatabricksRejected
from server.domain import Run, Workspace
from server.plan.planner import Planner
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import config_from_spec, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, admin_post, run_and_collect

START_MS = 1_796_444_220_000  # 2026-12-05 04:17 UTC
FIXED_RANGE = {"autoscale.min_workers": {"type": "fixed", "value": 2, "hidden": True},
               "autoscale.max_workers": {"type": "fixed", "value": 6, "hidden": True}}


def _policy(emulator: RunningWorkspace, name: str, definition: dict[str, Any]) -> str:
    return str(admin_post(emulator, "policies/clusters/create",
                          {"name": name, "definition": json.dumps(definition)})["policy_id"])


def _set(gateway: DatabricksGateway, job_id: int, spec: dict[str, Any]) -> None:
    gateway.update_job(job_id, {"job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}]})


def _state(gateway: DatabricksGateway, run_id: int) -> dict[str, Any]:
    return dict(gateway._do("GET", "/api/2.2/jobs/runs/get", query={"run_id": run_id})["state"])


def test_a_fixed_autoscale_range_is_kept_by_the_plan_and_the_next_run_starts(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    job_id = job_ids[0]
    policy_id = _policy(emulator, "autoscale-2-6", FIXED_RANGE)
    seeded = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    inside = {k: v for k, v in seeded.items() if k != "num_workers"}
    inside.update(policy_id=policy_id, autoscale={"min_workers": 2, "max_workers": 6})
    _set(gateway, job_id, inside)
    run_id, _ = run_and_collect(store, secrets, emulator, gateway, job_id)
    assert _state(gateway, run_id)["result_state"] == "SUCCESS"
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    pid = int(imported.project.id or 0)
    # The project does not keep autoscaling (the default): without the policy it would size a fixed cluster.
    update_settings(store, str(pid), {"auto_apply": True, "spot_allowed": True})
    planner = Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws),
                      clock=FakeClock(START_MS))
    project = store.projects.get(pid)
    run = store.runs.add(Run(project_id=pid, databricks_run_id=10**6, start_ms=86_400_000,
                             end_ms=86_400_000 + 1_500_000, runtime_s=1500.0, outcome="succeeded",
                             config=config_from_spec(project.current_spec)))
    rec = planner.after_run(run)
    assert rec is not None and rec.state == "applied"
    assert (rec.config.autoscale_min, rec.config.autoscale_max, rec.config.num_workers) == (2, 6, 0)
    live = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    assert live["autoscale"] == {"min_workers": 2, "max_workers": 6} and "num_workers" not in live
    run_id, _ = run_and_collect(store, secrets, emulator, gateway, job_id)
    assert _state(gateway, run_id)["result_state"] == "SUCCESS"
    assert store.projects.get(pid).problem in (None, "")


def test_the_emulator_refuses_what_the_policy_fills_in_beside_the_spec(
        emulator: RunningWorkspace, gateway: DatabricksGateway, job_ids: list[int]) -> None:
    job_id = job_ids[0]
    seeded = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    assert seeded.get("num_workers")
    # A fixed autoscale range beside the spec's num_workers: refused when saved.
    ranged = _policy(emulator, "autoscale-2-6", FIXED_RANGE)
    with pytest.raises(DatabricksRejected, match="autoscale: cannot be combined with num_workers"):
        _set(gateway, job_id, {**seeded, "policy_id": ranged})
    # A pool the policy fixes, beside the spec's node type: refused; without the node type: accepted.
    pool_id = str(admin_post(emulator, "instance-pools/create",
                             {"instance_pool_name": "etl", "node_type_id": "m5d.2xlarge"})["instance_pool_id"])
    pooled = _policy(emulator, "pooled", {"instance_pool_id": {"type": "fixed", "value": pool_id, "hidden": True}})
    with pytest.raises(DatabricksRejected, match="The field 'node_type_id' cannot be supplied when an instance "
                                                 "pool ID is provided."):
        _set(gateway, job_id, {**seeded, "policy_id": pooled})
    bare = {k: v for k, v in seeded.items() if k not in ("node_type_id", "driver_node_type_id")}
    _set(gateway, job_id, {**bare, "policy_id": pooled})
    # A driver the policy fixes is the driver, whatever the workers' type: accepted.
    driver = _policy(emulator, "driver", {"driver_node_type_id": {"type": "fixed", "value": "m5d.xlarge"}})
    _set(gateway, job_id, {**bare, "node_type_id": "r5d.xlarge", "policy_id": driver})


def test_a_node_type_from_the_policy_runs_and_a_policy_edited_to_fix_autoscale_fails_the_run_at_start(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    job_id = job_ids[0]
    seeded = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    definition = {"node_type_id": {"type": "allowlist", "values": ["m5d.xlarge", "r5d.xlarge"],
                                   "defaultValue": "m5d.xlarge"}}
    policy_id = _policy(emulator, "std-nodes", definition)
    bare = {k: v for k, v in seeded.items() if k not in ("node_type_id", "driver_node_type_id")}
    _set(gateway, job_id, {**bare, "policy_id": policy_id, "apply_policy_default_values": True})
    run_id, runs = run_and_collect(store, secrets, emulator, gateway, job_id)
    assert _state(gateway, run_id)["result_state"] == "SUCCESS"
    # The policy tightened since the job was saved: its fixed range sits beside num_workers at start.
    admin_post(emulator, "policies/clusters/edit",
               {"policy_id": policy_id, "definition": json.dumps({**definition, **FIXED_RANGE})})
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    state = _state(gateway, run_id)
    assert state["result_state"] != "SUCCESS"
    assert "autoscale: cannot be combined with num_workers" in state["state_message"] or any(
        "autoscale: cannot be combined with num_workers" in str(t.get("state", {}).get("state_message"))
        for t in gateway._do("GET", "/api/2.2/jobs/runs/get", query={"run_id": run_id}).get("tasks", []))


def test_a_job_whose_node_type_comes_from_its_policy_is_planned_and_applied_inside_it(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    job_id = job_ids[0]
    seeded = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    allowed = ["m5d.xlarge", "r5d.xlarge"]
    definition = {"node_type_id": {"type": "allowlist", "values": allowed, "defaultValue": "m5d.xlarge"},
                  "driver_node_type_id": {"type": "fixed", "value": "m5d.xlarge", "hidden": True}}
    policy_id = _policy(emulator, "std-nodes", definition)
    bare = {k: v for k, v in seeded.items() if k not in ("node_type_id", "driver_node_type_id")}
    _set(gateway, job_id, {**bare, "policy_id": policy_id, "apply_policy_default_values": True})
    run_and_collect(store, secrets, emulator, gateway, job_id)
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    pid = int(imported.project.id or 0)
    update_settings(store, str(pid), {"auto_apply": True})
    planner = Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws),
                      clock=FakeClock(START_MS))
    _, runs = run_and_collect(store, secrets, emulator, gateway, job_id)
    recs = [planner.after_run(r) for r in runs]
    assert store.projects.get(pid).problem in (None, "")
    rec = recs[-1]
    assert rec is not None and rec.config.node_type_id in allowed and rec.config.driver_node_type_id == "m5d.xlarge"
    run_id, _ = run_and_collect(store, secrets, emulator, gateway, job_id)
    assert _state(gateway, run_id)["result_state"] == "SUCCESS"
