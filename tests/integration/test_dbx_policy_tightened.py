"""A cluster policy tightened under a job, over real HTTP (emulator + databricks-sdk, SQLite and
PostgreSQL): the emulator edits the policy (``policies/clusters/edit``) and validates a run's job
cluster against it when the cluster is created, so the job's next run fails at start, as on
Databricks; the planner then moves the job inside the policy, auto-apply goes through, the next run
succeeds, and the runs on the refused configuration still teach the model."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Sequence
from typing import Any

import pytest

import server.plan.planner as planner_module
from models.decide import Decision, Settings, decide
from models.observation import Observation
from models.space import Candidate
from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Run, Workspace
from server.plan.candidates import config_id_of
from server.plan.planner import POLICY_TTL_S, Planner
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, admin_post, run_and_collect

START_MS = 1_796_444_220_000  # 2026-12-05 04:17 UTC
TYPES = ["m5d.xlarge", "r5d.xlarge"]


def _definition(max_workers: int) -> str:
    return json.dumps({
        "node_type_id": {"type": "allowlist", "values": TYPES},
        "num_workers": {"type": "range", "minValue": 1, "maxValue": max_workers},
        "autoscale.max_workers": {"type": "forbidden"},
        "aws_attributes.availability": {"type": "fixed", "value": "ON_DEMAND"},
    })


def _run_state(gateway: DatabricksGateway, run_id: int) -> dict[str, Any]:
    return dict(gateway._do("GET", "/api/2.2/jobs/runs/get", query={"run_id": run_id}))


def _run_and_collect(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
                     job_id: int) -> tuple[dict[str, Any], list[Run]]:
    run_id, runs = run_and_collect(store, secrets, emulator, gateway, job_id)
    return _run_state(gateway, run_id), runs

def test_a_tightened_policy_fails_the_run_at_start_and_the_plan_moves_inside_it(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = job_ids[0]
    policy_id = str(admin_post(emulator, "policies/clusters/create",
                               {"name": "etl", "definition": _definition(8)})["policy_id"])
    seeded = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    assert seeded is not None and seeded["node_type_id"] == "m5d.xlarge" and seeded["num_workers"] == 4
    inside = {**seeded, "policy_id": policy_id, "aws_attributes": {**seeded["aws_attributes"],
                                                                   "availability": "ON_DEMAND"}}
    gateway.update_job(job_id, {"job_clusters": [{"job_cluster_key": "main", "new_cluster": inside}]})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    pid = int(imported.project.id or 0)
    old_id = "m5d.xlargex4"

    # What the planner hands the model: a recorder around the real decide.
    seen: list[tuple[list[Candidate], list[Observation]]] = []

    def recording(candidates: Sequence[Candidate], history: Sequence[Observation], settings: Settings,
                  *args: Any, **kwargs: Any) -> Decision:
        seen.append((list(candidates), list(history)))
        return decide(candidates, history, settings, *args, **kwargs)

    monkeypatch.setattr(planner_module, "decide", recording)
    clock = FakeClock(START_MS)
    planner = Planner(store, load_catalog(), lambda ws: workspaces.gateway_for(store, secrets, ws), clock=clock)

    # Two nights on 4 workers under the policy as it was; auto-apply off, so the job stays there.
    for _ in range(2):
        state, (run,) = _run_and_collect(store, secrets, emulator, gateway, job_id)
        assert state["state"]["result_state"] == "SUCCESS"
        assert run.outcome == "succeeded" and run.config is not None and config_id_of(run.config) == old_id
        planner.after_run(run)
    assert store.projects.get(pid).problem is None

    # An admin caps the policy's workers at 2: the job, saved with 4, is not re-checked ...
    assert admin_post(emulator, "policies/clusters/edit",
                      {"policy_id": policy_id, "name": "etl", "definition": _definition(2)}) == {}
    assert json.loads(gateway.get_cluster_policy(policy_id)["definition"])["num_workers"]["maxValue"] == 2
    saved = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    assert saved is not None and saved["num_workers"] == 4 and saved["policy_id"] == policy_id
    # ... but its next run's cluster is, when it is created: the run fails at start.
    state, collected = _run_and_collect(store, secrets, emulator, gateway, job_id)
    assert (state["state"]["life_cycle_state"], state["state"]["result_state"]) == ("INTERNAL_ERROR", "FAILED")
    assert state["state"]["state_message"] == ("Cluster validation error: Validation failed for num_workers, "
                                               'the value must be at most 2 (is "4")')
    assert state["status"]["termination_details"]["code"] == "CLUSTER_ERROR"
    (task,) = state["tasks"]
    assert task["state"]["result_state"] == "FAILED" and "cluster_instance" not in task
    assert state["execution_duration"] == 0

    # The collector stores it as a failed run that cost nothing (no cluster was created), and the
    # planner (auto-apply on now) plans after it: the job moves inside the policy.
    (failed,) = collected
    assert (failed.outcome, failed.cluster_id, failed.anomalies) == ("failed", "", ("failure",))
    assert failed.message == state["state"]["state_message"]  # why, in Databricks' words
    assert failed.cost is not None and failed.cost.total == 0.0 and failed.config is not None
    assert config_id_of(failed.config) == old_id
    update_settings(store, str(pid), {"auto_apply": True})
    clock.advance(POLICY_TTL_S)  # the planner's copy of the policy is fetched again
    rec = planner.after_run(failed)
    project = store.projects.get(pid)
    assert project.problem is None, project.problem
    assert rec is not None and rec.state == "applied"
    assert 1 <= rec.config.num_workers <= 2 and rec.config.node_type_id in TYPES
    assert 'the cluster policy "etl" (' + policy_id + ") now refuses the current configuration (keeps " \
        "num_workers between 1 and 2 (this configuration: 4)), so its runs would fail at start; moving inside it" in rec.reason
    live = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    assert live is not None and live["num_workers"] == rec.config.num_workers and live["policy_id"] == policy_id
    # The model still learned from the two runs on the refused configuration: they are in the
    # history the planner passed, their configuration an observed-only candidate.
    candidates, history = seen[-1]
    assert sum(1 for o in history if o.config_id == old_id and o.ok) == 2
    assert [c.allowed for c in candidates if c.config_id == old_id] == [False]
    assert rec.predicted_runtime_s > 0

    # The next run starts and succeeds on the new configuration.
    state, (run,) = _run_and_collect(store, secrets, emulator, gateway, job_id)
    assert state["state"]["result_state"] == "SUCCESS", state["state"]
    assert run.outcome == "succeeded" and run.config is not None
    assert run.config.num_workers == rec.config.num_workers

    # Tightened again, to node types outside the project's bounds. Trimtab's reading of the policy
    # alone does not move a job the service runs: the plan after the last good run keeps it.
    admin_post(emulator, "policies/clusters/edit", {"policy_id": policy_id, "name": "etl", "definition": json.dumps(
        {"node_type_id": {"type": "allowlist", "values": ["i3.xlarge"]}})})
    clock.advance(POLICY_TTL_S)
    kept = planner.after_run(run)
    assert kept is not None and config_id_of(kept.config) == config_id_of(run.config)
    assert store.projects.get(pid).problem is None
    # Databricks' word: the next run fails at start, and then nothing can be planned; the project
    # keeps the failure, saying what to change.
    state, (refused,) = _run_and_collect(store, secrets, emulator, gateway, job_id)
    assert refused.outcome == "failed" and "Cluster validation error" in refused.message
    planner(refused)  # the collector's call: kept, not raised
    problem = store.projects.get(pid).problem
    assert problem is not None and (problem.step, problem.run_id) == ("plan", refused.id)
    assert problem.message.startswith(f"FailedPrecondition: project {store.projects.get(pid).name}: no "
                                      "configuration within its bounds is inside the cluster policy \"etl\"")
    # Cut at the kept problem's length, what to change is all there.
    assert "which now refuses the current one; change the policy, widen the bounds (trimtab project set " \
        "--min-workers/--max-workers/--allowed-families) or detach the project" in problem.message



def test_a_policy_edit_replaces_its_definition_and_refuses_what_the_service_refuses(
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    policy_id = str(admin_post(emulator, "policies/clusters/create",
                               {"name": "etl", "definition": _definition(8)})["policy_id"])
    admin_post(emulator, "policies/clusters/create", {"name": "other", "definition": "{}"})
    # Name left out: kept (the SDK sends it as an optional field).
    assert admin_post(emulator, "policies/clusters/edit", {"policy_id": policy_id, "definition": _definition(3)}) == {}
    got = gateway.get_cluster_policy(policy_id)
    assert got["name"] == "etl" and json.loads(got["definition"])["num_workers"]["maxValue"] == 3
    for body, status, message in (
            ({"policy_id": "NOPE", "name": "x", "definition": "{}"}, 404, "Can't find a cluster policy with id: NOPE"),
            ({"policy_id": policy_id, "name": "other", "definition": "{}"}, 400, "Policy with name other already"),
            ({"policy_id": policy_id, "name": "etl", "definition": '{"x": {"type": "nope"}}'}, 400,
             "Invalid policy definition for x: unknown policy type"),
            ({"name": "etl"}, 400, "Missing required field: policy_id")):
        with pytest.raises(urllib.error.HTTPError) as err:
            admin_post(emulator, "policies/clusters/edit", body)
        assert err.value.code == status and message in err.value.read().decode(), body
    assert json.loads(gateway.get_cluster_policy(policy_id)["definition"])["num_workers"]["maxValue"] == 3
