"""Cluster policies over real HTTP: the emulator serves and enforces them (jobs/create, reset, update),
the gateway fetches them, and the planner recommends only inside a job cluster's policy, so auto-apply
goes through where an unfiltered plan would be refused. SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.databricks.errors import DatabricksNotFound, DatabricksRejected
from server.domain import Project, Run, Workspace
from server.plan.candidates import project_candidates
from server.plan.planner import POLICY_TTL_S, Planner
from server.plan.policy import ClusterPolicy
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import config_from_spec, find_cluster_spec
from server.store import Store
from tests.integration.conftest import WIRING, CountingGateway, admin_post

START_MS = 1_796_444_220_000  # 2026-12-05 04:17 UTC
ALLOWED_TYPES = ["m5d.xlarge", "r5d.xlarge"]
MAX_WORKERS = 3
DEFINITION = {
    "node_type_id": {"type": "allowlist", "values": ALLOWED_TYPES},
    "driver_node_type_id": {"type": "allowlist", "values": ALLOWED_TYPES},
    "num_workers": {"type": "range", "minValue": 1, "maxValue": MAX_WORKERS},
    "autoscale.max_workers": {"type": "forbidden"},
    "aws_attributes.availability": {"type": "fixed", "value": "ON_DEMAND"},
    "spark_version": {"type": "regex", "pattern": "1[45]\\.[0-9]+\\.x-scala2\\.12"},
    # Optional, as the compute policy reference's own example: a rule makes its attribute required.
    "autotermination_minutes": {"type": "unlimited", "defaultValue": 30, "isOptional": True},
}


def _create_policy(emulator: RunningWorkspace, name: str = "etl-jobs") -> str:
    return str(admin_post(emulator, "policies/clusters/create",
                     {"name": name, "definition": json.dumps(DEFINITION)})["policy_id"])


def _within(spec: dict[str, Any], policy_id: str) -> dict[str, Any]:
    """The seeded spec moved inside the policy: what an admin's migration of the job does."""
    aws = {**spec["aws_attributes"], "availability": "ON_DEMAND"}
    return {**spec, "policy_id": policy_id, "num_workers": 2, "aws_attributes": aws}


# ------------------------------------------------------------------ the emulator and the gateway


def test_the_gateway_fetches_a_policy_and_an_unknown_one_is_not_found(emulator: RunningWorkspace,
                                                                      gateway: DatabricksGateway) -> None:
    policy_id = _create_policy(emulator)
    got = gateway.get_cluster_policy(policy_id)
    assert got["policy_id"] == policy_id and got["name"] == "etl-jobs"
    assert json.loads(got["definition"]) == DEFINITION  # a JSON string, as Databricks sends it
    with pytest.raises(DatabricksNotFound, match="Can't find a cluster policy with id: 0000"):
        gateway.get_cluster_policy("0000")


def test_the_emulator_refuses_job_clusters_outside_their_policy(emulator: RunningWorkspace,
                                                                gateway: DatabricksGateway,
                                                                job_ids: list[int]) -> None:
    policy_id = _create_policy(emulator)
    job = gateway.get_job(job_ids[0])
    spec = find_cluster_spec(job["settings"], "main")
    assert spec is not None
    inside = _within(spec, policy_id)
    gateway.update_job(job_ids[0], {"job_clusters": [{"job_cluster_key": "main", "new_cluster": inside}]})

    refusals = {
        "node_type_id": ({"node_type_id": "c5d.2xlarge"},
                         'Validation failed for node_type_id, the value must be one of [m5d.xlarge, r5d.xlarge] '
                         '(is "c5d.2xlarge")'),
        "num_workers": ({"num_workers": 8}, 'Validation failed for num_workers, the value must be at most 3 (is "8")'),
        "availability": ({"aws_attributes": {**inside["aws_attributes"], "availability": "SPOT_WITH_FALLBACK"}},
                         "Validation failed for aws_attributes.availability, the value must be ON_DEMAND "
                         '(is "SPOT_WITH_FALLBACK")'),
        "autoscale": ({"autoscale": {"min_workers": 1, "max_workers": 3}},
                      "Validation failed for autoscale.max_workers, the value must not be present"),
        "spark_version": ({"spark_version": "13.3.x-scala2.12"},
                          "Validation failed for spark_version, the value must match the regular expression"),
    }
    for what, (change, message) in refusals.items():
        # An autoscaling cluster names no num_workers (the emulator refuses both, as Databricks does).
        bad = {**{k: v for k, v in inside.items() if k != "num_workers" or "autoscale" not in change}, **change}
        with pytest.raises(DatabricksRejected, match="Cluster validation error") as err:
            gateway.update_job(job_ids[0], {"job_clusters": [{"job_cluster_key": "main", "new_cluster": bad}]})
        assert "Cluster validation error: " in str(err.value) and message in str(err.value), what
    # Refused by create and reset too, and the job is left as it was.
    settings = {**job["settings"], "job_clusters": [{"job_cluster_key": "main",
                                                      "new_cluster": {**inside, "num_workers": 4}}]}
    with pytest.raises(DatabricksRejected, match="the value must be at most 3"):
        gateway.create_job(settings)
    with pytest.raises(DatabricksRejected, match="the value must be at most 3"):
        gateway._do("POST", "/api/2.2/jobs/reset", body={"job_id": job_ids[0], "new_settings": settings})
    with pytest.raises(DatabricksRejected, match="Can't find a cluster policy with id: NOPE"):
        gateway.update_job(job_ids[0], {"job_clusters": [{"job_cluster_key": "main",
                                                          "new_cluster": {**inside, "policy_id": "NOPE"}}]})
    assert find_cluster_spec(gateway.get_job(job_ids[0])["settings"], "main") == inside


