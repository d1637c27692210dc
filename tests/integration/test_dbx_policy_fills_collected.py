"""A run of a job whose node types (and sizing) come from its cluster policy, collected over real HTTP
against the emulator: the job's spec leaves them out, the cluster record (``clusters/get``) has them as
the policy filled them in. The run is recorded, priced and learned on what ran; drift is still judged on
the spec as the user wrote it. A cluster Databricks no longer holds leaves the run unpriced, said why.
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.collect.run_notes import GONE_NOTE
from server.collect.run_parse import cluster_runs
from server.databricks import DatabricksGateway
from server.domain import Project, Run, Workspace
from server.plan.candidates import config_id_of, project_config
from server.plan.policy import POLICY_FILLS_KEY, ClusterPolicy
from server.services import workspaces
from server.services.projects import summarize
from server.services.savings import as_found
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, admin_post, priced_collector, priced_on, run_and_collect

NODE_TYPES = {"node_type_id": {"type": "allowlist", "values": ["m5d.xlarge", "r5d.xlarge"],
                               "defaultValue": "m5d.xlarge"},
              "driver_node_type_id": {"type": "fixed", "value": "r5d.xlarge", "hidden": True}}
FIXED_RANGE = {"autoscale.min_workers": {"type": "fixed", "value": 2, "hidden": True},
               "autoscale.max_workers": {"type": "fixed", "value": 6, "hidden": True}}


def _under_policy(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
                  job_id: int, definition: dict[str, Any], *, leave_out: tuple[str, ...]) -> Project:
    """The job's cluster put under a policy of ``definition`` (its defaults asked for), the spec's
    ``leave_out`` fields left for it to fill in; imported."""
    policy_id = str(admin_post(emulator, "policies/clusters/create",
                               {"name": "std", "definition": json.dumps(definition)})["policy_id"])
    seeded = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    bare = {k: v for k, v in seeded.items() if k not in leave_out}
    spec = {**bare, "policy_id": policy_id, "apply_policy_default_values": True}
    gateway.update_job(job_id, {"job_clusters": [{"job_cluster_key": "main", "new_cluster": spec}]})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    return imported.project


def _as_it_ran(gateway: DatabricksGateway, store: Store, run: Run) -> float:
    """The run's cluster priced on what its record says it ran (the policy's values filled in)."""
    record = gateway.get_cluster(run.cluster_id)
    return priced_on(gateway, store, run, {
        **record["spec"], **{k: record[k] for k in ("node_type_id", "driver_node_type_id") if record.get(k)}})


def test_a_run_whose_node_types_come_from_its_policy_is_priced_and_learned_on_them(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    project = _under_policy(store, secrets, emulator, gateway, job_ids[0], NODE_TYPES,
                            leave_out=("node_type_id", "driver_node_type_id"))
    _, runs = run_and_collect(store, secrets, emulator, gateway, job_ids[0])
    (run,) = [r for r in runs if r.project_id == project.id]
    record = gateway.get_cluster(run.cluster_id)
    assert (record["node_type_id"], record["driver_node_type_id"]) == ("m5d.xlarge", "r5d.xlarge")
    assert "node_type_id" not in record["spec"]  # the user's settings: the policy's values are not in them
    # Recorded and learned on what ran, not on '' (which would file the run apart from the same cluster).
    assert run.config is not None
    assert (run.config.node_type_id, run.config.driver_node_type_id, run.config.num_workers) == \
        ("m5d.xlarge", "r5d.xlarge", 4)
    # Filed under the configuration the planner reads as the job's current one (its spec under the
    # policy), so the runs on it are learned as that configuration's, not apart from it.
    policy = ClusterPolicy.from_api(gateway.get_cluster_policy(project.current_spec["policy_id"]))
    current = project_config(project, cloud="aws", policy=policy)
    assert (config_id_of(run.config), run.config.driver_node_type_id) == \
        (config_id_of(current), current.driver_node_type_id) == ("m5d.xlargex4-spot", "r5d.xlarge")
    # Priced on the workers and the driver it ran on.
    assert run.cost is not None and "not priced" not in run.message
    assert run.cost.total == pytest.approx(_as_it_ran(gateway, store, run))
    # Drift is judged on the spec as written: the policy's values are no edit of the user's.
    assert "user_edit" not in run.anomalies
    fresh = store.projects.get(int(project.id or 0))
    assert "node_type_id" not in fresh.current_spec and "driver_node_type_id" not in fresh.current_spec
    # The project's page and the savings baseline read the imported cluster as the run did (the node
    # types its project keeps of the policy), so the run counts as one on the cluster as found.
    summary = summarize(store, fresh)
    assert summary.current_config is not None
    assert (summary.current_config.node_type_id, summary.current_config.driver_node_type_id) == \
        ("m5d.xlarge", "r5d.xlarge")
    assert as_found(fresh, [], "aws")(run.config)


def test_a_run_whose_autoscale_range_comes_from_its_policy_is_recorded_with_it(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    project = _under_policy(store, secrets, emulator, gateway, job_ids[0], {**NODE_TYPES, **FIXED_RANGE},
                            leave_out=("node_type_id", "driver_node_type_id", "num_workers"))
    _, runs = run_and_collect(store, secrets, emulator, gateway, job_ids[0])
    (run,) = [r for r in runs if r.project_id == project.id]
    assert gateway.get_cluster(run.cluster_id)["autoscale"] == {"min_workers": 2, "max_workers": 6}
    assert run.config is not None
    assert (run.config.node_type_id, run.config.num_workers, run.config.autoscale_min, run.config.autoscale_max) == \
        ("m5d.xlarge", 0, 2, 6)
    assert run.cost is not None and "user_edit" not in run.anomalies


def run_purged(emulator: RunningWorkspace, gateway: DatabricksGateway, job_id: int) -> int:
    """A run of the job, ended, whose clusters Databricks purged (30 days after they ended: clusters/get
    and clusters/events no longer answer for them); its run id."""
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    ws = emulator.workspace.store
    with ws.lock:
        for task in ws.data["runs"][str(run_id)]["tasks"]:
            ws.data["clusters"].pop(task["cluster_instance"]["cluster_id"], None)
            ws.data["events"].pop(task["cluster_instance"]["cluster_id"], None)
        ws.save()
    return run_id


def _purged_run(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
                project: Project) -> Run:
    """A run of the project's job whose cluster Databricks purged (30 days after it ended: clusters/get
    and clusters/events no longer answer for it) before it was collected; collected."""
    run_id = run_purged(emulator, gateway, project.job_id)
    run_and_collect(store, secrets, emulator, gateway, project.job_id)
    run = store.runs.get_by_databricks_run(int(project.id or 0), run_id)
    assert run is not None
    return run


def test_a_run_whose_cluster_is_gone_is_priced_on_the_fills_its_project_keeps(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    project = _under_policy(store, secrets, emulator, gateway, job_ids[0], NODE_TYPES,
                            leave_out=("node_type_id", "driver_node_type_id"))
    # Import kept the policy's node types with what else it fills in (`kept_fills`).
    kept = project.state[POLICY_FILLS_KEY]
    assert (kept["fixed"]["driver_node_type_id"], kept["defaults"]["node_type_id"]) == ("r5d.xlarge", "m5d.xlarge")
    run = _purged_run(store, secrets, emulator, gateway, project)
    assert run.config is not None
    assert (run.config.node_type_id, run.config.driver_node_type_id, run.config.num_workers) == \
        ("m5d.xlarge", "r5d.xlarge", 4)
    assert run.config.spec["node_type_id"] == "m5d.xlarge"  # re-costing reads the run's spec: as it ran
    assert run.cost is not None and run.cost.total > 0 and GONE_NOTE in run.cost.note
    assert "user_edit" not in run.anomalies


def test_a_run_whose_cluster_is_gone_is_stored_unpriced_naming_why(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    project = _under_policy(store, secrets, emulator, gateway, job_ids[0], NODE_TYPES,
                            leave_out=("node_type_id", "driver_node_type_id"))
    # A project whose kept copy names no node types (kept by a version before they were kept).
    old = {k: v for k, v in project.state[POLICY_FILLS_KEY].items() if k == "policy_id"}
    project = store.projects.update(dataclasses.replace(
        project, state={**project.state, POLICY_FILLS_KEY: {**old, "fixed": {}, "defaults": {}}}))
    run = _purged_run(store, secrets, emulator, gateway, project)
    assert run is not None and run.cost is None
    # Not "unknown node type ''": the cause, in the user's words.
    assert "''" not in run.message
    assert "node type" in run.message and "cluster policy" in run.message and "gone" in run.message


def test_a_retried_tasks_earlier_cluster_gone_is_priced_on_the_fills_its_project_keeps(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    # Review 19: the run's own cluster, purged, was priced from the project's kept policy copy; the
    # earlier cluster of a task retried on a new one was read without it, on node type '' (unpriced).
    from tests.integration.test_review9_cost_retry import _retried_on_a_new_cluster

    project = _under_policy(store, secrets, emulator, gateway, job_ids[0], NODE_TYPES,
                            leave_out=("node_type_id", "driver_node_type_id"))
    run_id = _retried_on_a_new_cluster(emulator, gateway, project.job_id)
    (piece,) = cluster_runs(gateway.get_run(run_id))
    (first_id, _, _), (last_id, _, _) = piece.instances
    assert first_id != last_id
    ws = emulator.workspace.store
    with ws.lock:  # the earlier cluster purged (30 days after it ended), the run's own still held
        ws.data["clusters"].pop(first_id, None)
        ws.data["events"].pop(first_id, None)
        ws.save()
    (run,) = priced_collector(store, secrets).poll_once()
    assert "retried" in run.anomalies
    assert run.cost is not None and "over the run's 2 clusters" in run.cost.note
    assert "not priced" not in run.message and "node type" not in run.message
