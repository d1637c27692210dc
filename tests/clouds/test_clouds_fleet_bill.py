"""A fleet node (md-fleet.xlarge) is an EC2 instance of one of its members: the sandbox's AWS creates and
bills it as that instance, and a run's bill, once it lands, replaces the catalog's upper-bound estimate
(the fleet's dearest member) with what the instances that ran cost."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sandbox.clouds.aws import AwsStandIn
from sandbox.clouds.billing import CloudBilling
from sandbox.nodes import instance_type_of
from server.clouds.aws import AwsCredentials, AwsGateway
from server.costing.billing import AwsBill, list_price_rates, price_run
from server.costing.catalog import load_catalog
from tests.clouds.test_clouds_billing_observer import MIN, T0, sim_node, usage_of


def test_a_fleet_run_is_billed_as_the_member_it_launched_and_the_bill_prices_it(
        aws_stand_in: AwsStandIn, cluster_id: str, billing_reset: None) -> None:
    assert instance_type_of("md-fleet.xlarge") == "m5d.xlarge" and instance_type_of("m6id.xlarge") == "m6id.xlarge"
    sim = SimpleNamespace(cluster_id=cluster_id, nodes=[
        sim_node("i-d", "md-fleet.xlarge", True, False, 0, 60),
        sim_node("i-w1", "md-fleet.xlarge", False, False, 0, 60),
        sim_node("i-w2", "md-fleet.xlarge", False, True, 0, 60),
    ])
    cat = load_catalog()
    inst_rate, disk_rate = list_price_rates(cat, {"aws": "us-east-1"})
    billing = CloudBilling(aws=aws_stand_in, instance_rate=inst_rate, storage_rate=disk_rate)
    billing.observe(None, {"tasks": []}, sim, {})

    gw = AwsGateway(AwsCredentials("testing", "testing", endpoint_url=aws_stand_in.endpoint_url))
    assert {i.instance_type for i in gw.cluster_instances(cluster_id)} == {"m5d.xlarge"}
    lines = AwsBill(gw).cluster_bill(cluster_id, T0, T0 + 60 * MIN)
    assert {line.usage for line in lines if "Usage:" in line.usage and "EBS" not in line.usage} == \
        {"USE1-BoxUsage:m5d.xlarge", "USE1-SpotUsage:m5d.xlarge"}

    cost = price_run(usage_of(sim, "aws", "us-east-1"), cat, cluster_id=cluster_id, start_ms=T0,
                     end_ms=T0 + 60 * MIN, bill_source=AwsBill(gw), now_ms=T0 + 50 * 60 * MIN)
    m5d, m6id = (cat.hourly_price("aws", "us-east-1", t) for t in ("m5d.xlarge", "m6id.xlarge"))
    # The estimate: the fleet's dearest member (m6id), with the least of its members' spot discounts.
    spot_off = cat.spot_discount("aws", "md-fleet")
    assert cost.compute_cost == pytest.approx(2 * m6id + m6id * (1 - spot_off))
    # The bill: what the m5d instances cost, and it is what the run's total and the models use.
    billed_compute = 2 * m5d + m5d * (1 - cat.spot_discount("aws", "m5d"))
    assert cost.source == "billed" and cost.billed_cloud_cost == pytest.approx(billed_compute + cost.storage_cost)
    assert cost.total == pytest.approx(cost.dbu_cost + billed_compute + cost.storage_cost)
    assert cost.billed_cloud_cost < cost.compute_cost + cost.storage_cost
