"""Collection of a run on a spot pool (pure): the run's spec as it ran (`with_pool_node_types`) and
its timeline put the driver on spot when its pool is spot (the worker pool, without a driver pool),
whatever ``first_on_demand`` says: it does not apply to pool nodes. A pool-backed run's bill is
never read, so this estimate is final. AWS and Azure."""

from __future__ import annotations

from typing import Any

import pytest

from server.collect.build import with_pool_node_types
from server.collect.usage import cluster_timeline, cluster_usage
from server.costing.catalog import load_catalog
from server.costing.run_cost import cost_run
from server.spec import config_from_spec

T0 = 1_796_000_000_000
HOUR = 3_600_000
CLOUDS = [("aws", "us-east-1", "aws_attributes", "SPOT", "ON_DEMAND", "m5.xlarge"),
          ("azure", "eastus", "azure_attributes", "SPOT_AZURE", "ON_DEMAND_AZURE", "Standard_DS3_v2")]


def _spots(spec: dict[str, Any], cloud: str) -> list[tuple[str, bool]]:
    timeline = cluster_timeline(spec, [], fallback_start_ms=T0, fallback_end_ms=T0 + HOUR, cloud=cloud)
    return sorted((n.instance_id, n.spot) for n in timeline.nodes)


@pytest.mark.parametrize(("cloud", "region", "block", "spot", "on_demand", "node_type"), CLOUDS)
def test_the_driver_of_a_run_on_one_spot_pool_is_spot(cloud: str, region: str, block: str, spot: str,
                                                      on_demand: str, node_type: str) -> None:
    pools = {"p1": {"instance_pool_id": "p1", "node_type_id": node_type, block: {"availability": spot}}}
    spec = {"spark_version": "15.4.x-scala2.12", "instance_pool_id": "p1", "num_workers": 3}
    record = {"node_type_id": node_type, "driver_node_type_id": node_type, block: {"availability": spot}}
    ran = with_pool_node_types(spec, record, pools)
    assert all(s for _, s in _spots(ran, cloud))  # the driver too
    assert config_from_spec(ran, cloud=cloud).first_on_demand == 0
    # Read from the spec alone (a stored run's, a backfill's piece) the rule is the same, and a
    # first_on_demand the spec carries does not put a pool's driver on demand.
    assert all(s for _, s in _spots({**spec, block: {"availability": spot, "first_on_demand": 1}}, cloud))
    usage = cluster_usage(cluster_timeline(ran, [], fallback_start_ms=T0, fallback_end_ms=T0 + HOUR, cloud=cloud),
                          ran, cloud=cloud, region=region, plan="premium", input_bytes=None)
    lines = cost_run(usage, load_catalog()).lines
    assert len(lines) == 4 and all(line.spot for line in lines)


@pytest.mark.parametrize(("cloud", "region", "block", "spot", "on_demand", "node_type"), CLOUDS)
def test_a_driver_pool_of_its_own_decides_the_drivers_availability(
        cloud: str, region: str, block: str, spot: str, on_demand: str, node_type: str) -> None:
    pools = {"w": {"instance_pool_id": "w", "node_type_id": node_type, block: {"availability": spot}},
             "d": {"instance_pool_id": "d", "node_type_id": node_type, block: {"availability": on_demand}},
             "s": {"instance_pool_id": "s", "node_type_id": node_type, block: {"availability": spot}}}
    record = {"node_type_id": node_type, "driver_node_type_id": node_type, block: {"availability": spot}}
    spec = {"spark_version": "15.4.x-scala2.12", "instance_pool_id": "w", "num_workers": 2}
    on_demand_driver = with_pool_node_types({**spec, "driver_instance_pool_id": "d"}, record, pools)
    assert _spots(on_demand_driver, cloud) == [("driver", False), ("worker-1", True), ("worker-2", True)]
    spot_driver = with_pool_node_types({**spec, "driver_instance_pool_id": "s"}, record, pools)
    assert all(s for _, s in _spots(spot_driver, cloud))
