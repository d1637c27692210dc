"""Cluster policies, pure: each rule type's meaning, the attributes judged, and candidates and driver
options kept inside the policy; the planner keeps the current configuration when the policy allows
nothing else, and says so (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Project, ProjectSettings, Run, Workspace
from server.errors import FailedPrecondition
from server.plan.candidates import Pricing, build_candidates, config_id_of
from server.plan.driver import driver_options, plan_driver
from server.plan.planner import plan_project
from server.plan.policy import ClusterPolicy, Rule, parse_rules
from server.spec import config_from_spec
from server.store import Store

SPEC = {
    "spark_version": "15.4.x-scala2.12",
    "node_type_id": "m5.2xlarge",
    "driver_node_type_id": "m5.2xlarge",
    "num_workers": 6,
    "policy_id": "E0000000000001",
    "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1},
    "custom_tags": {"team": "etl"},
}
PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")


def _policy(definition: dict[str, object], name: str = "etl-jobs") -> ClusterPolicy:
    return ClusterPolicy.from_api({"policy_id": "E0000000000001", "name": name,
                                   "definition": json.dumps(definition)})


# ------------------------------------------------------------------ rule types


@pytest.mark.parametrize(("rule", "allowed", "refused"), [
    ({"type": "fixed", "value": "ON_DEMAND"}, ["ON_DEMAND"], ["SPOT", "on_demand"]),
    ({"type": "fixed", "value": 4}, [4, 4.0, "4"], [5]),
    ({"type": "fixed", "value": True, "hidden": True}, [True, "true"], [False, 1]),
    ({"type": "forbidden"}, [], ["anything", 0]),
    ({"type": "allowlist", "values": ["m5.xlarge", "m5.2xlarge"]}, ["m5.xlarge", "m5.2xlarge"], ["m5.4xlarge", ""]),
    ({"type": "blocklist", "values": ["p3.2xlarge"]}, ["m5.xlarge"], ["p3.2xlarge"]),
    # Anchored at both ends, as Databricks matches it.
    ({"type": "regex", "pattern": "m5\\.[0-9]?x?large"}, ["m5.xlarge", "m5.2xlarge", "m5.large"],
     ["m5.xlarge2", "am5.xlarge", "r5.xlarge"]),
    ({"type": "range", "minValue": 1, "maxValue": 10}, [1, 10, 5.5], [0, 11, "many"]),
    ({"type": "range", "maxValue": 20}, [-3, 0, 20], [21]),
    ({"type": "range", "minValue": 2, "defaultValue": 4}, [2, 1000], [1]),
    ({"type": "unlimited", "defaultValue": "x"}, ["anything", 7], []),
])
def test_each_rule_type_allows_and_refuses_what_databricks_does(rule: dict[str, object], allowed: list[object],
                                                                refused: list[object]) -> None:
    parsed = parse_rules({"node_type_id": rule})["node_type_id"]
    assert [v for v in allowed if parsed.allows(v)] == allowed
    assert [v for v in refused if not parsed.allows(v)] == refused


def test_attributes_trimtab_never_writes_and_unknown_rule_types_are_ignored() -> None:
    rules = parse_rules({
        "node_type_id": {"type": "allowlist", "values": ["m5.xlarge"]},
        "autotermination_minutes": {"type": "fixed", "value": 0},      # not written by a recommendation
        "dbus_per_hour": {"type": "range", "maxValue": 1},              # judged (tests/plan/test_policy_dbus.py)
        "cluster_type": {"type": "fixed", "value": "job"},              # a virtual attribute Trimtab never changes
        "spark_version": {"type": "someday_new_type", "values": []},  # a rule type Trimtab does not know
        "num_workers": "not a rule",
    })
    assert rules == {"node_type_id": Rule(type="allowlist", values=("m5.xlarge",)),
                     "dbus_per_hour": Rule(type="range", max_value=1.0)}


def test_a_definition_that_is_not_json_fails_clearly() -> None:
    with pytest.raises(FailedPrecondition, match="cluster policy P1: its definition is not JSON"):
        ClusterPolicy.from_api({"policy_id": "P1", "definition": "{nope"})
    with pytest.raises(FailedPrecondition, match="not a JSON object"):
        ClusterPolicy.from_api({"policy_id": "P1", "definition": "[1]"})
    assert ClusterPolicy.from_api({"policy_id": "P1"}).rules == {}


def test_a_config_is_judged_on_the_spec_applying_it_writes() -> None:
    policy = _policy({
        "node_type_id": {"type": "allowlist", "values": ["m5.xlarge", "m5.2xlarge"]},
        # Optional: a fixed-size cluster may leave autoscale out and an autoscaling one num_workers.
        "num_workers": {"type": "range", "minValue": 1, "maxValue": 8, "isOptional": True},
        "autoscale.max_workers": {"type": "range", "maxValue": 10, "isOptional": True},
        "aws_attributes.availability": {"type": "fixed", "value": "ON_DEMAND"},
        "custom_tags.team": {"type": "fixed", "value": "finance"},  # the user's field: not judged
    })
    ok = ClusterConfig(node_type_id="m5.xlarge", driver_node_type_id="m5.xlarge", num_workers=8,
                       availability="ON_DEMAND", first_on_demand=1)
    assert policy.allows_config(ok, SPEC, azure=False)
    assert policy.violations({"node_type_id": "r5.xlarge", "num_workers": 9}) == ["node_type_id", "num_workers"]
    for refused in (ClusterConfig(node_type_id="r5.xlarge", num_workers=4, availability="ON_DEMAND"),
                    ClusterConfig(node_type_id="m5.xlarge", num_workers=9, availability="ON_DEMAND"),
                    ClusterConfig(node_type_id="m5.xlarge", num_workers=4, availability="SPOT_WITH_FALLBACK"),
                    ClusterConfig(node_type_id="m5.xlarge", autoscale_min=2, autoscale_max=12,
                                  availability="ON_DEMAND")):
        assert not policy.allows_config(refused, SPEC, azure=False), refused
    # Autoscaling drops num_workers from the spec: its range no longer applies, max_workers' does.
    assert policy.allows_config(ClusterConfig(node_type_id="m5.xlarge", autoscale_min=5, autoscale_max=10,
                                              availability="ON_DEMAND"), SPEC, azure=False)
    # Azure's availability is written under azure_attributes, with Azure's names.
    azure = _policy({"azure_attributes.availability": {"type": "fixed", "value": "ON_DEMAND_AZURE"}})
    assert azure.allows_config(ClusterConfig(node_type_id="Standard_D4s_v5", num_workers=2,
                                             availability="ON_DEMAND"), {}, azure=True)
    assert not azure.allows_config(ClusterConfig(node_type_id="Standard_D4s_v5", num_workers=2,
                                                 availability="SPOT_WITH_FALLBACK"), {}, azure=True)


def test_the_gp3_performance_a_storage_advice_writes_is_judged_by_the_policy() -> None:
    # The advice writes gp3's IOPS and throughput (server.spec.ebs_overlay): a rule capping them
    # must keep such a configuration out, as Databricks would refuse its spec.
    policy = _policy({"aws_attributes.ebs_volume_iops": {"type": "range", "maxValue": 3000, "isOptional": True},
                      "aws_attributes.ebs_volume_throughput": {"type": "range", "maxValue": 125, "isOptional": True}})
    gp3 = ClusterConfig(node_type_id="m5.xlarge", num_workers=4, availability="ON_DEMAND", first_on_demand=1,
                        ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_count=1, ebs_volume_size_gb=200,
                        spec={"aws_attributes": {"ebs_volume_iops": 3000, "ebs_volume_throughput": 125}})
    assert policy.allows_config(gp3, SPEC, azure=False)
    faster = dataclasses.replace(gp3, spec={"aws_attributes": {"ebs_volume_iops": 6000, "ebs_volume_throughput": 125}})
    assert not policy.allows_config(faster, SPEC, azure=False)
    assert policy.narrowing([faster], SPEC, azure=False) == ["caps aws_attributes.ebs_volume_iops at 3000"]


# ------------------------------------------------------------------ candidates and driver options


def test_candidates_stay_inside_the_policy_and_the_refused_ones_the_job_ran_on_are_observed_only() -> None:
    catalog = load_catalog()
    current = config_from_spec({**SPEC, "node_type_id": "r5.2xlarge", "driver_node_type_id": "r5.2xlarge"})
    tried = ClusterConfig(node_type_id="c5.4xlarge", driver_node_type_id="r5.2xlarge", num_workers=3,
                          availability="ON_DEMAND")
    settings = ProjectSettings(spot_allowed=True, allowed_families=("m5", "r5", "c5"))
    unfiltered = build_candidates(current, settings, catalog, PRICING, tried=[tried])
    policy = _policy({"node_type_id": {"type": "allowlist", "values": ["m5.xlarge", "m5.2xlarge"]},
                      "num_workers": {"type": "range", "maxValue": 8},
                      "aws_attributes.availability": {"type": "fixed", "value": "ON_DEMAND"}})
    pairs = build_candidates(current, settings, catalog, PRICING, tried=[tried], policy=policy)

    assert len(unfiltered) > 4 * len(pairs) and any(c.spot for c, _ in unfiltered)
    ids = {c.config_id for c, _ in pairs}
    current_id = config_id_of(current)
    inside = {c.config_id for c, cfg in pairs if policy.allows_config(cfg, current.spec, azure=False)}
    # The configurations the job ran on stay, observed only (their runs teach the model); the current
    # one stays a candidate until Databricks refuses it (a run failed the policy's validation at
    # start). Every other one is inside.
    assert ids - inside == {current_id, config_id_of(tried)}
    assert {c.config_id for c, _ in pairs if not c.allowed} == {config_id_of(tried)}
    assert {c.instance_type for c, _ in pairs if c.allowed} == {"m5.xlarge", "m5.2xlarge", "r5.2xlarge"}
    assert max(c.nodes for c, _ in pairs if c.allowed and c.config_id != current_id) == 8
    assert not any(c.spot for c, _ in pairs)
    refused = build_candidates(current, settings, catalog, PRICING, tried=[tried], policy=policy,
                               current_refused=True)
    assert {c.config_id for c, _ in refused if not c.allowed} == {current_id, config_id_of(tried)}


def test_driver_options_leave_out_the_driver_types_the_policy_refuses() -> None:
    catalog = load_catalog()
    like = config_from_spec(SPEC)
    policy = _policy({"driver_node_type_id": {"type": "blocklist", "values": ["m5.4xlarge", "m5.8xlarge"]},
                      "node_type_id": {"type": "allowlist", "values": ["m5.2xlarge"]}})  # the workers' rule
    every = {o.node_type for o in driver_options(catalog, "aws", ["m5"], like, region="us-east-1",
                                                 plan="premium", sku="jobs")}
    kept = {o.node_type for o in driver_options(catalog, "aws", ["m5"], like, region="us-east-1",
                                                plan="premium", sku="jobs", policy=policy)}
    assert {"m5.4xlarge", "m5.8xlarge", "m5.xlarge"} <= every
    assert kept == every - {"m5.4xlarge", "m5.8xlarge"}


def test_a_refused_current_driver_is_replaced_by_the_cheapest_allowed_one_at_least_as_big() -> None:
    catalog = load_catalog()
    like = config_from_spec(SPEC)  # driver m5.2xlarge, 32 GiB
    policy = _policy({"driver_node_type_id": {"type": "allowlist", "values": ["m5.xlarge", "m5.4xlarge",
                                                                               "m5.8xlarge"]}})
    options = driver_options(catalog, "aws", ["m5"], like, region="us-east-1", plan="premium", sku="jobs",
                             policy=policy)
    # The refused current driver stays among the options: its size is what a replacement must hold.
    assert {o.node_type for o in options} == {"m5.xlarge", "m5.2xlarge", "m5.4xlarge", "m5.8xlarge"}
    choice = plan_driver(ProjectSettings(), like, [], options, policy=policy)
    assert choice is not None and choice.changed and choice.option.node_type == "m5.4xlarge"
    assert choice.reason == ('driver m5.2xlarge -> m5.4xlarge (64 GiB): the cluster policy "etl-jobs" '
                             "(E0000000000001) does not allow m5.2xlarge as the driver")
    # Only smaller types allowed: the biggest of them. The user's own driver setting is left alone.
    small = _policy({"driver_node_type_id": {"type": "allowlist", "values": ["m5.large", "m5.xlarge"]}})
    small_options = driver_options(catalog, "aws", ["m5"], like, region="us-east-1", plan="premium", sku="jobs",
                                   policy=small)
    choice = plan_driver(ProjectSettings(), like, [], small_options, policy=small)
    assert choice is not None and choice.option.node_type == "m5.xlarge"
    assert plan_driver(ProjectSettings(driver_node_type_id="m5.2xlarge"), like, [], options, policy=policy) is None
    # Allowed, the current driver is sized by the evidence as before: kept without enough runs.
    assert not plan_driver(ProjectSettings(), like, [], options).changed  # type: ignore[union-attr]


# ------------------------------------------------------------------ the planner with a policy


@pytest.fixture
def store(any_store: Store) -> Store:
    """Both engines (the folder's `store` is SQLite only), with workspace "ws"."""
    any_store.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws", plan="premium"), "enc")
    return any_store


def _project_with_runs(store: Store, runs: int = 2) -> int:
    project = store.projects.add(Project(
        workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC, original_spec=SPEC,
        settings=ProjectSettings(sla_seconds=3000.0, auto_apply=True, learning_budget=4)))
    pid = int(project.id or 0)
    for n in range(1, runs + 1):
        store.runs.add(Run(project_id=pid, databricks_run_id=n, start_ms=n * 86_400_000,
                           end_ms=n * 86_400_000 + 1_500_000, runtime_s=1500.0, outcome="succeeded",
                           config=config_from_spec(SPEC)))
    return pid


def test_the_plan_stays_inside_the_policy(store: Store) -> None:
    pid = _project_with_runs(store)
    definition = {"node_type_id": {"type": "allowlist", "values": ["m5.xlarge", "m5.2xlarge"]},
                  "num_workers": {"type": "range", "minValue": 2, "maxValue": 8}}
    policy = {"policy_id": "E0000000000001", "name": "etl-jobs", "definition": json.dumps(definition)}
    for _ in range(3):  # learning runs pick different configurations: each inside the policy
        rec = plan_project(store, pid, load_catalog(), policy=policy)
        assert rec is not None
        assert rec.config.node_type_id in {"m5.xlarge", "m5.2xlarge"} and 2 <= rec.config.num_workers <= 8
        assert "allows no other configuration" not in rec.reason
        assert rec.reason.endswith('; kept inside the cluster policy "etl-jobs" (E0000000000001): it allows '
                                   "node_type_id only in [m5.xlarge, m5.2xlarge], keeps num_workers between 2 and 8")


def test_a_policy_that_allows_nothing_else_keeps_the_current_configuration_and_says_so(store: Store) -> None:
    pid = _project_with_runs(store)
    definition = {"node_type_id": {"type": "allowlist", "values": ["m5.2xlarge"]},
                  "num_workers": {"type": "fixed", "value": 6},
                  "aws_attributes.availability": {"type": "fixed", "value": "ON_DEMAND"}}
    rec = plan_project(store, pid, load_catalog(),
                       policy={"policy_id": "E0000000000001", "name": "etl-jobs", "definition": json.dumps(definition)})
    assert rec is not None and config_id_of(rec.config) == "m5.2xlargex6"
    # The rules that held the plan are named, in the definition's path order.
    assert rec.reason.endswith('; the cluster policy "etl-jobs" (E0000000000001) allows no other configuration '
                               "within the project's bounds (fixes aws_attributes.availability at ON_DEMAND; "
                               "allows node_type_id only in [m5.2xlarge]; fixes num_workers at 6), so the current "
                               "one is kept")


def test_a_policy_that_refuses_the_current_driver_gets_a_plan_inside_it(store: Store) -> None:
    pid = _project_with_runs(store)
    definition = {"driver_node_type_id": {"type": "allowlist", "values": ["m5.4xlarge", "r5.2xlarge"]},
                  "node_type_id": {"type": "allowlist", "values": ["m5.xlarge", "m5.2xlarge"]}}
    rec = plan_project(store, pid, load_catalog(),
                       policy={"policy_id": "E0000000000001", "name": "etl-jobs", "definition": json.dumps(definition)})
    assert rec is not None and rec.config.driver_node_type_id in {"m5.4xlarge", "r5.2xlarge"}
    assert rec.config.node_type_id in {"m5.xlarge", "m5.2xlarge"}
    assert "does not allow m5.2xlarge as the driver" in rec.reason
    assert "allows no other configuration" not in rec.reason
