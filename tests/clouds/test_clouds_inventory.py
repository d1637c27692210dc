"""The cloud's instance list corrects a cluster timeline (market, type, volumes) before costing."""

from __future__ import annotations

import pytest

from sandbox.clouds.aws import AwsStandIn, SeededNode
from server.clouds.aws import AwsCredentials, AwsGateway
from server.costing.catalog import load_catalog
from server.costing.inventory import apply_inventory
from server.costing.run_cost import ClusterUsage, NodeUsage, cost_run

T0 = 1_750_000_000_000
HOUR = 3_600_000


def test_fallback_to_on_demand_and_real_volumes_change_the_cost(aws_stand_in: AwsStandIn, cluster_id: str) -> None:
    ids = aws_stand_in.seed_cluster(cluster_id, [
        SeededNode("m6i.2xlarge", False, [{"type": "gp3", "size_gb": 200, "count": 2}]),  # driver
        SeededNode("m6i.2xlarge", True, [{"type": "gp3", "size_gb": 200, "count": 2}]),
        SeededNode("m6i.2xlarge", False, [{"type": "gp3", "size_gb": 200, "count": 2}]),  # spot fell back
        SeededNode("m6i.2xlarge", True, []),  # not in the timeline (e.g. a node added after collection)
    ])
    spec_volumes = [{"type": "gp3", "size_gb": 100, "count": 1}]
    timeline = [NodeUsage("m6i.2xlarge", True, False, T0, T0 + HOUR, spec_volumes, ids["0"]),
                NodeUsage("m6i.2xlarge", False, True, T0, T0 + HOUR, spec_volumes, ids["1"]),
                NodeUsage("m6i.2xlarge", False, True, T0, T0 + HOUR, spec_volumes, ids["2"]),
                NodeUsage("m6i.2xlarge", False, True, T0, T0 + HOUR, spec_volumes, "worker-9")]
    gw = AwsGateway(AwsCredentials("testing", "testing", endpoint_url=aws_stand_in.endpoint_url))
    instances = gw.cluster_instances(cluster_id)
    check = apply_inventory(timeline, instances, gw.cluster_volumes(cluster_id, [i.instance_id for i in instances]))

    assert check.matched == 3
    assert [n.spot for n in check.nodes] == [False, True, False, True]
    assert check.nodes[0].ebs_volumes == [{"type": "gp3", "size_gb": 200, "count": 2, "iops": 3000,
                                           "throughput": 125}]
    assert check.nodes[3].ebs_volumes == spec_volumes  # no cloud record: the spec stands
    assert any("ran on-demand (the timeline said spot)" in n for n in check.notes)
    assert any(ids["3"] in n and "not priced" in n for n in check.notes)

    cat = load_catalog()
    before = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", timeline), cat)
    after = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", check.nodes), cat)
    od = cat.hourly_price("aws", "us-east-1", "m6i.2xlarge")
    spot_off = od * cat.spot_discount("aws", "m6i")
    assert after.compute_cost - before.compute_cost == pytest.approx(spot_off)  # one worker paid on-demand
    gb_hour = cat.ebs_price("aws", "us-east-1", "gp3").usd_per_gb_month / cat.hours_per_month
    assert after.storage_cost - before.storage_cost == pytest.approx(3 * (400 - 100) * gb_hour)
