"""Pool-backed clusters (pure): the pool's node types read into the configuration, candidates that
only change the worker count inside the pool's capacity, no driver choice, and a merged spec that
writes the sizing alone (Databricks refuses node_type_id beside instance_pool_id)."""

from __future__ import annotations

from typing import Any

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, ProjectSettings
from server.plan.candidates import Pricing, build_candidates, on_pool, pool_backing
from server.plan.driver import driver_options, plan_driver
from server.spec import config_from_spec, merge_recommendation, recommendation_overlay

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
WORKER_POOL = {"instance_pool_id": "p-w", "node_type_id": "m5.xlarge", "max_capacity": 9,
               "aws_attributes": {"availability": "SPOT"}}
DRIVER_POOL = {"instance_pool_id": "p-d", "node_type_id": "r5.xlarge"}
POOLS = {"p-w": WORKER_POOL, "p-d": DRIVER_POOL}
SPEC: dict[str, Any] = {
    "spark_version": "15.4.x-scala2.12", "instance_pool_id": "p-w", "num_workers": 4,
    "aws_attributes": {"first_on_demand": 1}, "custom_tags": {"team": "etl"},
}


def test_the_configuration_reads_the_pools_node_types_and_availability() -> None:
    same = config_from_spec(SPEC, POOLS)
    assert (same.node_type_id, same.driver_node_type_id, same.availability) == ("m5.xlarge", "m5.xlarge", "SPOT")
    assert same.spec == SPEC  # the spec as it is: it names the pool, not the type
    split = config_from_spec({**SPEC, "driver_instance_pool_id": "p-d"}, POOLS)
    assert (split.node_type_id, split.driver_node_type_id) == ("m5.xlarge", "r5.xlarge")
    # Without the pools the types read as the spec has them: none.
    assert config_from_spec(SPEC).node_type_id == "" and config_from_spec(SPEC).driver_node_type_id == ""


def test_pool_backing_caps_the_workers_at_the_capacity_less_a_driver_from_the_same_pool() -> None:
    same = pool_backing(SPEC, POOLS)
    assert same is not None and (same.node_type, same.driver, same.max_workers) == ("m5.xlarge", "m5.xlarge", 8)
    split = pool_backing({**SPEC, "driver_instance_pool_id": "p-d"}, POOLS)
    assert split is not None and (split.driver, split.max_workers) == ("r5.xlarge", 9)
    unlimited = pool_backing(SPEC, {"p-w": {**WORKER_POOL, "max_capacity": None}})
    assert unlimited is not None and unlimited.max_workers is None
    assert pool_backing(SPEC, {}) is None and pool_backing({"node_type_id": "m5.xlarge"}, POOLS) is None


def test_candidates_on_a_pool_change_only_the_worker_count() -> None:
    catalog = load_catalog()
    current = config_from_spec(SPEC, POOLS)
    before_pool = ClusterConfig(node_type_id="c5.2xlarge", num_workers=3, availability="ON_DEMAND")
    settings = ProjectSettings(driver_node_type_id="r5.4xlarge", spot_allowed=True)
    pairs = build_candidates(current, settings, catalog, PRICING, tried=[before_pool],
                             pool=pool_backing(SPEC, POOLS))
    configs = [cfg for _, cfg in pairs]
    assert configs and {c.node_type_id for c in configs} == {"m5.xlarge"}
    # The pool's driver, even over a driver the user fixed (it could not be written beside a pool).
    assert {c.driver_node_type_id for c in configs} == {"m5.xlarge"}
    # The pool's, kept: the driver comes from the spot pool too (first_on_demand does not apply there).
    assert {(c.availability, c.first_on_demand) for c in configs} == {("SPOT", 0)}
    assert max(c.num_workers for c in configs) == 8  # max_capacity 9 less the driver
    assert sorted(c.num_workers for c in configs) == [1, 2, 3, 4, 5, 6, 8]
    assert all(c.spot and c.instance_type == "m5.xlarge" for c, _ in pairs)
    # Without the pool's cap the project's bounds decide (twice the workers, at least 8).
    wide = build_candidates(current, ProjectSettings(max_workers=12), catalog, PRICING,
                            pool=pool_backing(SPEC, {"p-w": {**WORKER_POOL, "max_capacity": None}}))
    assert max(cfg.num_workers for _, cfg in wide) == 12


def test_a_run_on_the_pool_is_read_with_the_pools_types() -> None:
    current = config_from_spec(SPEC, POOLS)
    recorded = config_from_spec({**SPEC, "num_workers": 6})  # a run's spec names the pool only
    got = on_pool(recorded, current)
    assert (got.node_type_id, got.driver_node_type_id, got.num_workers, got.availability) == \
        ("m5.xlarge", "m5.xlarge", 6, "SPOT")
    other_pool = config_from_spec({**SPEC, "instance_pool_id": "p-other"})
    assert on_pool(other_pool, current) == other_pool  # another pool's type is not known
    typed = ClusterConfig(node_type_id="c5.xlarge", num_workers=2)
    assert on_pool(typed, current) == typed


def test_no_driver_is_proposed_for_a_pool_backed_cluster() -> None:
    catalog = load_catalog()
    current = config_from_spec(SPEC, POOLS)
    options = driver_options(catalog, "aws", ("m5", "r5"), current, region="us-east-1", plan="premium", sku="jobs")
    assert options  # priced as any driver: only the choice is the pool's
    assert plan_driver(ProjectSettings(), current, [], options) is None


def test_applying_over_a_pool_backed_spec_writes_the_sizing_alone() -> None:
    recommended = ClusterConfig(node_type_id="m5.xlarge", driver_node_type_id="m5.xlarge", num_workers=6,
                                availability="SPOT_WITH_FALLBACK", first_on_demand=1, ebs_volume_type="GENERAL_PURPOSE_SSD",
                                ebs_volume_count=1, ebs_volume_size_gb=100, spark_version="15.4.x-scala2.12")
    merged = merge_recommendation(SPEC, recommendation_overlay(recommended, azure=False))
    assert merged == {**SPEC, "num_workers": 6}
    assert "node_type_id" not in merged and "driver_node_type_id" not in merged
    autoscaled = ClusterConfig(node_type_id="m5.xlarge", autoscale_min=2, autoscale_max=8, availability="SPOT")
    merged = merge_recommendation({**SPEC, "driver_instance_pool_id": "p-d"},
                                  recommendation_overlay(autoscaled, azure=False))
    assert merged == {**{k: v for k, v in SPEC.items() if k != "num_workers"}, "driver_instance_pool_id": "p-d",
                      "autoscale": {"min_workers": 2, "max_workers": 8}}
    # Off a pool, the same recommendation writes its node type and availability as before.
    plain = merge_recommendation({"node_type_id": "c5.xlarge", "num_workers": 2},
                                 recommendation_overlay(recommended, azure=False))
    assert plain["node_type_id"] == "m5.xlarge" and plain["aws_attributes"]["availability"] == "SPOT_WITH_FALLBACK"
