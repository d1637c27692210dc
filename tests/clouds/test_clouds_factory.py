"""Stored cloud credentials become a working bill source, or a clear error."""

from __future__ import annotations

import json
from datetime import date

import pytest

from sandbox.clouds.aws import AwsStandIn, CostLineItem
from sandbox.clouds.azure import AzureCostRow, AzureStandIn
from server.clouds.factory import bill_source, parse_cloud_credentials
from server.errors import InvalidArgument

T0 = 1_750_000_000_000


def test_aws_and_azure_credentials_reach_their_stand_ins(aws_stand_in: AwsStandIn, azure_stand_in: AzureStandIn,
                                                         cluster_id: str) -> None:
    tags = {"Vendor": "Databricks", "ClusterId": cluster_id}
    aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-BoxUsage:m5.xlarge", 0.4, tags))
    azure_stand_in.add_cost(AzureCostRow(date(2025, 6, 15), "Virtual Machines", 0.7, tags))
    aws = bill_source("aws", json.dumps({"access_key_id": "testing", "secret_access_key": "testing",
                                         "endpoint_url": aws_stand_in.endpoint_url}))
    azure = bill_source("azure", json.dumps({"subscription_id": azure_stand_in.subscription_id,
                                             "access_token": azure_stand_in.token,
                                             "base_url": azure_stand_in.base_url,
                                             "ca_bundle": str(azure_stand_in.cert_path)}))
    assert aws is not None and azure is not None
    assert [line.amount for line in aws.cluster_bill(cluster_id, T0, T0 + 1000)] == [0.4]
    assert [line.amount for line in azure.cluster_bill(cluster_id, T0, T0 + 1000)] == [0.7]
    assert bill_source("aws", "") is None


@pytest.mark.parametrize("cloud,text,message", [
    ("aws", "{nope", "not valid JSON"),
    ("aws", json.dumps({"access_key_id": "a"}), "missing secret_access_key"),
    ("aws", json.dumps({"access_key_id": "a", "secret_access_key": "b", "regoin": "x"}), "unknown keys regoin"),
    ("azure", json.dumps({"subscription_id": "s"}), "need access_token"),
    ("azure", json.dumps({"subscription_id": "s", "access_token": 5}), "must be strings"),
    ("gcp", "{}", "aws or azure"),
])
def test_bad_credentials_are_named(cloud: str, text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_cloud_credentials(cloud, text)


def test_secrets_do_not_show_in_repr() -> None:
    creds = parse_cloud_credentials("aws", json.dumps({"access_key_id": "AKIA1", "secret_access_key": "s3cr3t"}))
    assert "s3cr3t" not in repr(creds)


def test_cloud_stack_hands_out_credentials_that_reach_its_stand_ins(aws_stand_in: AwsStandIn,
                                                                    cluster_id: str) -> None:
    from types import SimpleNamespace

    from sandbox.clouds.stack import CloudStack

    stack = CloudStack.start(lambda cloud, nt, spot: 1.0, lambda cloud, vt: 0.0)
    try:
        observers: list = []
        stack.attach(SimpleNamespace(add_run_observer=observers.append))
        node = SimpleNamespace(instance_id="i-1", node_type_id="m5.xlarge", is_driver=True, spot=False,
                               start_ms=T0, end_ms=T0 + 1_800_000, ebs_volumes=[])
        observers[0](None, None, SimpleNamespace(cluster_id=cluster_id, nodes=[node]), {})
        lines = bill_source("aws", stack.credentials_json("aws")).cluster_bill(cluster_id, T0, T0 + 1_800_000)
        # 1 $/h for 30 min; the node's default root volumes at this stack's $0/GB-month.
        assert sorted((line.category, line.amount) for line in lines) == [("compute", 0.5), ("storage", 0.0)]
        azure = bill_source("azure", stack.credentials_json("azure"))
        assert azure is not None and azure.cluster_bill(cluster_id, T0, T0 + 1_800_000) == []
    finally:
        stack.stop()
    # The session's stand-in answers Cost Explorer again once the stack's one is gone.
    tags = {"Vendor": "Databricks", "ClusterId": f"{cluster_id}-after"}
    aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-BoxUsage:m5.xlarge", 0.25, tags))
    source = bill_source("aws", json.dumps({"access_key_id": "testing", "secret_access_key": "testing",
                                            "endpoint_url": aws_stand_in.endpoint_url}))
    assert [line.amount for line in source.cluster_bill(f"{cluster_id}-after", T0, T0 + 1000)] == [0.25]
