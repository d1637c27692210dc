"""The sandbox's run observer seeds the stand-ins; late bills make runs re-costed when they land."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sandbox.clouds.aws import AwsStandIn
from sandbox.clouds.azure import AzureStandIn
from sandbox.clouds.billing import AWS_DEFAULT_VOLUMES, CloudBilling
from server.clouds.aws import AwsCredentials, AwsGateway
from server.clouds.azure import AzureCostGateway, AzureCredentials
from server.costing.billing import (
    NOTE_NOT_LANDED,
    AwsBill,
    AzureBill,
    list_price_rates,
    price_run,
    should_recost,
)
from server.costing.catalog import load_catalog
from server.costing.run_cost import ClusterUsage, NodeUsage, default_volumes

T0 = 1_750_000_000_000
MIN = 60_000
HOUR = 3_600_000


class FakeNow:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def sim_node(iid: str, nt: str, driver: bool, spot: bool, start_min: float, end_min: float,
             volumes: list | None = None, lost: bool = False) -> SimpleNamespace:
    return SimpleNamespace(instance_id=iid, node_type_id=nt, is_driver=driver, spot=spot, private_ip="10.0.0.1",
                           start_ms=int(T0 + start_min * MIN), end_ms=int(T0 + end_min * MIN), lost=lost,
                           ebs_volumes=volumes or [])


def usage_of(sim: SimpleNamespace, cloud: str, region: str) -> ClusterUsage:
    """What run collection builds from the cluster timeline."""
    nodes = [NodeUsage(n.node_type_id, n.is_driver, n.spot, n.start_ms, n.end_ms, n.ebs_volumes, n.instance_id)
             for n in sim.nodes]
    return ClusterUsage(cloud, region, "premium", "jobs", nodes)


def test_aws_run_is_seeded_and_its_late_bill_lands(aws_stand_in: AwsStandIn, cluster_id: str,
                                                   billing_reset: None) -> None:
    gp3 = [{"type": "gp3", "size_gb": 100, "count": 1}]
    sim = SimpleNamespace(cluster_id=cluster_id, nodes=[
        sim_node("i-d", "m5.2xlarge", True, False, 0, 70, gp3),
        sim_node("i-w1", "m5.2xlarge", False, True, 2, 70, gp3),
        sim_node("i-w2", "m5.2xlarge", False, True, 2, 31, gp3, lost=True),  # spot loss
        sim_node("i-w3", "m5.2xlarge", False, True, 36, 70, gp3),  # its replacement
    ])
    now = FakeNow(T0 / 1000 + 70 * 60)
    cat = load_catalog()
    inst_rate, disk_rate = list_price_rates(cat, {"aws": "us-east-1"})
    billing = CloudBilling(aws=aws_stand_in, instance_rate=inst_rate, storage_rate=disk_rate, delay_s=4 * 3600,
                           now=now)
    observers: list = []
    billing.attach(SimpleNamespace(add_run_observer=observers.append))
    observers[0](None, {"tasks": []}, sim, {"custom_tags": {"team": "ml"}})

    gw = AwsGateway(AwsCredentials("testing", "testing", endpoint_url=aws_stand_in.endpoint_url))
    instances = gw.cluster_instances(cluster_id)
    assert sorted(i.tags["SandboxInstanceId"] for i in instances) == ["i-d", "i-w1", "i-w2", "i-w3"]
    assert {i.state for i in instances} == {"terminated"} and all(i.tags["team"] == "ml" for i in instances)

    usage = usage_of(sim, "aws", "us-east-1")
    run_end = T0 + 70 * MIN
    first = price_run(usage, cat, cluster_id=cluster_id, start_ms=T0, end_ms=run_end, bill_source=AwsBill(gw))
    assert first.source == "estimate" and first.note == NOTE_NOT_LANDED
    assert billing.pending == 1
    assert should_recost(first, run_end, int(now() * 1000), has_credentials=True)

    now.t += 4 * 3600  # the bill lands four hours later
    second = price_run(usage, cat, cluster_id=cluster_id, start_ms=T0, end_ms=run_end, bill_source=AwsBill(gw))
    assert billing.pending == 0
    assert second.source == "billed" and second.used_by_models == "billed"
    # The stand-in bills at catalog list prices, so bill and estimate agree here.
    assert second.billed_cloud_cost == pytest.approx(first.compute_cost + first.storage_cost)
    # Both carry Databricks' default volumes (30 + 150 GB per node, gp2; the spec's are gp3): the
    # nodes were up 70 + 68 + 29 + 34 = 201 min = 3.35 h, so 180 GB x $0.10/GB-month x 3.35 h / 720 h
    # (June 2025's: AWS prorates a GB-month over the month's hours) = $0.08375 on the bill's gp2 line,
    # and in the estimate beside the gp3 volumes'.
    lines = AwsBill(gw).cluster_bill(cluster_id, T0, run_end)
    assert sum(line.amount for line in lines if line.usage == "USE1-EBS:VolumeUsage.gp2") == pytest.approx(0.08375,
                                                                                                        abs=1e-6)
    gp3_volumes = 100 * 0.08 * 3.35 / 720
    assert first.storage_cost == pytest.approx(0.08375 + gp3_volumes, abs=1e-6)
    assert second.dbu_cost == first.dbu_cost
    assert not should_recost(second, run_end, int(now() * 1000), has_credentials=True)


def test_azure_run_bill_goes_to_cost_management(azure_stand_in: AzureStandIn, cluster_id: str) -> None:
    sim = SimpleNamespace(cluster_id=cluster_id, nodes=[
        sim_node("vm-d", "Standard_D8s_v5", True, False, 0, 45),
        sim_node("vm-w1", "Standard_D8s_v5", False, True, 1, 45),
        sim_node("vm-w2", "Standard_D8s_v5", False, True, 1, 0.5 + 1),  # evicted at once: billed per second
    ])
    cat = load_catalog()
    inst_rate, disk_rate = list_price_rates(cat, {"azure": "eastus"})
    billing = CloudBilling(azure=azure_stand_in, instance_rate=inst_rate, storage_rate=disk_rate)
    billing.observe(None, None, sim, {})
    gw = AzureCostGateway(AzureCredentials(azure_stand_in.subscription_id, access_token=azure_stand_in.token,
                                           base_url=azure_stand_in.base_url, ca_bundle=str(azure_stand_in.cert_path)))
    cost = price_run(usage_of(sim, "azure", "eastus"), cat, cluster_id=cluster_id, start_ms=T0,
                     end_ms=T0 + 45 * MIN, bill_source=AzureBill(gw), now_ms=T0 + 50 * 60 * MIN)  # past the settle time: an Azure bill is final only then
    on_demand = cat.hourly_price("azure", "eastus", "Standard_D8s_v5")
    spot = on_demand * (1 - cat.spot_discount("azure", "Dsv5"))
    assert cost.source == "billed"
    assert cost.billed_cloud_cost == pytest.approx(on_demand * 0.75 + spot * (44 + 0.5) / 60)


def test_the_sandbox_bills_the_default_volumes_trimtab_prices() -> None:
    # The sandbox stands for AWS and never imports Trimtab, so each has its own copy of the docs' rule.
    assert list(AWS_DEFAULT_VOLUMES) == default_volumes("aws")
    assert default_volumes("azure") == []
