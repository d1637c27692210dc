"""AWS through a moto server with the real boto3: EC2, EBS and Cost Explorer."""

from __future__ import annotations

import math
import socket
from datetime import date

import pytest
from botocore.exceptions import ClientError

from sandbox.clouds.aws import AwsStandIn, CostLineItem, SeededNode
from server.clouds.aws import AwsCredentials, AwsGateway, default_credentials
from server.costing.billing import NOTE_NO_CREDENTIALS, AwsBill, price_run
from server.costing.catalog import load_catalog
from server.costing.errors import MalformedBill
from server.costing.reconcile import parse_aws_cost_pages, sum_bill
from server.costing.run_cost import ClusterUsage, NodeUsage

T0 = 1_750_000_000_000  # 2025-06-15 15:06:40 UTC
HOUR = 3_600_000


def gateway(stand_in: AwsStandIn, **kwargs: int) -> AwsGateway:
    return AwsGateway(AwsCredentials("testing", "testing", endpoint_url=stand_in.endpoint_url), **kwargs)


def test_instances_and_volumes_are_found_by_cluster_tag_across_pages(aws_stand_in: AwsStandIn,
                                                                      cluster_id: str) -> None:
    nodes = [SeededNode("r5.xlarge", False, [{"type": "gp3", "size_gb": 100, "count": 2}], "driver")]
    nodes += [SeededNode("r5.xlarge", i % 3 != 0, [{"type": "gp2", "size_gb": 50, "count": 1}], f"w{i}")
              for i in range(11)]
    ids = aws_stand_in.seed_cluster(cluster_id, nodes, {"team": "etl"})
    aws_stand_in.seed_cluster(f"{cluster_id}-other", [SeededNode("m5.xlarge", False, [{"type": "gp3",
                                                                                      "size_gb": 10}])])

    gw = gateway(aws_stand_in, page_size=5)  # 12 instances: three pages
    instances = gw.cluster_instances(cluster_id)
    assert sorted(i.instance_id for i in instances) == sorted(ids.values())
    by_sandbox_id = {i.tags["SandboxInstanceId"]: i for i in instances}
    assert all(i.tags["team"] == "etl" and i.tags["Vendor"] == "Databricks" for i in instances)
    assert [by_sandbox_id[f"w{i}"].spot for i in range(11)] == [i % 3 != 0 for i in range(11)]
    assert not by_sandbox_id["driver"].spot and by_sandbox_id["driver"].instance_type == "r5.xlarge"

    volumes = gw.cluster_volumes(cluster_id, [i.instance_id for i in instances])
    # moto's untagged 8 GiB root volumes are not the cluster's EBS volumes and are left out.
    assert len(volumes) == 2 + 11
    driver_vols = [v for v in volumes if v.instance_id == ids["driver"]]
    assert [(v.volume_type, v.size_gb) for v in driver_vols] == [("gp3", 100), ("gp3", 100)]
    assert sum(v.size_gb for v in volumes if v.volume_type == "gp2") == 11 * 50


def test_large_cluster_volume_lookup_is_chunked_below_ec2_filter_limit(aws_stand_in: AwsStandIn,
                                                                       cluster_id: str) -> None:
    # 230 instances; volumes on a few spread over both chunks of ids (first, last, either side of 199).
    with_volume = {0, 100, 198, 199, 200, 229}
    nodes = [SeededNode("c5.xlarge", True, [{"type": "gp3", "size_gb": 32}] if i in with_volume else [])
             for i in range(230)]
    ids = aws_stand_in.seed_cluster(cluster_id, nodes)
    # EC2 (and the stand-in) refuse more than 200 values in one filter...
    with pytest.raises(ClientError, match="FilterLimitExceeded"):
        aws_stand_in.client("ec2").describe_volumes(
            Filters=[{"Name": "attachment.instance-id", "Values": list(ids.values())}])
    # ...so the gateway sends them in chunks and still finds every volume.
    gw = gateway(aws_stand_in)
    instances = gw.cluster_instances(cluster_id)
    assert len(instances) == 230
    volumes = gw.cluster_volumes(cluster_id, [i.instance_id for i in instances])
    assert {v.instance_id for v in volumes} == {ids[str(i)] for i in with_volume}


