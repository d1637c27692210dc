"""Autoscaling candidates never have min_workers >= max_workers: Databricks refuses such a range
(the SDK's ``compute.AutoScale``: max_workers "must be strictly greater than min_workers"), and the
workspace emulator refuses it as the service does. Bounds that leave an autoscaling project one
worker count only are refused, saying so (ninth review)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.sim.cluster import SpecError, validate_cluster_spec
from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, ProjectSettings
from server.errors import FailedPrecondition
from server.plan.candidates import Pricing, build_candidates, pool_backing
from server.spec import config_from_spec, recommended_spec

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
SPEC: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge",
                        "autoscale": {"min_workers": 2, "max_workers": 8},
                        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


@pytest.mark.parametrize("settings", [
    ProjectSettings(keep_autoscaling=True),  # the grid's 1 gave a 1..1 range
    ProjectSettings(keep_autoscaling=True, min_workers=4, max_workers=12),  # the grid's 4 gave 4..4
    ProjectSettings(keep_autoscaling=True, min_workers=3, max_workers=4),
])
def test_every_autoscaling_candidate_has_a_range_databricks_accepts(settings: ProjectSettings) -> None:
    current = config_from_spec(SPEC)
    pairs = build_candidates(current, settings, load_catalog(), PRICING)
    ranges = [cfg for c, cfg in pairs if c.allowed]
    assert ranges and all(cfg.autoscale_max > 0 for cfg in ranges)
    assert all(cfg.autoscale_min < cfg.autoscale_max for cfg in ranges)
    if settings.min_workers is not None:
        assert all(cfg.autoscale_min >= settings.min_workers for cfg in ranges)
    # The spec applying each one is accepted by the emulator, which refuses an equal range.
    for cfg in ranges:
        validate_cluster_spec(recommended_spec(SPEC, cfg, cloud="aws"))


def test_the_emulator_refuses_an_equal_autoscale_range() -> None:
    with pytest.raises(SpecError, match="max_workers 4 must be strictly greater than min_workers 4"):
        validate_cluster_spec({**SPEC, "autoscale": {"min_workers": 4, "max_workers": 4}})


def test_bounds_leaving_an_autoscaling_project_one_count_are_refused_saying_so() -> None:
    current = config_from_spec(SPEC)
    with pytest.raises(FailedPrecondition) as err:
        build_candidates(current, ProjectSettings(keep_autoscaling=True, min_workers=4, max_workers=4),
                         load_catalog(), PRICING)
    message = err.value.message
    assert "keeps autoscaling" in message and "max_workers above min_workers" in message
    assert "min_workers 4 with max_workers 4" in message and "--keep-autoscaling off" in message
    # Without keep_autoscaling the same bounds size a fixed cluster of 4 workers.
    fixed = build_candidates(current, ProjectSettings(min_workers=4, max_workers=4), load_catalog(), PRICING)
    assert {cfg.num_workers for c, cfg in fixed if c.allowed} == {4}


def test_a_pool_leaving_an_autoscaling_project_one_count_is_named() -> None:
    spec = {"spark_version": "15.4.x-scala2.12", "instance_pool_id": "p-w",
            "autoscale": {"min_workers": 1, "max_workers": 3}}
    pools = {"p-w": {"instance_pool_id": "p-w", "node_type_id": "m5.xlarge", "max_capacity": 4}}  # 3 workers
    with pytest.raises(FailedPrecondition, match="its instance pool p-w holds at most 3 leaves only 3"):
        build_candidates(config_from_spec(spec, pools), ProjectSettings(keep_autoscaling=True, min_workers=3),
                         load_catalog(), PRICING, pool=pool_backing(spec, pools))
    pairs = build_candidates(config_from_spec(spec, pools), ProjectSettings(keep_autoscaling=True, min_workers=2),
                             load_catalog(), PRICING, pool=pool_backing(spec, pools))
    assert {(cfg.autoscale_min, cfg.autoscale_max) for c, cfg in pairs if c.allowed} == {(2, 3)}


def test_a_fixed_size_cluster_is_untouched() -> None:
    current = ClusterConfig(node_type_id="m5d.xlarge", num_workers=1, availability="ON_DEMAND", first_on_demand=1)
    pairs = build_candidates(current, ProjectSettings(keep_autoscaling=True), load_catalog(), PRICING)
    assert any(cfg.num_workers == 1 for c, cfg in pairs if c.allowed)
