"""A cluster policy decides the availability (and ``first_on_demand``) of a spec that leaves it unset:
Databricks fills in the policy's fixed value, and its ``defaultValue`` when the spec sets
``apply_policy_default_values``, before its own backend default (SPOT_WITH_FALLBACK on AWS). One rule reads
it (`server.spec.unset_attributes`): the planner's price of the cluster the job runs on, its
recommendations (never a spot the policy refuses), and the savings baseline as found (an unchanged job
saves ~0). The store tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from server.costing.catalog import load_catalog
from server.costing.run_cost import hourly_cost
from server.domain import (
    ClusterConfig,
    CostBreakdown,
    Project,
    ProjectSettings,
    Recommendation,
    Run,
    Workspace,
)
from server.plan.candidates import config_id_of, pricing_for, project_candidates
from server.plan.planner import plan_project
from server.plan.policy import POLICY_FILLS_KEY, ClusterPolicy, filled_into
from server.services.savings import stored_project_savings
from server.spec import config_from_spec, unset_attributes
from server.store import Store

POLICY_ID = "E0000000000001"
NODE = "m5.xlarge"
# The job's spec: no aws_attributes, under the policy.
SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": NODE, "driver_node_type_id": NODE, "num_workers": 4,
        "policy_id": POLICY_ID}
FIXED_ON_DEMAND = {"aws_attributes.availability": {"type": "fixed", "value": "ON_DEMAND"}}
# What the collector records of a run of it: the cluster record's availability, which Databricks filled in.
RAN = config_from_spec({**SPEC, "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}})
DAY_MS = 86_400_000


def _policy(definition: dict[str, object]) -> dict[str, str]:
    return {"policy_id": POLICY_ID, "name": "etl", "definition": json.dumps(definition)}


def _read(spec: dict[str, object], definition: dict[str, object], cloud: str = "aws") -> ClusterConfig:
    policy = ClusterPolicy.from_api(_policy(definition))
    return config_from_spec(spec, cloud=cloud, policy_values=filled_into(policy, spec))


# ------------------------------------------------------------------ the one rule (pure)


def test_an_unset_availability_is_the_policys_fixed_value_before_the_clouds_default() -> None:
    assert unset_attributes(SPEC, "aws") == {"availability": "SPOT_WITH_FALLBACK"}
    config = _read(SPEC, FIXED_ON_DEMAND)
    assert (config.availability, config.first_on_demand, config_id_of(config)) == ("ON_DEMAND", 1, f"{NODE}x4")
    # The spec's own value wins (Databricks would refuse it under the fixed rule, but it is what it says).
    own = {**SPEC, "aws_attributes": {"availability": "SPOT"}}
    assert _read(own, FIXED_ON_DEMAND).availability == "SPOT"
    # A spec under another policy (or none) is not filled in by this one.
    assert _read({**SPEC, "policy_id": "E0000000000002"}, FIXED_ON_DEMAND).availability == "SPOT_WITH_FALLBACK"
    # Azure: the policy's names are Azure's; read as the planner names them.
    azure = _read({k: v for k, v in SPEC.items() if k not in ("node_type_id", "driver_node_type_id")},
                  {"azure_attributes.availability": {"type": "fixed", "value": "SPOT_WITH_FALLBACK_AZURE"}}, "azure")
    assert (azure.availability, azure.first_on_demand) == ("SPOT_WITH_FALLBACK", 1)


def test_a_default_value_is_read_only_when_the_spec_asks_for_defaults_and_first_on_demand_too() -> None:
    definition = {
        "aws_attributes.availability": {"type": "allowlist", "values": ["SPOT_WITH_FALLBACK", "ON_DEMAND"],
                                        "defaultValue": "ON_DEMAND", "isOptional": True},
        "aws_attributes.first_on_demand": {"type": "range", "maxValue": 10, "defaultValue": 3, "isOptional": True}}
    asked = _read({**SPEC, "apply_policy_default_values": True}, definition)
    assert (asked.availability, asked.first_on_demand) == ("ON_DEMAND", 3)
    # Without apply_policy_default_values Databricks applies only fixed values: its own default stands.
    unasked = _read(SPEC, definition)
    assert (unasked.availability, unasked.first_on_demand) == ("SPOT_WITH_FALLBACK", 1)
    # A first_on_demand the policy fixes, under the cloud's default availability.
    fixed = _read(SPEC, {"aws_attributes.first_on_demand": {"type": "fixed", "value": 3}})
    assert (fixed.availability, fixed.first_on_demand, config_id_of(fixed)) == \
        ("SPOT_WITH_FALLBACK", 3, f"{NODE}x4-spot-2od")


def test_over_an_instance_pool_the_pool_decides_not_the_policy() -> None:
    pooled = {k: v for k, v in SPEC.items() if k not in ("node_type_id", "driver_node_type_id")}
    pooled["instance_pool_id"] = "pool-1"
    pools = {"pool-1": {"node_type_id": NODE, "aws_attributes": {"availability": "SPOT"}}}
    policy = ClusterPolicy.from_api(_policy(FIXED_ON_DEMAND))
    config = config_from_spec(pooled, pools, cloud="aws", policy_values=filled_into(policy, pooled))
    assert config.availability == "SPOT"


# ------------------------------------------------------------------ the planner and the savings (store)


@pytest.fixture
def store(any_store: Store) -> Store:
    any_store.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws", plan="premium"), "enc")
    return any_store


def _project(store: Store, runs: int = 3, **settings: object) -> int:
    project = store.projects.add(Project(
        workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC, original_spec=SPEC,
        settings=ProjectSettings(sla_seconds=3000.0, spot_allowed=True, **settings)))  # type: ignore[arg-type]
    pid = int(project.id or 0)
    for n in range(1, runs + 1):  # before the import (a backfill): the cluster as found
        store.runs.add(Run(project_id=pid, databricks_run_id=n, start_ms=n * DAY_MS, end_ms=n * DAY_MS + 1_500_000,
                           runtime_s=1500.0, outcome="succeeded", config=RAN, cost=CostBreakdown(total=10.0)))
    return pid


def test_the_planner_prices_the_cluster_the_job_runs_on_as_the_policy_runs_it(store: Store) -> None:
    pid = _project(store)
    catalog = load_catalog()
    project, workspace = store.projects.get(pid), store.workspaces.get("ws")
    policy = ClusterPolicy.from_api(_policy(FIXED_ON_DEMAND))
    pairs = {c.config_id: c for c, _ in project_candidates(project, workspace, catalog, store.runs.history(pid),
                                                            policy=policy)}
    # Read as spot, the job's own cluster was a spot candidate kept without judging (the job runs on
    # it), priced ~40% under what it costs, and recommendable though the policy refuses it.
    assert f"{NODE}x4-spot" not in pairs
    running = pairs[f"{NODE}x4"]
    pricing = pricing_for(workspace, SPEC)
    assert not running.spot and running.allowed
    assert running.price_per_hour == pytest.approx(
        hourly_cost(RAN, pricing.cloud, pricing.region, pricing.plan, pricing.sku, catalog), rel=0.01)
    assert all(not c.spot for c in pairs.values())


def test_a_recommendation_never_writes_an_availability_the_policy_refuses(store: Store) -> None:
    pid = _project(store, learning_budget=4)
    policy = _policy({**FIXED_ON_DEMAND, "node_type_id": {"type": "allowlist", "values": [NODE]},
                      "driver_node_type_id": {"type": "allowlist", "values": [NODE]},
                      "num_workers": {"type": "range", "minValue": 3, "maxValue": 5}})
    judge = ClusterPolicy.from_api(policy)
    for n in range(4):  # learning picks differ from plan to plan: each is inside the policy
        rec = plan_project(store, pid, load_catalog(), policy=policy)
        assert rec is not None
        assert rec.config.availability == "ON_DEMAND", rec.reason
        assert judge.allows_config(rec.config, SPEC, azure=False)
        store.runs.add(Run(project_id=pid, databricks_run_id=100 + n, start_ms=(100 + n) * DAY_MS,
                           end_ms=(100 + n) * DAY_MS + 1_500_000, runtime_s=1500.0, outcome="succeeded",
                           config=RAN, cost=CostBreakdown(total=10.0)))
    # What the savings and a revert read the spec through: the planner's copy of the policy's fills.
    assert store.projects.get(pid).state[POLICY_FILLS_KEY] == {
        "policy_id": POLICY_ID, "fixed": {"aws_attributes.availability": "ON_DEMAND"}, "defaults": {}}


def test_an_unchanged_job_under_the_policy_saves_about_nothing(store: Store) -> None:
    pid = _project(store)
    rec = plan_project(store, pid, load_catalog(), policy=_policy(FIXED_ON_DEMAND))
    assert rec is not None
    # Trimtab's runs: the very cluster as found (a recommendation of it), costing the same.
    kept = store.recommendations.add(Recommendation(project_id=pid, config=RAN, reason="test"))
    for n in range(10, 13):
        store.runs.add(Run(project_id=pid, databricks_run_id=n, start_ms=n * DAY_MS, end_ms=n * DAY_MS + 1_500_000,
                           runtime_s=1500.0, outcome="succeeded", config=RAN, cost=CostBreakdown(total=10.0),
                           recommendation_id=kept.id))
    savings = stored_project_savings(store, store.projects.get(pid))
    # Read as spot, the spec as found was another cluster than its own runs: no baseline at all.
    assert savings is not None and savings.other_config_runs == 0
    assert savings.baseline_runs == 3 and savings.trimtab_runs == 3
    assert savings.current_cost_per_run == pytest.approx(savings.baseline_cost_per_run)
