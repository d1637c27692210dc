"""A cluster policy that fixes (or defaults) the availability of a spec that leaves it unset, on SQLite and
PostgreSQL through the workspace emulator: Databricks creates the cluster with the policy's value (fixed
always; ``defaultValue`` when the spec sets ``apply_policy_default_values``), not its backend default
SPOT_WITH_FALLBACK. The emulator runs it so and its cluster record says so; the collector records and
prices it so; the planner prices the cluster the job runs on as on demand, never recommends the spot the
policy refuses, and auto-apply takes the unchanged cluster for the same one (nothing written)."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pytest

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import LOG_CONF, SPARK_VERSION
from server.apply import apply_recommendation, revert
from server.costing.catalog import load_catalog
from server.costing.run_cost import hourly_cost
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Project, Run
from server.plan.candidates import REJECTED_KEY, config_id_of, pricing_for, project_candidates
from server.plan.planner import Planner, plan_project
from server.plan.policy import POLICY_FILLS_KEY, ClusterPolicy
from server.services import workspaces
from server.services.projects import summarize, update_settings
from server.services.savings import as_found
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import admin_post, etl_job, import_etl_job, priced_as, run_and_collect

NODE = "m5d.xlarge"
# No aws_attributes at all: the policy decides the availability.
UNSET = {"spark_version": SPARK_VERSION, "node_type_id": NODE, "driver_node_type_id": NODE, "num_workers": 4,
         "cluster_log_conf": LOG_CONF}
FIXED_ON_DEMAND = {
    "aws_attributes.availability": {"type": "fixed", "value": "ON_DEMAND"},
    # The plan is held to one node type and one size, so its only choice is the availability.
    "node_type_id": {"type": "allowlist", "values": [NODE]},
    "driver_node_type_id": {"type": "allowlist", "values": [NODE]},
    "num_workers": {"type": "fixed", "value": 4},
}
ON_DEMAND = ClusterConfig(node_type_id=NODE, driver_node_type_id=NODE, num_workers=4, availability="ON_DEMAND",
                          first_on_demand=1)


def _policy(emulator: RunningWorkspace, definition: dict[str, Any], name: str = "etl-jobs") -> str:
    return str(admin_post(emulator, "policies/clusters/create",
                          {"name": name, "definition": json.dumps(definition)})["policy_id"])


class UnderPolicy(NamedTuple):
    policy_id: str
    project: Project
    run: Run


@pytest.fixture
def under_policy(store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
                 aws_workspace: str) -> UnderPolicy:
    """A job on UNSET under the policy FIXED_ON_DEMAND, imported, run once and collected (priced)."""
    policy_id = _policy(emulator, FIXED_ON_DEMAND)
    project = import_etl_job(store, secrets, gateway, {**UNSET, "policy_id": policy_id})
    _, (run,) = run_and_collect(store, secrets, emulator, gateway, project.job_id)
    return UnderPolicy(policy_id, project, run)


def test_the_emulator_creates_the_cluster_with_the_policys_fixed_availability_and_asked_for_default(
        emulator: RunningWorkspace, gateway: DatabricksGateway) -> None:
    fixed = _policy(emulator, {"aws_attributes.availability": {"type": "fixed", "value": "ON_DEMAND"}})
    defaults = _policy(emulator, {
        "aws_attributes.availability": {"type": "allowlist", "values": ["SPOT_WITH_FALLBACK", "ON_DEMAND"],
                                        "defaultValue": "SPOT_WITH_FALLBACK", "isOptional": True},
        "aws_attributes.first_on_demand": {"type": "range", "maxValue": 10, "defaultValue": 3,
                                           "isOptional": True}}, name="defaults")
    cases = [({**UNSET, "policy_id": fixed}, {"availability": "ON_DEMAND"}),
             ({**UNSET, "policy_id": defaults, "apply_policy_default_values": True},
              {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 3}),
             # Without apply_policy_default_values only fixed values are applied (the Clusters API).
             ({**UNSET, "policy_id": defaults}, {})]
    for spec, filled in cases:
        job_id = gateway.create_job(etl_job(spec))
        run_id = gateway.run_now(job_id)
        assert emulator.wait_idle(60)
        cluster_id = gateway.get_run(run_id)["tasks"][0]["cluster_instance"]["cluster_id"]
        record = gateway.get_cluster(cluster_id)
        assert {k: v for k, v in (record.get("aws_attributes") or {}).items() if k in filled} == filled
        # The record's spec is the user's settings, as they were sent: without the policy's values.
        assert "aws_attributes" not in record["spec"]
        # The nodes it ran: workers on spot only where the availability says so (past first_on_demand).
        spot = [bool((n.get("node_aws_attributes") or {}).get("is_spot"))
                for n in [record["driver"], *record.get("executors", [])]]
        on_demand = {"ON_DEMAND": 5}.get(str(filled.get("availability")), int(filled.get("first_on_demand", 1)))
        assert spot == [i >= on_demand for i in range(5)], spot  # the driver and 4 workers


def test_a_run_under_a_policy_fixing_on_demand_is_recorded_and_planned_on_demand(
        store: Store, gateway: DatabricksGateway, under_policy: UnderPolicy) -> None:
    policy_id, project, run = under_policy
    pid = int(project.id or 0)
    catalog = load_catalog()
    # The cluster ran on demand (the policy's value), and is recorded and priced so.
    assert run.config is not None and run.config.availability == "ON_DEMAND"
    assert config_id_of(run.config) == f"{NODE}x4"
    assert run.cost is not None
    assert run.cost.total == pytest.approx(priced_as(gateway, store, run, {"availability": "ON_DEMAND"}), rel=0.01)

    # The planner prices the cluster the job runs on as it runs: every node on demand.
    project = store.projects.get(pid)
    workspace = store.workspaces.get("sbx")
    policy = ClusterPolicy.from_api(gateway.get_cluster_policy(policy_id))
    pricing = pricing_for(workspace, project.current_spec)
    pairs = {c.config_id: c for c, _ in project_candidates(project, workspace, catalog, [run], policy=policy)}
    assert f"{NODE}x4-spot" not in pairs
    running = pairs[f"{NODE}x4"]
    assert not running.spot and running.allowed
    assert running.price_per_hour == pytest.approx(
        hourly_cost(ON_DEMAND, pricing.cloud, pricing.region, pricing.plan, pricing.sku, catalog), rel=0.01)


def test_auto_apply_takes_the_unchanged_cluster_under_a_policy_fixing_on_demand_for_the_same_one(
        store: Store, secrets: SecretBox, gateway: DatabricksGateway, under_policy: UnderPolicy) -> None:
    policy_id, project, _ = under_policy
    pid = int(project.id or 0)
    policy = ClusterPolicy.from_api(gateway.get_cluster_policy(policy_id))
    # With auto-apply on, the plan is the cluster the job runs on (the policy holds its type and size):
    # on demand, inside the policy, and auto-apply takes it for the same cluster (nothing is written).
    update_settings(store, str(pid), {"auto_apply": True, "spot_allowed": True})
    before = find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")
    planner = Planner(store, load_catalog(), lambda w: workspaces.gateway_for(store, secrets, w))
    rec = planner.after_run(store.runs.history(pid)[-1])
    assert rec is not None
    assert rec.config.availability == "ON_DEMAND" and config_id_of(rec.config) == f"{NODE}x4"
    assert policy.allows_config(rec.config, project.current_spec, azure=False)
    assert find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main") == before
    assert not store.projects.get(pid).pending_apply


def test_a_revert_to_the_same_cluster_under_the_policy_does_not_turn_the_cluster_down(
        store: Store, gateway: DatabricksGateway, under_policy: UnderPolicy) -> None:
    policy_id, project, _ = under_policy
    pid = int(project.id or 0)
    # The plan (the policy holds the type and size) is the cluster the job runs on; applied by hand, it
    # writes the availability out (and the tag), which changes nothing that runs.
    rec = plan_project(store, pid, load_catalog(), policy=gateway.get_cluster_policy(policy_id))
    assert rec is not None and config_id_of(rec.config) == f"{NODE}x4"
    assert apply_recommendation(store, gateway, pid).applied
    assert revert(store, gateway, pid).applied
    # A revert turns the recommendation down unless it is the very cluster the revert goes back to:
    # read as spot, the job's own on-demand cluster was banned from the next plans.
    assert f"{NODE}x4" not in (store.projects.get(pid).state.get(REJECTED_KEY) or [])


def test_import_keeps_what_the_policy_fills_in_before_any_plan(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        aws_workspace: str) -> None:
    # Before, only the planner kept it (after the first collected run): an imported (and backfilled)
    # job under a policy fixing ON_DEMAND read as spot on its page, and its backfilled runs, recorded on
    # demand from their clusters, were another cluster than as found (no savings baseline).
    project = import_etl_job(store, secrets, gateway, {**UNSET, "policy_id": _policy(emulator, FIXED_ON_DEMAND)})
    project = store.projects.get(int(project.id or 0))
    assert project.state[POLICY_FILLS_KEY]["fixed"] == {"aws_attributes.availability": "ON_DEMAND", "num_workers": 4}
    summary = summarize(store, project)
    assert summary.current_config is not None and summary.current_config.availability == "ON_DEMAND"
    assert as_found(project, [], "aws")(ON_DEMAND)
    # A job without a policy keeps no copy (one read less, nothing to fill).
    plain = import_etl_job(store, secrets, gateway, UNSET)
    assert POLICY_FILLS_KEY not in store.projects.get(int(plain.id or 0)).state
