"""A credit or refund on a cluster's day is the billing account's, not what the run's resources cost:
the bill read through the real gateways (moto Cost Explorer, the Cost Management stand-in) leaves it
out, while amortized Savings Plan and Reserved Instance hours still count.

Before, Cost Explorer was asked with no RECORD_TYPE filter: a 30% credit line read the run (and its
configuration, for the models) 30% cheaper; Azure's refunds (ChargeType) likewise."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from sandbox.clouds.aws import AwsStandIn, CostLineItem
from sandbox.clouds.azure import AzureCostRow, AzureStandIn
from sandbox.clouds.billing import CloudBilling
from server.clouds.aws import AwsCredentials, AwsGateway
from server.clouds.azure import AzureCostGateway, AzureCredentials
from server.costing.billing import AwsBill, AzureBill, list_price_rates, price_run
from server.costing.catalog import load_catalog
from server.costing.run_cost import ClusterUsage, NodeUsage

T0 = 1_750_000_000_000  # 2025-06-15 15:06 UTC
MIN = 60_000
HOUR = 3_600_000
DAY = date(2025, 6, 15)


def _node(iid: str, driver: bool, spot: bool, node_type: str, volumes: list | None = None) -> SimpleNamespace:
    return SimpleNamespace(instance_id=iid, node_type_id=node_type, is_driver=driver, spot=spot,
                           private_ip="10.0.0.1", start_ms=T0, end_ms=T0 + 50 * MIN, lost=False,
                           ebs_volumes=volumes or [])


def _usage(sim: SimpleNamespace, cloud: str, region: str) -> ClusterUsage:
    return ClusterUsage(cloud, region, "premium", "jobs",
                        [NodeUsage(n.node_type_id, n.is_driver, n.spot, n.start_ms, n.end_ms, n.ebs_volumes,
                                   n.instance_id) for n in sim.nodes])


def _aws(stand_in: AwsStandIn) -> AwsGateway:
    return AwsGateway(AwsCredentials("testing", "testing", endpoint_url=stand_in.endpoint_url))


def test_an_aws_run_whose_day_carries_a_credit_reads_its_usage_cost(aws_stand_in: AwsStandIn, cluster_id: str,
                                                                   billing_reset: None) -> None:
    gp3 = [{"type": "gp3", "size_gb": 100, "count": 1}]
    sim = SimpleNamespace(cluster_id=cluster_id, nodes=[_node("i-d", True, False, "m5.xlarge", gp3),
                                                         _node("i-w", False, True, "m5.xlarge", gp3)])
    cat = load_catalog()
    inst_rate, disk_rate = list_price_rates(cat, {"aws": "us-east-1"})
    # Credits pay 30% of every charge, line by line, as promotional or EDP credits are applied.
    CloudBilling(aws=aws_stand_in, instance_rate=inst_rate, storage_rate=disk_rate,
                 credit_share=0.3).observe(None, None, sim, {})
    gw = _aws(aws_stand_in)
    cost = price_run(_usage(sim, "aws", "us-east-1"), cat, cluster_id=cluster_id, start_ms=T0,
                     end_ms=T0 + 50 * MIN, bill_source=AwsBill(gw))
    assert cost.source == "billed"
    # The stand-in bills at list prices: the bill is the estimate, not 70% of it.
    assert cost.billed_cloud_cost == pytest.approx(cost.compute_cost + cost.storage_cost)
    # The credit lines are there, on the same usage types and tags: the query leaves them out.
    everything = aws_stand_in.client("ce").get_cost_and_usage(**_by_record_type(cluster_id))
    groups = everything["ResultsByTime"][0]["Groups"]
    assert {g["Keys"][1] for g in groups} == {"Usage", "Credit"}


def _by_record_type(cluster_id: str) -> dict:
    return {"TimePeriod": {"Start": "2025-06-15", "End": "2025-06-16"}, "Granularity": "DAILY",
            "Metrics": ["AmortizedCost"],
            "Filter": {"Tags": {"Key": "ClusterId", "Values": [cluster_id], "MatchOptions": ["EQUALS"]}},
            "GroupBy": [{"Type": "TAG", "Key": "ClusterId"}, {"Type": "DIMENSION", "Key": "RECORD_TYPE"}]}


def test_refunds_are_left_out_and_savings_plan_and_reserved_hours_still_count(aws_stand_in: AwsStandIn,
                                                                             cluster_id: str) -> None:
    tags = {"Vendor": "Databricks", "ClusterId": cluster_id}
    # Hours a Savings Plan or a Reserved Instance covered: ~0 unblended, their share of the commitment
    # amortized; the plan's negation line reads 0 amortized. These are what the hours cost.
    aws_stand_in.add_cost(CostLineItem(DAY, "USE1-BoxUsage:m5.xlarge", 0.15, tags, unblended=0.0,
                                       record_type="SavingsPlanCoveredUsage"))
    aws_stand_in.add_cost(CostLineItem(DAY, "USE1-BoxUsage:m5.xlarge", 0.0, tags, record_type="SavingsPlanNegation"))
    aws_stand_in.add_cost(CostLineItem(DAY, "USE1-BoxUsage:r5.xlarge", 0.20, tags, unblended=0.0,
                                       record_type="DiscountedUsage"))
    aws_stand_in.add_cost(CostLineItem(DAY, "USE1-EBS:VolumeUsage.gp3", 0.05, tags, service="EC2 - Other"))
    # A refund larger than the day's charges: was a refused bill (the day netted negative).
    aws_stand_in.add_cost(CostLineItem(DAY, "USE1-BoxUsage:m5.xlarge", -1.00, tags, record_type="Refund"))
    aws_stand_in.add_cost(CostLineItem(DAY, "USE1-BoxUsage:r5.xlarge", -0.10, tags, record_type="Credit"))
    usage = ClusterUsage("aws", "us-east-1", "premium", "jobs", [NodeUsage("m5.xlarge", True, False, T0, T0 + HOUR)])
    cost = price_run(usage, load_catalog(), cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR,
                     bill_source=AwsBill(_aws(aws_stand_in)))
    assert cost.source == "billed", cost.note
    assert cost.billed_cloud_cost == pytest.approx(0.40)


def test_an_azure_run_whose_day_carries_a_refund_reads_its_usage_cost(azure_stand_in: AzureStandIn,
                                                                     cluster_id: str) -> None:
    sim = SimpleNamespace(cluster_id=cluster_id, nodes=[_node("vm-d", True, False, "Standard_D8s_v5"),
                                                         _node("vm-w", False, True, "Standard_D8s_v5")])
    cat = load_catalog()
    inst_rate, disk_rate = list_price_rates(cat, {"azure": "eastus"})
    CloudBilling(azure=azure_stand_in, instance_rate=inst_rate, storage_rate=disk_rate,
                 credit_share=0.3).observe(None, None, sim, {})
    # An amortized reservation hour is a Usage row (its share of the reservation): it counts.
    azure_stand_in.add_cost(AzureCostRow(DAY, "Virtual Machines", 0.25, {"Vendor": "Databricks",
                                                                       "ClusterId": cluster_id}, actual_cost=0.0))
    gw = AzureCostGateway(AzureCredentials(azure_stand_in.subscription_id, access_token=azure_stand_in.token,
                                           base_url=azure_stand_in.base_url, ca_bundle=str(azure_stand_in.cert_path)))
    cost = price_run(_usage(sim, "azure", "eastus"), cat, cluster_id=cluster_id, start_ms=T0, end_ms=T0 + 50 * MIN,
                     bill_source=AzureBill(gw), now_ms=T0 + 60 * HOUR)  # past the settle time: final
    on_demand = cat.hourly_price("azure", "eastus", "Standard_D8s_v5")
    spot = on_demand * (1 - cat.spot_discount("azure", "Dsv5"))
    assert cost.source == "billed"
    assert cost.billed_cloud_cost == pytest.approx((on_demand + spot) * 50 / 60 + 0.25)
