"""Candidates' hourly prices include Databricks' default volumes on every AWS node, so the planner
sees that more, smaller nodes cost more root volumes."""

from __future__ import annotations

import pytest

from server.costing.catalog import load_catalog
from server.domain import ClusterConfig, ProjectSettings
from server.plan.candidates import Pricing, build_candidates, pool_backing
from server.plan.driver import driver_price

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
# One AWS node's default volumes: (30 GB instance root + 150 GB container root) x gp2 $0.10/GB-month
# / 730 h = $0.0246575 per node-hour (docs.databricks.com AWS cluster configuration, "Default EBS volumes").
ROOT = 180 * 0.10 / 730


def test_a_candidates_price_includes_every_nodes_default_volumes() -> None:
    current = ClusterConfig(node_type_id="m5.xlarge", driver_node_type_id="m5.xlarge", num_workers=4,
                            availability="ON_DEMAND")
    prices = {c.config_id: c.price_per_hour
              for c, cfg in build_candidates(current, ProjectSettings(), load_catalog(), PRICING)
              if cfg.availability == "ON_DEMAND"}
    # m5.xlarge: $0.192/h + 0.69 DBU/h x $0.15 (Premium Jobs) = $0.2955, + $0.0246575 of default
    # volumes = $0.3201575 a node; driver + 4 workers = $1.6007877 (no spec volumes).
    assert prices["m5.xlargex4"] == pytest.approx(1.6007877, abs=1e-6)
    assert prices["m5.xlargex4"] == pytest.approx(5 * (0.192 + 0.69 * 0.15 + ROOT))
    # 2 x m5.2xlarge workers are exactly 4 x m5.xlarge in instance and DBU price ($0.384 + 1.38 x
    # $0.15 = $0.591 = 2 x $0.2955), so before the default volumes were priced the two tied; now the
    # four smaller workers cost two more nodes' default volumes: 2 x $0.0246575 = $0.049315.
    assert prices["m5.xlargex4"] - prices["m5.2xlargex2"] == pytest.approx(2 * ROOT)


def test_a_single_node_driver_option_and_a_pool_candidate_are_priced_with_them() -> None:
    like = ClusterConfig(node_type_id="m5.xlarge", num_workers=0, availability="ON_DEMAND")
    price = driver_price(load_catalog(), "aws", "m5.xlarge", like, region="us-east-1", plan="premium", sku="jobs")
    assert price == pytest.approx(0.192 + 0.69 * 0.15 + ROOT)  # $0.3201575

    spec = {"instance_pool_id": "p-w", "num_workers": 2, "spark_version": "15.4.x-scala2.12"}
    pool = pool_backing(spec, {"p-w": {"instance_pool_id": "p-w", "node_type_id": "m5.xlarge", "max_capacity": 9,
                                       "aws_attributes": {"availability": "ON_DEMAND"}}})
    current = ClusterConfig(node_type_id="m5.xlarge", driver_node_type_id="m5.xlarge", num_workers=2,
                            availability="ON_DEMAND", spec=spec)
    pairs = build_candidates(current, ProjectSettings(), load_catalog(), PRICING, pool=pool)
    by_workers = {cfg.num_workers: c.price_per_hour for c, cfg in pairs if not cfg.autoscale_max}
    assert by_workers[2] == pytest.approx(3 * (0.192 + 0.69 * 0.15 + ROOT))  # $0.9604726