# ------------------------------------------------------------------ the planner and auto-apply


@dataclasses.dataclass
class _Imported:
    pid: int
    job_id: int
    policy_id: str
    planner: Planner
    clock: FakeClock
    fetched: list[str]


def _import_under_a_policy(store: Store, secrets: SecretBox, emulator: RunningWorkspace,
                           gateway: DatabricksGateway, job_id: int) -> _Imported:
    policy_id = _create_policy(emulator)
    spec = find_cluster_spec(gateway.get_job(job_id)["settings"], "main")
    assert spec is not None
    gateway.update_job(job_id, {"job_clusters": [{"job_cluster_key": "main", "new_cluster": _within(spec, policy_id)}]})
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING).projects
    pid = int(imported.project.id or 0)
    update_settings(store, str(pid), {"auto_apply": True, "spot_allowed": True, "max_workers": 12})
    clock = FakeClock(START_MS)
    fetched: list[str] = []
    planner = Planner(store, load_catalog(),
                      lambda ws: CountingGateway(  # type: ignore[arg-type,return-value]
                          workspaces.gateway_for(store, secrets, ws), "get_cluster_policy", fetched),
                      clock=clock)
    return _Imported(pid, job_id, policy_id, planner, clock, fetched)


def _run(store: Store, project: Project, n: int) -> Run:
    return store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=n, start_ms=n * 86_400_000,
                              end_ms=n * 86_400_000 + 1_500_000, runtime_s=1500.0, outcome="succeeded",
                              config=config_from_spec(project.current_spec)))


def test_recommendations_stay_inside_the_policy_and_auto_apply_goes_through(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    it = _import_under_a_policy(store, secrets, emulator, gateway, job_ids[0])
    project = store.projects.get(it.pid)
    assert project.current_spec["policy_id"] == it.policy_id
    policy = ClusterPolicy.from_api(gateway.get_cluster_policy(it.policy_id))
    # Without the policy the space holds configurations Databricks would refuse (spot, other types,
    # more workers than the policy's maximum): the filter is what keeps auto-apply working.
    unfiltered = project_candidates(project, connected, load_catalog(), [])
    refused = [cfg for _, cfg in unfiltered if not policy.allows_config(cfg, project.current_spec, azure=False)]
    assert len(refused) > len(unfiltered) // 2
    assert any(cfg.num_workers > MAX_WORKERS for cfg in refused) and any(cfg.node_type_id not in ALLOWED_TYPES
                                                                        for cfg in refused)

    applied = 0
    for n in range(1, 4):
        rec = it.planner.after_run(_run(store, store.projects.get(it.pid), n))
        got = store.projects.get(it.pid)
        assert got.problem is None, got.problem
        assert rec is not None
        assert rec.config.node_type_id in ALLOWED_TYPES and rec.config.driver_node_type_id in ALLOWED_TYPES
        assert 1 <= rec.config.num_workers <= MAX_WORKERS and rec.config.autoscale_max == 0
        assert rec.config.availability == "ON_DEMAND"
        live = find_cluster_spec(gateway.get_job(it.job_id)["settings"], "main")
        assert live is not None and live["policy_id"] == it.policy_id and policy.allows_spec(live)
        if rec.state == "applied":  # accepted by the emulator's enforcement
            applied += 1
            assert (live["node_type_id"], live["num_workers"]) == (rec.config.node_type_id, rec.config.num_workers)
            # The run on the applied configuration has come in (the apply is confirmed by it).
            store.projects.update(dataclasses.replace(got, current_spec=live, pending_apply=None))
        it.clock.advance(60)
    assert applied >= 1
    # Fetched once: the later plans within POLICY_TTL_S used the planner's copy.
    assert it.fetched == [it.policy_id]
    it.clock.advance(POLICY_TTL_S)
    it.planner.after_run(_run(store, store.projects.get(it.pid), 9))
    assert it.fetched == [it.policy_id, it.policy_id]


def test_a_policy_that_cannot_be_fetched_is_the_projects_planning_problem(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    it = _import_under_a_policy(store, secrets, emulator, gateway, job_ids[0])
    # The policy the project's spec names is gone (deleted by an admin since the last collection).
    project = store.projects.get(it.pid)
    store.projects.update(dataclasses.replace(project, current_spec={**project.current_spec, "policy_id": "GONE"}))
    run = _run(store, store.projects.get(it.pid), 1)
    it.planner(run)  # the collector's call: kept, not raised

    got = store.projects.get(it.pid)
    assert got.problem is not None and (got.problem.step, got.problem.run_id) == ("plan", run.id)
    assert got.problem.message.startswith("DatabricksNotFound: ") and "cluster policy with id: GONE" in \
        got.problem.message
    assert store.recommendations.pending(it.pid) is None


def test_the_same_plan_without_the_policy_is_refused_by_the_workspace(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    """What Trimtab did before it read policies: planned in the whole space, and the apply failed."""
    from server import apply
    from server.plan.planner import plan_project

    it = _import_under_a_policy(store, secrets, emulator, gateway, job_ids[0])
    _run(store, store.projects.get(it.pid), 1)
    rec = plan_project(store, it.pid, load_catalog())  # no policy passed: the old behaviour
    assert rec is not None
    policy = ClusterPolicy.from_api(gateway.get_cluster_policy(it.policy_id))
    assert not policy.allows_config(rec.config, store.projects.get(it.pid).current_spec, azure=False)
    with pytest.raises(DatabricksRejected, match="Cluster validation error: Validation failed for "):
        apply.apply_recommendation(store, gateway, it.pid)
    live = find_cluster_spec(gateway.get_job(it.job_id)["settings"], "main")
    assert live == store.projects.get(it.pid).current_spec  # the job is left as it was
