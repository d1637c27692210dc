"""A spot pool's driver (pure): without ``driver_instance_pool_id`` Databricks takes the driver from
the worker pool (Clusters API: "The pool cluster uses the instance pool with id (instance_pool_id) if
the driver pool is not assigned"), so on a spot pool it is a spot instance; ``first_on_demand`` does
not apply to pool nodes. The planner's configuration, its candidates' prices and their labels follow
the driver pool's availability, on AWS and on Azure."""

from __future__ import annotations

from typing import Any

import pytest

from server.collect.usage import NodeUsage
from server.costing.catalog import load_catalog
from server.costing.run_cost import ClusterUsage, cost_run, hourly_cost
from server.domain import ProjectSettings
from server.plan.candidates import Pricing, build_candidates, pool_backing
from server.spec import config_from_spec, config_label

HOUR = 3_600_000


def _all_nodes(node_type: str, workers: int, *, cloud: str, region: str, driver_spot: bool) -> float:
    nodes = [NodeUsage(node_type, True, driver_spot, 0, HOUR, [])] + \
        [NodeUsage(node_type, False, True, 0, HOUR, []) for _ in range(workers)]
    # An hour of no month, as the planner prices one (`hourly_cost`: the catalog's 730 hours a month).
    return cost_run(ClusterUsage(cloud, region, "premium", "jobs", nodes, calendar_months=False), load_catalog()).total


@pytest.mark.parametrize(("cloud", "region", "block", "spot", "on_demand", "node_type"), [
    ("aws", "us-east-1", "aws_attributes", "SPOT", "ON_DEMAND", "m5.xlarge"),
    ("azure", "eastus", "azure_attributes", "SPOT_AZURE", "ON_DEMAND_AZURE", "Standard_DS3_v2"),
])
def test_a_spot_pools_driver_is_priced_spot_unless_its_own_pool_is_on_demand(
        cloud: str, region: str, block: str, spot: str, on_demand: str, node_type: str) -> None:
    catalog = load_catalog()
    pricing = Pricing(cloud=cloud, region=region, plan="premium")
    pools: dict[str, dict[str, Any]] = {
        "w": {"instance_pool_id": "w", "node_type_id": node_type, block: {"availability": spot}},
        "d": {"instance_pool_id": "d", "node_type_id": node_type, block: {"availability": on_demand}}}
    # The spec's own first_on_demand 1 (Terraform writes one) does not apply to the pool's nodes.
    spec = {"spark_version": "15.4.x-scala2.12", "instance_pool_id": "w", "num_workers": 3,
            block: {"first_on_demand": 1}}
    one_pool = config_from_spec(spec, pools, cloud=cloud)
    assert (one_pool.availability, one_pool.first_on_demand) == ("SPOT", 0)
    assert config_label(one_pool) == f"{node_type} x 3 workers, spot (the driver too)"
    assert hourly_cost(one_pool, cloud, region, "premium", "jobs", catalog) == \
        pytest.approx(_all_nodes(node_type, 3, cloud=cloud, region=region, driver_spot=True))
    candidates = build_candidates(one_pool, ProjectSettings(spot_allowed=True), catalog, pricing,
                                  pool=pool_backing(spec, pools))
    three = [c for c, cfg in candidates if cfg.num_workers == 3]
    assert three and three[0].price_per_hour == \
        pytest.approx(_all_nodes(node_type, 3, cloud=cloud, region=region, driver_spot=True))
    assert all("on demand" not in c.label for c, _ in candidates)
    # A driver pool of its own that is on demand: the driver on demand, the workers spot.
    own_driver = config_from_spec({**spec, "driver_instance_pool_id": "d"}, pools, cloud=cloud)
    assert (own_driver.availability, own_driver.first_on_demand) == ("SPOT", 1)
    assert hourly_cost(own_driver, cloud, region, "premium", "jobs", catalog) == \
        pytest.approx(_all_nodes(node_type, 3, cloud=cloud, region=region, driver_spot=False))
