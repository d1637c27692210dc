"""A cluster policy tightened under a job (SQLite and PostgreSQL): the planner moves the job inside
it, names the rules that now refuse the current configuration, keeps learning from the runs on it,
and fails with what to change when the policy leaves no configuration within the project's bounds."""

from __future__ import annotations

import json

import pytest

from server.costing.catalog import load_catalog
from server.domain import Project, ProjectSettings, Run, Workspace
from server.errors import FailedPrecondition
from server.plan.candidates import config_id_of
from server.plan.planner import plan_project
from server.spec import config_from_spec
from server.store import Store

SPEC = {
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "m5.2xlarge",
    "driver_node_type_id": "m5.2xlarge",
    "num_workers": 6,
    "policy_id": "E0000000000001",
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1},
}


@pytest.fixture
def store(any_store: Store) -> Store:
    any_store.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws", plan="premium"), "enc")
    return any_store


def _project_with_runs(store: Store, runs: int = 3, learning_budget: int = 4) -> int:
    project = store.projects.add(Project(
        workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC, original_spec=SPEC,
        settings=ProjectSettings(sla_seconds=3000.0, auto_apply=True, learning_budget=learning_budget)))
    pid = int(project.id or 0)
    for n in range(1, runs + 1):
        store.runs.add(Run(project_id=pid, databricks_run_id=n, start_ms=n * 86_400_000,
                           end_ms=n * 86_400_000 + 1_500_000, runtime_s=1500.0, outcome="succeeded",
                           config=config_from_spec(SPEC)))
    return pid


def _refused_at_start(store: Store, pid: int) -> None:
    """The run Databricks failed at start: the policy now refuses the job's configuration."""
    n = len(store.runs.history(pid)) + 1
    store.runs.add(Run(project_id=pid, databricks_run_id=n, start_ms=n * 86_400_000, end_ms=n * 86_400_000 + 200,
                       runtime_s=0.2, outcome="failed", anomalies=("failure",), config=config_from_spec(SPEC),
                       message="Cluster validation error: Validation failed for num_workers, the value must be "
                               'at most 4 (is "6")'))


def _policy(definition: dict[str, object]) -> dict[str, str]:
    return {"policy_id": "E0000000000001", "name": "etl", "definition": json.dumps(definition)}


def test_a_policy_that_now_refuses_the_current_configuration_moves_the_plan_inside_it(store: Store) -> None:
    pid = _project_with_runs(store)
    policy = _policy({"num_workers": {"type": "range", "maxValue": 4}})
    _refused_at_start(store, pid)
    for _ in range(3):  # learning picks differ from plan to plan: each is inside the policy
        rec = plan_project(store, pid, load_catalog(), policy=policy)
        assert rec is not None
        assert 1 <= rec.config.num_workers <= 4 and config_id_of(rec.config) != "m5.2xlargex6"
        assert rec.reason.endswith('; the cluster policy "etl" (E0000000000001) now refuses the current '
                                   "configuration (caps num_workers at 4 (this configuration: 6)), so its runs "
                                   "would fail at start; moving inside it")
        # The runs on the refused configuration are learned from: a prediction, not a first run.
        assert "no usable run yet" not in rec.reason
        assert rec.predicted_runtime_s > 0 and rec.runtime_interval_s[0] > 0


def test_a_policy_that_allows_no_configuration_fails_the_plan_with_what_to_change(store: Store) -> None:
    pid = _project_with_runs(store)
    policy = _policy({"node_type_id": {"type": "allowlist", "values": ["p3.2xlarge"]},
                      "num_workers": {"type": "range", "maxValue": 4}})
    _refused_at_start(store, pid)
    with pytest.raises(FailedPrecondition) as err:
        plan_project(store, pid, load_catalog(), policy=policy)
    message = str(err.value)
    assert message.startswith('project ws/1/main: no configuration within its bounds is inside the cluster policy '
                              '"etl" (E0000000000001), which now refuses the current one; change the policy, widen '
                              "the bounds (trimtab project set --min-workers/--max-workers/--allowed-families) or "
                              "detach the project. ")
    assert "The current configuration's runs would fail at start: allows node_type_id only in [p3.2xlarge] " \
        "(this configuration: m5.2xlarge); caps num_workers at 4 (this configuration: 6)" in message
    assert store.recommendations.pending(pid) is None



def test_without_databricks_word_the_current_configuration_stays_a_candidate(store: Store) -> None:
    # Trimtab's reading of a policy may differ from the service's (isOptional, defaults): the
    # configuration the job runs on is refused only once a run failed the policy's validation.
    pid = _project_with_runs(store)
    policy = _policy({"node_type_id": {"type": "allowlist", "values": ["p3.2xlarge"]}})
    rec = plan_project(store, pid, load_catalog(), policy=policy)
    assert rec is not None and config_id_of(rec.config) == "m5.2xlargex6"
    assert "now refuses" not in rec.reason and "allows no other configuration" in rec.reason
