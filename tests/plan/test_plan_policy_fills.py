"""What a cluster policy fills into a job cluster's spec, as the planner reads and judges it: a sizing
it fixes (autoscale beside num_workers is refused), a driver it fixes or forbids, a spot kind it
allows, the node type (or pool) it supplies, and the sizing of the shape not in use (`server.plan.policy`,
`server.plan.candidates`, `server.plan.planner`; SQLite)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from server.costing.catalog import load_catalog
from server.domain import Project, ProjectSettings, Run, Workspace
from server.errors import FailedPrecondition
from server.plan.candidates import Pricing, build_candidates, config_id_of, pricing_for
from server.plan.planner import plan_project
from server.plan.policy import ClusterPolicy
from server.spec import config_from_spec, recommended_spec
from server.store import Store

CATALOG = load_catalog()
PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
AZURE = Pricing(cloud="azure", region="eastus", plan="premium")
SETTINGS = ProjectSettings(allowed_families=("m5", "r5"), max_workers=24, spot_allowed=True)
AUTOSCALING = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "policy_id": "P1",
               "autoscale": {"min_workers": 2, "max_workers": 10},
               "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}
FIXED = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.2xlarge", "num_workers": 6, "policy_id": "P1",
         "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


def _api(definition: dict[str, Any]) -> dict[str, Any]:
    return {"policy_id": "P1", "name": "etl", "definition": json.dumps(definition)}


def _policy(definition: dict[str, Any]) -> ClusterPolicy:
    return ClusterPolicy.from_api(_api(definition))


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    sqlite_store.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws", plan="premium"), "enc")
    return sqlite_store


def _project(store: Store, spec: dict[str, Any], run_spec: dict[str, Any] | None = None, *, job_id: int = 1) -> int:
    project = store.projects.add(Project(
        workspace="ws", job_id=job_id, cluster_key="main", current_spec=spec, original_spec=spec,
        settings=ProjectSettings(sla_seconds=3000.0, auto_apply=True, learning_budget=4, spot_allowed=True)))
    pid = int(project.id or 0)
    for n in (1, 2):
        store.runs.add(Run(project_id=pid, databricks_run_id=n, start_ms=n * 86_400_000,
                           end_ms=n * 86_400_000 + 1_500_000, runtime_s=1500.0, outcome="succeeded",
                           config=config_from_spec(run_spec or spec)))
    return pid


# ------------------------------------------------------------------ sizing the policy fills in


FIXED_RANGE = {"autoscale.min_workers": {"type": "fixed", "value": 2, "hidden": True},
               "autoscale.max_workers": {"type": "fixed", "value": 10, "hidden": True}}


def test_a_fixed_autoscale_range_refuses_a_fixed_size_and_the_plan_keeps_the_range(store: Store) -> None:
    policy = _policy(FIXED_RANGE)
    # Databricks fills the range in beside num_workers, and refuses the cluster when the run starts.
    assert policy.refusals({**FIXED, "num_workers": 4}) == {
        path: f"fixes {path} at {value} (this configuration sets num_workers 4, which Databricks refuses "
              "beside autoscale)" for path, value in (("autoscale.max_workers", 10), ("autoscale.min_workers", 2))}
    # The project does not keep autoscaling (the default), yet every candidate autoscales on the range.
    pairs = build_candidates(config_from_spec(AUTOSCALING), SETTINGS, CATALOG, PRICING, policy=policy)
    offered = [cfg for c, cfg in pairs if c.allowed]
    assert len(offered) > 1
    assert {(cfg.autoscale_min, cfg.autoscale_max, cfg.num_workers) for cfg in offered} == {(2, 10, 0)}
    pid = _project(store, AUTOSCALING)
    for _ in range(3):
        rec = plan_project(store, pid, CATALOG, policy=_api(FIXED_RANGE))
        assert rec is not None and (rec.config.autoscale_min, rec.config.autoscale_max) == (2, 10)
        written = recommended_spec(AUTOSCALING, rec.config, cloud="aws")
        assert "num_workers" not in written and policy.allows_spec(written)


def test_a_fixed_worker_count_refuses_an_autoscaling_candidate() -> None:
    policy = _policy({"num_workers": {"type": "fixed", "value": 6}})
    assert policy.refusals({**AUTOSCALING}) == {
        "num_workers": "fixes num_workers at 6 (this configuration sets autoscale, which Databricks refuses "
                       "beside num_workers)"}
    keep = ProjectSettings(allowed_families=("m5",), max_workers=24, keep_autoscaling=True)
    pairs = build_candidates(config_from_spec({**AUTOSCALING, "autoscale": None, "num_workers": 6}), keep,
                             CATALOG, PRICING, policy=policy)
    assert pairs and all(cfg.autoscale_max == 0 for c, cfg in pairs if c.allowed)


def test_under_a_policy_ruling_both_sizings_the_one_not_in_use_is_not_required() -> None:
    both = _policy({"num_workers": {"type": "range", "maxValue": 10},
                    "autoscale.max_workers": {"type": "range", "maxValue": 10}})
    assert both.refusals(FIXED) == {}
    assert both.refusals(AUTOSCALING) == {}
    # Ruling one shape only, it is required (the spec must autoscale).
    assert _policy({"autoscale.max_workers": {"type": "range", "maxValue": 10}}).refusals(FIXED) == {
        "autoscale.max_workers": "requires autoscale.max_workers (this configuration leaves it out)"}


# ------------------------------------------------------------------ the driver


def test_a_forbidden_driver_is_never_written_and_the_plan_may_change_the_workers_type(store: Store) -> None:
    definition = {"driver_node_type_id": {"type": "forbidden", "hidden": True},
                  "node_type_id": {"type": "allowlist", "values": ["m5.xlarge", "m5.2xlarge", "r5.xlarge"]}}
    policy = _policy(definition)
    assert policy.refusals(FIXED) == {}  # the driver left out runs on the workers' type: no rule against it
    pairs = build_candidates(config_from_spec(FIXED), SETTINGS, CATALOG, PRICING, policy=policy)
    types = {cfg.node_type_id for c, cfg in pairs if c.allowed}
    assert types == {"m5.xlarge", "m5.2xlarge", "r5.xlarge"}
    for _, cfg in pairs:
        assert "driver_node_type_id" not in recommended_spec(FIXED, cfg, cloud="aws")
    pid = _project(store, FIXED)
    rec = plan_project(store, pid, CATALOG, policy=_api(definition))
    assert rec is not None and "allows no other configuration" not in rec.reason


def test_a_driver_the_policy_fixes_is_the_driver_and_the_workers_type_is_not_judged_by_its_rule(
        store: Store) -> None:
    definition = {"driver_node_type_id": {"type": "fixed", "value": "m5.xlarge", "hidden": True}}
    spec = {**FIXED, "node_type_id": "r5.2xlarge"}
    assert _policy(definition).refusals(spec) == {}
    # The cluster runs (and is priced) on the policy's driver.
    current = config_from_spec(spec, policy_values=_policy(definition).filled_values(spec))
    assert current.driver_node_type_id == "m5.xlarge"
    pid = _project(store, spec, {**spec, "driver_node_type_id": "m5.xlarge"})
    rec = plan_project(store, pid, CATALOG, policy=_api(definition))
    assert rec is not None and rec.config.driver_node_type_id == "m5.xlarge"
    assert "does not allow r5.2xlarge as the driver" not in rec.reason


# ------------------------------------------------------------------ spot kinds


@pytest.mark.parametrize("rule", [{"type": "fixed", "value": "SPOT"}, {"type": "allowlist", "values": ["SPOT"]}])
def test_a_policy_allowing_pure_spot_gets_pure_spot_candidates(rule: dict[str, Any]) -> None:
    policy = _policy({"aws_attributes.availability": rule})
    pairs = build_candidates(config_from_spec(FIXED), SETTINGS, CATALOG, PRICING, policy=policy)
    # Only the configuration the job runs on stays on demand (kept on Databricks' word, not Trimtab's).
    offered = [cfg for c, cfg in pairs if c.allowed and c.config_id != config_id_of(config_from_spec(FIXED))]
    assert len(offered) > 10 and {cfg.availability for cfg in offered} == {"SPOT"}
    assert all(recommended_spec(FIXED, cfg, cloud="aws")["aws_attributes"]["availability"] == "SPOT"
               for cfg in offered)


def test_azure_spot_candidates_take_the_kind_the_policy_allows() -> None:
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_D4ds_v5", "num_workers": 4,
            "policy_id": "P1", "azure_attributes": {"availability": "ON_DEMAND_AZURE", "first_on_demand": 1}}
    policy = _policy({"azure_attributes.availability": {"type": "allowlist",
                                                        "values": ["ON_DEMAND_AZURE", "SPOT_AZURE"]}})
    current = config_from_spec(spec, cloud="azure")
    pairs = build_candidates(current, ProjectSettings(spot_allowed=True, max_workers=16), CATALOG, AZURE,
                             policy=policy)
    spot = [cfg for c, cfg in pairs if c.allowed and cfg.availability.startswith("SPOT")]
    assert spot and {recommended_spec(spec, cfg, cloud="azure")["azure_attributes"]["availability"]
                     for cfg in spot} == {"SPOT_AZURE"}


# ------------------------------------------------------------------ the node type the policy supplies


@pytest.mark.parametrize("definition, asks", [
    ({"node_type_id": {"type": "fixed", "value": "m5.xlarge", "hidden": True}}, False),
    ({"node_type_id": {"type": "allowlist", "values": ["m5.xlarge", "m5.2xlarge"], "defaultValue": "m5.xlarge"}},
     True),
])
def test_a_node_type_the_policy_supplies_is_read_from_it(store: Store, definition: dict[str, Any],
                                                         asks: bool) -> None:
    spec = {k: v for k, v in FIXED.items() if k != "node_type_id"}
    if asks:
        spec["apply_policy_default_values"] = True
    pid = _project(store, spec, {**spec, "node_type_id": "m5.xlarge"})
    rec = plan_project(store, pid, CATALOG, policy=_api(definition))
    assert rec is not None and rec.config.node_type_id in ("m5.xlarge", "m5.2xlarge")
    assert _policy(definition).allows_spec(recommended_spec(spec, rec.config, cloud="aws"))


def test_a_node_type_left_unknown_is_refused_with_its_cause(store: Store) -> None:
    spec = {k: v for k, v in FIXED.items() if k != "node_type_id"}
    pid = _project(store, spec, {**spec, "node_type_id": "m5.xlarge"})
    pooled = {"instance_pool_id": {"type": "fixed", "value": "pool-1", "hidden": True}}
    with pytest.raises(FailedPrecondition, match="puts it on instance pool pool-1"):
        plan_project(store, pid, CATALOG, policy=_api(pooled))
    default = {"node_type_id": {"type": "allowlist", "values": ["m5.xlarge"], "defaultValue": "m5.xlarge"}}
    with pytest.raises(FailedPrecondition, match="apply_policy_default_values: true"):
        plan_project(store, pid, CATALOG, policy=_api(default))


def test_a_policy_allowing_spot_only_under_a_project_without_spot_says_so(store: Store) -> None:
    definition = {"aws_attributes.availability": {"type": "fixed", "value": "SPOT"}}
    spec = {**FIXED, "aws_attributes": {"availability": "SPOT", "first_on_demand": 1}}
    pid = _project(store, spec)
    project = store.projects.get(pid)
    store.projects.update_settings(pid, dataclasses.replace(project.settings, spot_allowed=False))
    # The job's own spot configuration is outside the project's bounds (no spot): nothing is left.
    with pytest.raises(FailedPrecondition, match="allows spot only, and the project does not allow spot "
                                                 r"\(trimtab project set --spot on\)"):
        plan_project(store, pid, CATALOG, policy=_api(definition))


def test_the_cluster_is_read_with_what_the_policy_fills_in_and_never_over_the_specs_own() -> None:
    fills = {"node_type_id": "m5.xlarge", "driver_node_type_id": "r5.xlarge", "num_workers": 4}
    read = config_from_spec({"num_workers": 2}, policy_values=fills)
    assert (read.node_type_id, read.driver_node_type_id, read.num_workers) == ("m5.xlarge", "r5.xlarge", 2)
    assert config_from_spec({"node_type_id": "c5.xlarge", "num_workers": 0}, policy_values=fills).num_workers == 0
    assert config_from_spec({"node_type_id": "c5.xlarge"}, policy_values=fills).num_workers == 4
    ranged = config_from_spec({"node_type_id": "c5.xlarge"},
                              policy_values={"autoscale.min_workers": 2, "autoscale.max_workers": 6})
    assert (ranged.autoscale_min, ranged.autoscale_max, ranged.num_workers) == (2, 6, 0)
    # A pool the spec names supplies the node types: the policy's are not read over it.
    assert config_from_spec({"instance_pool_id": "p1", "num_workers": 2}, policy_values=fills).node_type_id == ""


# ------------------------------------------------------------------ the engine the policy fills in


PHOTON = {"runtime_engine": {"type": "fixed", "value": "PHOTON", "hidden": True}}
# Only the current configuration: what is compared is its price, not the choice.
ONLY_CURRENT = {"node_type_id": {"type": "fixed", "value": "m5.2xlarge"},
                "driver_node_type_id": {"type": "fixed", "value": "m5.2xlarge"},
                "num_workers": {"type": "fixed", "value": 6}}


def test_a_policy_fixing_photon_prices_the_plan_under_the_photon_sku(store: Store) -> None:
    # The spec leaves runtime_engine to its policy: Databricks runs and bills the cluster as Photon
    # (2.9x the DBUs on AWS). The planner priced it as standard (review: DBUs 2.9x too low).
    standard = plan_project(store, _project(store, FIXED), CATALOG, policy=_api(ONLY_CURRENT))
    photon = plan_project(store, _project(store, FIXED, job_id=2), CATALOG, policy=_api({**ONLY_CURRENT, **PHOTON}))
    assert standard is not None and photon is not None
    assert (photon.config.node_type_id, photon.config.num_workers) == \
        (standard.config.node_type_id, standard.config.num_workers) == ("m5.2xlarge", 6)
    assert photon.predicted_cost > 1.5 * standard.predicted_cost
    workspace = store.workspaces.get("ws")
    assert pricing_for(workspace, FIXED, _policy(PHOTON)).sku == "jobs_photon"
    assert pricing_for(workspace, FIXED, _policy({})).sku == pricing_for(workspace, FIXED).sku == "jobs"
    assert pricing_for(workspace, {**FIXED, "policy_id": "P2"}, _policy(PHOTON)).sku == "jobs"  # another policy's


def test_a_dbus_per_hour_cap_under_a_photon_policy_counts_photons_dbus(store: Store) -> None:
    # 7 m5.2xlarge nodes burn 9.66 DBU/h on the standard engine, 28.0 on Photon: a cap of 15 refuses the
    # current cluster only at Photon's rates, which Databricks judges it at.
    cap = {"dbus_per_hour": {"type": "range", "maxValue": 15}}
    rec = plan_project(store, _project(store, FIXED), CATALOG, policy=_api({**PHOTON, **cap}))
    assert rec is not None
    photon = CATALOG.dbu_multiplier("aws", "jobs_photon")
    driver = rec.config.driver_node_type_id or rec.config.node_type_id
    burn = photon * (CATALOG.dbus_per_hour("aws", driver)
                     + rec.config.num_workers * CATALOG.dbus_per_hour("aws", rec.config.node_type_id))
    assert burn <= 15
    assert "caps dbus_per_hour at 15" in rec.reason
