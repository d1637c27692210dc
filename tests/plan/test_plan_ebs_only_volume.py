"""A candidate on a node type with no instance store never carries ``ebs_volume_count`` 0 (review
flavours, defect 2): Databricks refuses it ("For node types with no instance store, at least one EBS
volume needs to be specified; otherwise, cluster creation will fail"). An m5d.xlarge job with
``ebs_volume_count`` 0 whose allowed families include m5 was recommended m5.xlarge with count 0 at
every plan. It gets one 100 GiB General Purpose SSD, priced as written."""

from __future__ import annotations

import pytest

from server.costing.catalog import load_catalog
from server.costing.run_cost import hourly_cost
from server.domain import ClusterConfig, ProjectSettings
from server.plan.candidates import REQUIRED_VOLUME_GB, Pricing, build_candidates
from server.plan.driver import driver_price
from server.spec import config_from_spec, recommended_spec

CATALOG = load_catalog()
PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
# One 100 GiB gp2 volume for an hour: $0.10 per GB-month (us-east-1) over 730 hours.
VOLUME_HOUR = 100 * 0.10 / 730


def _live(**attrs: object) -> ClusterConfig:
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 4,
            "aws_attributes": {"availability": "ON_DEMAND", **attrs}}
    return config_from_spec(spec, cloud="aws")


def _written(live: ClusterConfig, config: ClusterConfig) -> dict:
    return recommended_spec(live.spec, config, cloud="aws")


def test_an_ebs_only_candidate_over_count_zero_gets_one_volume_written_and_priced() -> None:
    live = _live(ebs_volume_count=0)
    pairs = build_candidates(live, ProjectSettings(allowed_families=("m5d", "m5")), CATALOG, PRICING)
    ebs_only = [(c, cfg) for c, cfg in pairs if cfg.node_type_id.startswith("m5.")]
    assert ebs_only
    for candidate, config in ebs_only:
        attrs = _written(live, config)["aws_attributes"]
        # Was: ebs_volume_count 0 (the live spec's, kept by the merge), which Databricks refuses.
        assert (attrs["ebs_volume_count"], attrs["ebs_volume_type"], attrs["ebs_volume_size"]) == \
            (1, "GENERAL_PURPOSE_SSD", REQUIRED_VOLUME_GB), candidate.config_id
        # Priced as the spec applying it is written: the planner's price is the applied spec's.
        applied = config_from_spec(_written(live, config), cloud="aws")
        assert candidate.price_per_hour == pytest.approx(hourly_cost(
            applied, "aws", "us-east-1", "premium", "jobs", CATALOG))
    (m5x4,) = [c for c, cfg in ebs_only if c.config_id == "m5.xlargex4" and not cfg.availability.startswith("SPOT")]
    # The driver stays the live one (m5d.xlarge); the volume goes on every node, driver and 4 workers.
    bare = hourly_cost(config_from_spec({**live.spec, "node_type_id": "m5.xlarge", "driver_node_type_id": "m5d.xlarge"},
                                        cloud="aws"), "aws", "us-east-1", "premium", "jobs", CATALOG)
    assert m5x4.price_per_hour == pytest.approx(bare + 5 * VOLUME_HOUR)
    # A type with local storage keeps the live spec's count 0: its NVMe is its disk.
    for _, config in pairs:
        if config.node_type_id.startswith("m5d."):
            assert _written(live, config)["aws_attributes"]["ebs_volume_count"] == 0


def test_an_ebs_only_driver_under_local_disk_workers_gets_the_volume_too() -> None:
    live = _live(ebs_volume_count=0)
    pairs = build_candidates(live, ProjectSettings(allowed_families=("m5d",)), CATALOG, PRICING,
                             driver="m5.2xlarge")
    assert pairs
    for _, config in pairs:
        assert _written(live, config)["aws_attributes"]["ebs_volume_count"] == 1
    # And a driver option on such a type is priced with it.
    alone = driver_price(CATALOG, "aws", "m5.xlarge", live, region="us-east-1", plan="premium", sku="jobs")
    assert alone == pytest.approx(hourly_cost(
        ClusterConfig(node_type_id="m5.xlarge", availability="ON_DEMAND"), "aws", "us-east-1", "premium", "jobs",
        CATALOG, workers=0) + VOLUME_HOUR)


def test_the_live_specs_own_volume_type_and_size_are_kept_when_valid() -> None:
    live = _live(ebs_volume_count=0, ebs_volume_type="GENERAL_PURPOSE_SSD", ebs_volume_size=250)
    pairs = build_candidates(live, ProjectSettings(allowed_families=("m5",)), CATALOG, PRICING)
    assert pairs
    for c, config in pairs:
        if c.allowed:
            attrs = _written(live, config)["aws_attributes"]
            assert (attrs["ebs_volume_count"], attrs["ebs_volume_size"]) == (1, 250)


def test_a_spec_that_leaves_the_count_unset_is_left_to_databricks_default() -> None:
    live = _live()
    pairs = build_candidates(live, ProjectSettings(allowed_families=("m5d", "m5")), CATALOG, PRICING)
    for _, config in pairs:
        assert "ebs_volume_count" not in _written(live, config)["aws_attributes"]
