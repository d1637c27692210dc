"""A cluster policy's `dbus_per_hour` cap and its required attributes and defaults, judged by the pure
`server.plan.policy` (with the DBU rates of the price catalog, `server.plan.candidates.dbu_rates`); the
candidates stay inside them and the recommendation's reason names the rule (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, Project, ProjectSettings, Run, Workspace
from server.plan.candidates import Pricing, build_candidates, config_id_of, dbu_rates
from server.plan.planner import plan_project
from server.plan.policy import ClusterPolicy, DbuRate, Rule, cluster_dbus_per_hour, parse_rules
from server.spec import config_from_spec
from server.store import Store

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
CATALOG = load_catalog()
RATES = dbu_rates(CATALOG, PRICING)  # m5.xlarge 0.69, m5.2xlarge 1.38, r5.xlarge 0.9 DBU/h
SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.2xlarge", "driver_node_type_id": "m5.2xlarge",
        "num_workers": 6, "policy_id": "P1", "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


def _policy(definition: dict[str, Any], rates: DbuRate | None = RATES) -> ClusterPolicy:
    return ClusterPolicy.from_api({"policy_id": "P1", "name": "capped", "definition": json.dumps(definition)},
                                  dbu_rate=rates)


def _fixed(node: str, workers: int, driver: str = "") -> ClusterConfig:
    return ClusterConfig(node_type_id=node, driver_node_type_id=driver or node, num_workers=workers,
                         availability="ON_DEMAND", first_on_demand=1)


def _autoscale(node: str, low: int, high: int) -> ClusterConfig:
    return ClusterConfig(node_type_id=node, driver_node_type_id=node, autoscale_min=low, autoscale_max=high,
                         availability="ON_DEMAND", first_on_demand=1)


# ------------------------------------------------------------------ dbus_per_hour


def test_dbus_per_hour_is_the_driver_plus_every_worker_at_the_skus_rate() -> None:
    assert cluster_dbus_per_hour({"node_type_id": "m5.xlarge", "num_workers": 4}, RATES) == pytest.approx(5 * 0.69)
    # The driver on its own type; an autoscaling cluster counted with all its max_workers up.
    assert cluster_dbus_per_hour({"node_type_id": "m5.xlarge", "driver_node_type_id": "r5.xlarge",
                                  "autoscale.min_workers": 1, "autoscale.max_workers": 8},
                                 RATES) == pytest.approx(0.9 + 8 * 0.69)
    # Photon burns its SKU's multiple of the node's DBUs, and the cap counts them as the bill does.
    photon = dbu_rates(CATALOG, Pricing(cloud="aws", region="us-east-1", plan="premium", sku="jobs_photon"))
    assert photon("m5.xlarge") == pytest.approx(0.69 * CATALOG.dbu_multiplier("aws", "jobs_photon"))
    assert RATES("m5.mega") is None  # a type the catalog does not know
    assert cluster_dbus_per_hour({"node_type_id": "m5.mega", "num_workers": 2}, RATES) == \
        "the DBUs per hour of m5.mega are not known"


def test_a_dbus_per_hour_cap_refuses_configurations_over_it_and_says_which_rule() -> None:
    policy = _policy({"dbus_per_hour": {"type": "range", "maxValue": 12}})
    assert policy.rules == {"dbus_per_hour": Rule(type="range", max_value=12.0)}
    assert policy.allows_config(_fixed("m5.2xlarge", 7), SPEC, azure=False)  # 8 x 1.38 = 11.04
    assert not policy.allows_config(_fixed("m5.2xlarge", 8), SPEC, azure=False)  # 12.42
    assert policy.config_refusals(_fixed("m5.2xlarge", 8), SPEC, azure=False) == {
        "dbus_per_hour": "caps dbus_per_hour at 12 (this configuration: 12.42)"}
    # Autoscaling: judged at max_workers, whatever the minimum.
    assert not policy.allows_config(_autoscale("m5.2xlarge", 1, 8), SPEC, azure=False)
    assert policy.allows_config(_autoscale("m5.2xlarge", 1, 7), SPEC, azure=False)
    # A bigger driver counts: 1 x 2.76 + 6 x 1.38 = 11.04 passes, 7 workers (12.42) does not.
    assert policy.allows_config(_fixed("m5.2xlarge", 6, driver="m5.4xlarge"), SPEC, azure=False)
    assert not policy.allows_config(_fixed("m5.2xlarge", 7, driver="m5.4xlarge"), SPEC, azure=False)


def test_an_unknown_node_type_is_not_allowed_under_a_cap_and_without_rates_the_cap_is_not_judged() -> None:
    policy = _policy({"dbus_per_hour": {"type": "range", "maxValue": 100}})
    assert policy.config_refusals(_fixed("m5.mega", 1), SPEC, azure=False) == {
        "dbus_per_hour": "caps dbus_per_hour at 100 (the DBUs per hour of m5.mega are not known)"}
    blind = _policy({"dbus_per_hour": {"type": "range", "maxValue": 1}}, rates=None)
    assert blind.allows_config(_fixed("m5.2xlarge", 40), SPEC, azure=False)
    # The reference documents dbus_per_hour with range rules only: other types are not judged.
    assert parse_rules({"dbus_per_hour": {"type": "fixed", "value": 3}}) == {}


def test_a_pool_backed_cluster_is_capped_on_its_pools_node_types() -> None:
    pooled = {"spark_version": "15.4.x-scala2.12", "instance_pool_id": "pool-1", "num_workers": 2, "policy_id": "P1"}
    policy = _policy({"dbus_per_hour": {"type": "range", "maxValue": 5},
                      # The pool supplies the type: a rule on it is not a missing attribute.
                      "node_type_id": {"type": "allowlist", "values": ["m5.2xlarge"]}})
    on_pool = ClusterConfig(node_type_id="m5.2xlarge", driver_node_type_id="m5.2xlarge", num_workers=2)
    assert policy.allows_config(on_pool, pooled, azure=False)  # 3 x 1.38 = 4.14
    assert policy.config_refusals(ClusterConfig(node_type_id="m5.2xlarge", driver_node_type_id="m5.2xlarge",
                                                num_workers=3), pooled, azure=False) == {
        "dbus_per_hour": "caps dbus_per_hour at 5 (this configuration: 5.52)"}


# ------------------------------------------------------------------ required attributes and defaults


def test_a_rule_makes_its_attribute_required_unless_optional_fixed_or_forbidden() -> None:
    required = _policy({"autoscale.max_workers": {"type": "range", "maxValue": 8}})
    # Switching an autoscaling cluster to a fixed size leaves autoscale.* out: Databricks refuses it.
    assert required.config_refusals(_fixed("m5.2xlarge", 4), SPEC, azure=False) == {
        "autoscale.max_workers": "requires autoscale.max_workers (this configuration leaves it out)"}
    assert required.allows_config(_autoscale("m5.2xlarge", 2, 8), SPEC, azure=False)
    assert not required.allows_config(_autoscale("m5.2xlarge", 2, 9), SPEC, azure=False)
    for rule in ({"type": "range", "maxValue": 8, "isOptional": True},
                 {"type": "forbidden"},            # left out is the only way to pass it
                 {"type": "unlimited", "isOptional": True}):
        assert _policy({"autoscale.max_workers": rule}).allows_config(_fixed("m5.2xlarge", 4), SPEC,
                                                                      azure=False), rule
    # A fixed value is filled in, and autoscale beside num_workers is refused when the run starts.
    assert _policy({"autoscale.max_workers": {"type": "fixed", "value": 8}}).config_refusals(
        _fixed("m5.2xlarge", 4), SPEC, azure=False) == {
        "autoscale.max_workers": "fixes autoscale.max_workers at 8 (this configuration sets num_workers 4, which "
                                 "Databricks refuses beside autoscale)"}
    # An unlimited rule only requires the attribute.
    assert _policy({"autoscale.max_workers": {"type": "unlimited"}}).narrowing(
        [_fixed("m5.2xlarge", 4)], SPEC, azure=False) == ["requires autoscale.max_workers"]


def test_a_default_fills_a_left_out_attribute_only_when_the_spec_asks_for_defaults_and_is_judged() -> None:
    default = {"autoscale.max_workers": {"type": "range", "maxValue": 8, "defaultValue": 6}}
    # Without apply_policy_default_values only fixed values are applied (the Clusters API): still missing.
    assert not _policy(default).allows_config(_fixed("m5.2xlarge", 4), SPEC, azure=False)
    asks = {**SPEC, "apply_policy_default_values": True}
    # Asked for, the default autoscale range is filled in beside num_workers: refused when the run starts.
    assert _policy(default).config_refusals(_fixed("m5.2xlarge", 4), asks, azure=False) == {
        "autoscale.max_workers": "fills autoscale.max_workers in with its default 6 (this configuration sets "
                                 "num_workers 4, which Databricks refuses beside autoscale)"}
    # The default is what the cluster gets, so the rule judges it (an admin's default outside the range).
    bad_default = {"num_workers": {"type": "range", "maxValue": 8, "defaultValue": 10}}
    assert _policy(bad_default).config_refusals(_autoscale("m5.2xlarge", 2, 4), {**SPEC, "num_workers": None,
                                                "apply_policy_default_values": True}, azure=False) == {
        "num_workers": "fills num_workers in with its default 10 (this configuration sets autoscale, which "
                       "Databricks refuses beside num_workers)"}
    bad_node = {"node_type_id": {"type": "allowlist", "values": ["m5.xlarge"], "defaultValue": "m5.2xlarge"}}
    assert _policy(bad_node).refusals({"num_workers": 2, "apply_policy_default_values": True}) == {
        "node_type_id": "allows node_type_id only in [m5.xlarge] (its default: m5.2xlarge)"}
    # A default the cluster gets counts for the DBUs too: the default node type and worker count.
    capped = _policy({"dbus_per_hour": {"type": "range", "maxValue": 10},
                      "num_workers": {"type": "range", "maxValue": 20, "defaultValue": 12}})
    leaves_workers_out = {"node_type_id": "m5.xlarge", "apply_policy_default_values": True}
    assert capped.refusals(leaves_workers_out) == {}  # 13 x 0.69 = 8.97
    assert capped.refusals({**leaves_workers_out, "node_type_id": "m5.2xlarge"}) == {
        "dbus_per_hour": "caps dbus_per_hour at 10 (this configuration: 17.94)"}


def test_the_driver_a_spec_leaves_out_is_judged_as_the_workers_type() -> None:
    policy = _policy({"driver_node_type_id": {"type": "allowlist", "values": ["m5.xlarge"]}})
    assert policy.refusals({"node_type_id": "m5.2xlarge", "num_workers": 2}) == {
        "driver_node_type_id": "allows driver_node_type_id only in [m5.xlarge] (this configuration's driver: "
                               "m5.2xlarge)"}
    assert policy.allows_spec({"node_type_id": "m5.xlarge", "num_workers": 2})


# ------------------------------------------------------------------ candidates and the planner


def test_candidates_stay_under_the_cap_and_the_narrowing_rule_is_named() -> None:
    current = config_from_spec(SPEC)  # 7 x 1.38 = 9.66 DBU/h
    settings = ProjectSettings(allowed_families=("m5", "r5"), max_workers=24)
    policy = _policy({"dbus_per_hour": {"type": "range", "maxValue": 12}})
    unfiltered = build_candidates(current, settings, CATALOG, PRICING)
    pairs = build_candidates(current, settings, CATALOG, PRICING, policy=policy)
    burn = {c.config_id: cluster_dbus_per_hour({"node_type_id": cfg.node_type_id,
                                                "driver_node_type_id": cfg.driver_node_type_id,
                                                "num_workers": cfg.num_workers}, RATES) for c, cfg in pairs}
    assert len(pairs) < len(unfiltered) and max(burn.values()) <= 12
    assert config_id_of(current) in burn
    assert policy.narrowing([cfg for _, cfg in unfiltered], SPEC, azure=False) == ["caps dbus_per_hour at 12"]


@pytest.fixture
def store(any_store: Store) -> Store:
    """Both engines, with workspace "ws"."""
    any_store.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws", plan="premium"), "enc")
    return any_store


def _project(store: Store, spec: dict[str, Any]) -> int:
    project = store.projects.add(Project(
        workspace="ws", job_id=1, cluster_key="main", current_spec=spec, original_spec=spec,
        settings=ProjectSettings(sla_seconds=3000.0, auto_apply=True, learning_budget=4, max_workers=24)))
    pid = int(project.id or 0)
    for n in (1, 2):
        store.runs.add(Run(project_id=pid, databricks_run_id=n, start_ms=n * 86_400_000,
                           end_ms=n * 86_400_000 + 1_500_000, runtime_s=1500.0, outcome="succeeded",
                           config=config_from_spec(spec)))
    return pid


def test_the_plan_keeps_under_the_cap_and_its_reason_names_the_rule(store: Store) -> None:
    pid = _project(store, SPEC)
    policy = {"policy_id": "P1", "name": "capped",
              "definition": json.dumps({"dbus_per_hour": {"type": "range", "maxValue": 12}})}
    for _ in range(3):
        rec = plan_project(store, pid, CATALOG, policy=policy)
        assert rec is not None
        workers = rec.config.autoscale_max or rec.config.num_workers
        assert RATES(rec.config.driver_node_type_id or rec.config.node_type_id) + \
            workers * RATES(rec.config.node_type_id) <= 12  # type: ignore[operator]
        assert rec.reason.endswith('; kept inside the cluster policy "capped" (P1): it caps dbus_per_hour at 12')


def test_an_autoscaling_cluster_whose_policy_requires_autoscale_gets_no_fixed_size_plan(store: Store) -> None:
    spec = {**{k: v for k, v in SPEC.items() if k != "num_workers"},
            "autoscale": {"min_workers": 2, "max_workers": 8}}
    pid = _project(store, spec)  # keep_autoscaling is off: the space is fixed-size but for its own
    policy = {"policy_id": "P1", "name": "autoscale-only",
              "definition": json.dumps({"autoscale.max_workers": {"type": "range", "maxValue": 8}})}
    rec = plan_project(store, pid, CATALOG, policy=policy)
    assert rec is not None and (rec.config.autoscale_min, rec.config.autoscale_max) == (2, 8)
    assert rec.reason.endswith('the cluster policy "autoscale-only" (P1) allows no other configuration within '
                               "the project's bounds (requires autoscale.max_workers), so the current one is kept")
    # Without the policy, the plan would switch it to a fixed size.
    free = plan_project(store, pid, CATALOG)
    assert free is not None and free.config.autoscale_max == 0