def test_cost_explorer_bill_is_the_clusters_own_split_into_compute_and_storage(aws_stand_in: AwsStandIn,
                                                                                cluster_id: str) -> None:
    tags = {"Vendor": "Databricks", "ClusterId": cluster_id}
    d1, d2 = date(2025, 6, 15), date(2025, 6, 16)
    aws_stand_in.add_cost(CostLineItem(d1, "USE1-BoxUsage:m5.xlarge", 1.25, tags))
    aws_stand_in.add_cost(CostLineItem(d1, "USE1-SpotUsage:m5.xlarge", 0.75, tags))
    aws_stand_in.add_cost(CostLineItem(d2, "USE1-SpotUsage:m5.xlarge", 0.5, tags))
    aws_stand_in.add_cost(CostLineItem(d2, "USE1-EBS:VolumeUsage.gp3", 0.125, tags, service="EC2 - Other"))
    aws_stand_in.add_cost(CostLineItem(d1, "USE1-DataTransfer-Regional-Bytes", 0.01, tags))
    aws_stand_in.add_cost(CostLineItem(d1, "USE1-BoxUsage:m5.xlarge", 99.0,
                                       {"Vendor": "Databricks", "ClusterId": f"{cluster_id}-other"}))
    aws_stand_in.add_cost(CostLineItem(date(2025, 6, 20), "USE1-BoxUsage:m5.xlarge", 7.0, tags))  # not the run's days

    pages = gateway(aws_stand_in).cluster_cost_pages(cluster_id, T0, T0 + 10 * HOUR)  # crosses midnight UTC
    assert len(pages) == 2  # the stand-in pages one day at a time: NextPageToken was followed
    billed = sum_bill(parse_aws_cost_pages(pages, cluster_id), "USD")
    assert billed.compute == pytest.approx(1.25 + 0.75 + 0.5)
    assert billed.storage == pytest.approx(0.125)
    assert billed.other == pytest.approx(0.01)


def _usage() -> ClusterUsage:
    nodes = [NodeUsage("m5.xlarge", True, False, T0, T0 + HOUR, [{"type": "gp3", "size_gb": 100, "count": 1}])]
    nodes += [NodeUsage("m5.xlarge", False, True, T0, T0 + HOUR) for _ in range(2)]
    return ClusterUsage("aws", "us-east-1", "premium", "jobs", nodes, input_bytes=10**10)


def test_missing_or_unreachable_credentials_fall_back_to_the_estimate(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path, cluster_id: str) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert default_credentials() is None

    cat = load_catalog()
    cost = price_run(_usage(), cat, cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR, bill_source=None)
    assert cost.source == "estimate" and cost.used_by_models == "estimate" and cost.billed_cloud_cost is None
    assert NOTE_NO_CREDENTIALS in cost.note
    assert cost.total == pytest.approx(cost.dbu_cost + cost.compute_cost + cost.storage_cost)

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = AwsGateway(AwsCredentials("k", "s", endpoint_url=f"http://127.0.0.1:{port}"), max_attempts=1)
    cost = price_run(_usage(), cat, cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR, bill_source=AwsBill(dead))
    assert cost.source == "estimate" and "cloud bill not read" in cost.note


def test_billed_amount_is_used_and_shown_beside_the_estimate(aws_stand_in: AwsStandIn, cluster_id: str) -> None:
    tags = {"Vendor": "Databricks", "ClusterId": cluster_id}
    aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-BoxUsage:m5.xlarge", 0.30, tags))
    aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-SpotUsage:m5.xlarge", 0.20, tags))
    aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-EBS:VolumeUsage.gp3", 0.02, tags))
    cost = price_run(_usage(), load_catalog(), cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR,
                     bill_source=AwsBill(gateway(aws_stand_in)))
    assert cost.source == "billed" and cost.used_by_models == "billed"
    assert cost.billed_cloud_cost == pytest.approx(0.52)
    assert cost.total == pytest.approx(cost.dbu_cost + 0.52)
    assert cost.cost_per_input_gb == pytest.approx(cost.total / 10)
    assert cost.compute_cost > 0.2 and cost.storage_cost > 0  # the estimate stays beside the bill


def test_malformed_bill_is_rejected(aws_stand_in: AwsStandIn, cluster_id: str) -> None:
    aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-BoxUsage:m5.xlarge", math.nan,
                                       {"Vendor": "Databricks", "ClusterId": cluster_id}))
    with pytest.raises(MalformedBill, match="not a finite number"):
        price_run(_usage(), load_catalog(), cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR,
                  bill_source=AwsBill(gateway(aws_stand_in)))
