"""Cost review: the AWS stand-in spread a GB-month over 730 hours; AWS prorates it over the hours of the
month the volume was up in (744 in January, 672 in February 2027), as Trimtab's estimate now does
(tests/costing/test_costusage_calendar_month.py). Bill lines read back through Cost Explorer (moto)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from sandbox.clouds.aws import AwsStandIn
from sandbox.clouds.billing import CloudBilling
from server.clouds.aws import AwsCredentials, AwsGateway
from server.costing.billing import AwsBill, list_price_rates, price_run
from server.costing.catalog import load_catalog
from server.costing.run_cost import ClusterUsage, NodeUsage

H = 3_600_000
START = int(datetime(2027, 1, 31, 23, tzinfo=UTC).timestamp() * 1000)  # an hour of January, one of February


def test_a_volume_is_billed_over_its_months_hours_as_estimated(aws_stand_in: AwsStandIn, cluster_id: str,
                                                                billing_reset: None) -> None:
    volume = {"type": "gp2", "size_gb": 100, "count": 1}
    node = SimpleNamespace(instance_id="i-d", node_type_id="m5.xlarge", is_driver=True, spot=False,
                           private_ip="10.0.0.1", start_ms=START, end_ms=START + 2 * H, lost=False,
                           ebs_volumes=[volume])
    cat = load_catalog()
    inst_rate, disk_rate = list_price_rates(cat, {"aws": "us-east-1"})
    billing = CloudBilling(aws=aws_stand_in, instance_rate=inst_rate, storage_rate=disk_rate)
    billing.observe(None, None, SimpleNamespace(cluster_id=cluster_id, nodes=[node]), {})

    gw = AwsGateway(AwsCredentials("testing", "testing", endpoint_url=aws_stand_in.endpoint_url))
    lines = AwsBill(gw).cluster_bill(cluster_id, START, START + 2 * H)
    # (30 + 150 default + 100) GB x $0.10 x (1 h / 744 + 1 h / 672) = $0.07930 (before: 2 h / 730 = $0.07671).
    assert sum(line.amount for line in lines if line.usage == "USE1-EBS:VolumeUsage.gp2") == \
        pytest.approx(280 * 0.10 * (1 / 744 + 1 / 672))
    usage = ClusterUsage("aws", "us-east-1", "premium", "jobs", [NodeUsage(
        "m5.xlarge", True, False, START, START + 2 * H, [volume], "i-d")])
    cost = price_run(usage, cat, cluster_id=cluster_id, start_ms=START, end_ms=START + 2 * H, bill_source=AwsBill(gw))
    assert cost.source == "billed"
    assert cost.billed_cloud_cost == pytest.approx(cost.compute_cost + cost.storage_cost)
