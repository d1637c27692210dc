"""The planner prices a pool-backed configuration with its pool's disks, as the run is priced (pure).

The collector and backfill price a pool's ``disk_spec`` on every node (`server.collect.build.with_pool_disks`,
470922e); the planner priced the candidates on a pool without it, so a pool with 2 x 500 GB per
instance (gp2) planned m5.xlarge x 4 at $1.60 an hour where its runs are charged $2.29 ($0.137 per
node-hour left out, so more workers looked cheaper than they are)."""

from __future__ import annotations

from typing import Any

import pytest

from server.collect.usage import ebs_volumes
from server.costing.catalog import load_catalog
from server.costing.run_cost import MS_PER_HOUR, ClusterUsage, NodeUsage, cost_run, default_volumes
from server.domain import ProjectSettings
from server.plan.candidates import Pricing, build_candidates, pool_backing
from server.spec import config_from_spec, with_pool_disks

PRICING = Pricing(cloud="aws", region="us-east-1", plan="premium")
SPEC: dict[str, Any] = {"spark_version": "15.4.x-scala2.12", "instance_pool_id": "p-w", "num_workers": 4}


def _pools(disk_spec: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    pool = {"instance_pool_id": "p-w", "node_type_id": "m5.xlarge", "max_capacity": 20,
            "aws_attributes": {"availability": "ON_DEMAND"}}
    return {"p-w": {**pool, "disk_spec": disk_spec} if disk_spec else pool}


def _planned_price(pools: dict[str, dict[str, Any]], workers: int) -> float:
    current = config_from_spec(SPEC, pools, cloud="aws")
    pairs = build_candidates(current, ProjectSettings(), load_catalog(), PRICING, pool=pool_backing(SPEC, pools))
    (price,) = [c.price_per_hour for c, cfg in pairs if cfg.num_workers == workers]
    return price


def _charged_per_hour(pools: dict[str, dict[str, Any]], workers: int) -> float:
    """What run collection makes of an hour of the cluster: every node with the pool's disks (an hour of
    no month in particular, as the planner's: the catalog's average month, not January 1970's hours)."""
    volumes = ebs_volumes(with_pool_disks(SPEC, pools))
    nodes = [NodeUsage("m5.xlarge", i == 0, False, 0, MS_PER_HOUR, volumes) for i in range(workers + 1)]
    usage = ClusterUsage("aws", "us-east-1", "premium", "jobs", nodes, calendar_months=False)
    return cost_run(usage, load_catalog()).total


@pytest.mark.parametrize("disk_spec", [
    {"disk_type": {"ebs_volume_type": "GENERAL_PURPOSE_SSD"}, "disk_count": 2, "disk_size": 500},
    # gp3 with IOPS and throughput above what it includes: billed on their own lines.
    {"disk_type": {"ebs_volume_type": "GENERAL_PURPOSE_SSD"}, "disk_count": 1, "disk_size": 200,
     "disk_iops": 6000, "disk_throughput": 250},
])
def test_a_pool_backed_configuration_is_planned_at_what_its_runs_are_charged(disk_spec: dict[str, Any]) -> None:
    pools = _pools(disk_spec)
    for workers in (2, 4, 8):
        assert _planned_price(pools, workers) == pytest.approx(_charged_per_hour(pools, workers), rel=1e-9)


def test_the_pools_disks_are_what_the_price_adds() -> None:
    catalog = load_catalog()
    with_disks = _planned_price(_pools({"disk_type": {"ebs_volume_type": "GENERAL_PURPOSE_SSD"},
                                        "disk_count": 2, "disk_size": 500}), 4)
    without = _planned_price(_pools(None), 4)
    gp2 = catalog.ebs_price("aws", "us-east-1", "gp2").usd_per_gb_month
    # 5 nodes x 2 x 500 GB of gp2 for an hour; the default root volumes were priced before too.
    assert with_disks - without == pytest.approx(5 * 1000 * gp2 / catalog.hours_per_month, rel=1e-6)
    assert default_volumes("aws")  # both include them
