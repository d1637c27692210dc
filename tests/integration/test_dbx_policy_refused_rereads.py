"""Databricks' refusal under a cluster policy makes the planner read the policy again, whatever its
copy's age (SQLite and PostgreSQL, the real databricks-sdk against the workspace emulator).

The planner keeps a fetched policy `POLICY_TTL_S` (5 minutes). Before, a policy tightened within
that time of the last read was still planned on the old copy after Databricks had refused a run
under the new one: the reason quoted Databricks' new rule and said "moving inside it", yet the plan
recommended a node type the policy now refuses, auto-apply failed, and the next nightly run failed
at start again (the docs-following review: c5d.xlarge recommended when only m5d/r5d were allowed).
Likewise an auto-apply that ``jobs/update`` refused under the policy left the project with that
failure until the copy expired and a later run planned again."""

from __future__ import annotations

import json
from typing import Any

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, Run, Workspace
from server.plan.candidates import config_id_of, same_hardware
from server.plan.planner import Planner
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import config_from_spec, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, CountingGateway, admin_post, run_and_collect

START_MS = 1_796_444_220_000  # 2026-12-05 04:17 UTC
WIDE = [f"{family}.{size}" for family in ("c5d", "m5d", "r5d") for size in ("xlarge", "2xlarge", "4xlarge")]


def _node_types(types: list[str]) -> str:
    return json.dumps({"node_type_id": {"type": "allowlist", "values": types}})


def _run_and_collect(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
                     job_id: int) -> Run:
    (run,) = run_and_collect(store, secrets, emulator, gateway, job_id)[1]
    return run

def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _under_policy(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
                  job_id: int) -> tuple[str, Project, Planner, list[str]]:
    """The job's cluster under a wide node-type policy, imported, and two nights planned (auto-apply
    off, so the job stays where it is) by a planner whose policy reads are counted."""
    policy_id = str(admin_post(emulator, "policies/clusters/create",
                               {"name": "etl", "definition": _node_types(WIDE)})["policy_id"])
    seeded = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    assert seeded is not None and seeded["node_type_id"] == "m5d.xlarge"
    gateway.update_job(job_id, {"job_clusters": [{"job_cluster_key": "main",
                                                  "new_cluster": {**seeded, "policy_id": policy_id}}]})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    fetched: list[str] = []

    def gateway_for(ws: Workspace) -> Any:
        return CountingGateway(workspaces.gateway_for(store, secrets, ws), "get_cluster_policy", fetched)

    planner = Planner(store, load_catalog(), gateway_for, clock=FakeClock(START_MS))  # never advanced
    for _ in range(2):
        run = _run_and_collect(store, secrets, emulator, gateway, job_id)
        assert run.outcome == "succeeded"
        planner.after_run(run)
    assert fetched == [policy_id]  # the two plans shared one read: the copy is within its 5 minutes
    return policy_id, imported.project, planner, fetched



def _pin_policy(emulator: RunningWorkspace, policy_id: str, live: dict[str, Any]) -> None:
    """An admin pins the policy to the cluster as it runs today: any other configuration is refused."""
    pinned = json.dumps({"node_type_id": {"type": "fixed", "value": live["node_type_id"]},
                         "num_workers": {"type": "fixed", "value": live["num_workers"]}})
    admin_post(emulator, "policies/clusters/edit", {"policy_id": policy_id, "definition": pinned})

def test_a_run_refused_under_the_policy_is_planned_on_the_policy_read_again(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    job_id = job_ids[0]
    policy_id, project, planner, fetched = _under_policy(store, secrets, emulator, gateway, job_id)
    pid = int(project.id or 0)

    # An admin narrows the policy to r5d: the job, saved on m5d.xlarge, fails its next run at start.
    allowed = [t for t in WIDE if t.startswith("r5d.")]
    admin_post(emulator, "policies/clusters/edit", {"policy_id": policy_id, "definition": _node_types(allowed)})
    failed = _run_and_collect(store, secrets, emulator, gateway, job_id)
    assert failed.outcome == "failed" and failed.message.startswith("Cluster validation error")

    update_settings(store, str(pid), {"auto_apply": True})
    rec = planner.after_run(failed)  # the planner's clock has not moved: its copy is seconds old
    assert fetched == [policy_id, policy_id]  # Databricks' refusal: read again before planning
    assert store.projects.get(pid).problem is None
    assert rec is not None and rec.config.node_type_id in allowed, rec.config
    assert rec.state == "applied" and "now refuses the current configuration" in rec.reason
    assert _live(gateway, project)["node_type_id"] == rec.config.node_type_id
    # And the next run starts.
    run = _run_and_collect(store, secrets, emulator, gateway, job_id)
    assert run.outcome == "succeeded" and run.config is not None
    assert run.config.node_type_id == rec.config.node_type_id


def test_an_apply_refused_under_the_policy_plans_again_on_the_policy_read_again(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    job_id = job_ids[0]
    policy_id, project, planner, fetched = _under_policy(store, secrets, emulator, gateway, job_id)
    pid = int(project.id or 0)
    live = _live(gateway, project)

    # An admin pins the policy to the cluster as it runs today: the job's next run starts, but any
    # other configuration is refused, by jobs/update too.
    _pin_policy(emulator, policy_id, live)
    run = _run_and_collect(store, secrets, emulator, gateway, job_id)
    assert run.outcome == "succeeded" and run.config is not None

    update_settings(store, str(pid), {"auto_apply": True})
    rec = planner.after_run(run)  # planned on the copy read before the edit: a move the policy refuses
    # Databricks refused the apply: the policy was read again and the project planned under it.
    assert fetched == [policy_id, policy_id]
    problem = store.projects.get(pid).problem
    assert problem is None, problem
    assert rec is not None and rec.state == "pending"
    assert same_hardware(rec.config, config_from_spec(live)), config_id_of(rec.config)
    assert f'kept inside the cluster policy "etl" ({policy_id}): it fixes node_type_id at {live["node_type_id"]}' \
        in rec.reason
    assert _live(gateway, project)["node_type_id"] == live["node_type_id"]


def test_an_apply_refused_after_a_settings_change_plans_again_on_the_policy_read_again(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    job_id = job_ids[0]
    policy_id, project, planner, fetched = _under_policy(store, secrets, emulator, gateway, job_id)
    pid = int(project.id or 0)
    live = _live(gateway, project)
    _pin_policy(emulator, policy_id, live)

    # `trimtab project set --auto-apply on`: planned again at once, on the copy read before the edit.
    update_settings(store, str(pid), {"auto_apply": True})
    rec = planner.replan(pid)
    assert fetched == [policy_id, policy_id]
    problem = store.projects.get(pid).problem
    assert problem is None, problem
    assert rec is not None and rec.state == "pending"
    assert same_hardware(rec.config, config_from_spec(live)), config_id_of(rec.config)
    assert _live(gateway, project)["node_type_id"] == live["node_type_id"]
