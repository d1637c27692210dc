"""Azure through the HTTPS stand-in with the real azure-mgmt-costmanagement client."""

from __future__ import annotations

from datetime import date

import pytest

from sandbox.clouds.azure import AzureCostRow, AzureStandIn
from server.clouds.azure import AzureCostGateway, AzureCredentials
from server.costing.billing import AzureBill, price_run
from server.costing.catalog import load_catalog
from server.costing.errors import MalformedBill
from server.costing.reconcile import parse_azure_query, sum_bill
from server.costing.run_cost import ClusterUsage, NodeUsage
from server.errors import FailedPrecondition, Unavailable

T0 = 1_750_000_000_000  # 2025-06-15 15:06:40 UTC
HOUR = 3_600_000


def creds(stand_in: AzureStandIn, **over: str | None) -> AzureCredentials:
    values: dict = {"subscription_id": stand_in.subscription_id, "access_token": stand_in.token,
                    "base_url": stand_in.base_url, "ca_bundle": str(stand_in.cert_path)}
    values.update(over)
    return AzureCredentials(**values)


def seed(stand_in: AzureStandIn, cluster_id: str) -> None:
    tags = {"Vendor": "Databricks", "ClusterId": cluster_id, "team": "etl"}
    stand_in.add_cost(AzureCostRow(date(2025, 6, 15), "Virtual Machines", 1.5, tags))
    stand_in.add_cost(AzureCostRow(date(2025, 6, 15), "Storage", 0.25, tags))
    stand_in.add_cost(AzureCostRow(date(2025, 6, 16), "Virtual Machines", 0.5, tags))
    stand_in.add_cost(AzureCostRow(date(2025, 6, 16), "Bandwidth", 0.01, tags))
    stand_in.add_cost(AzureCostRow(date(2025, 6, 15), "Virtual Machines", 40.0,
                                   {"Vendor": "Databricks", "ClusterId": "someone-else"}))
    stand_in.add_cost(AzureCostRow(date(2025, 6, 15), "Virtual Machines", 30.0, {"ClusterId": cluster_id}))  # no Vendor
    stand_in.add_cost(AzureCostRow(date(2025, 6, 15), "Virtual Machines", 20.0, tags, resource_group="other-rg"))


def test_cluster_bill_is_filtered_by_tags_grouped_and_paged(azure_stand_in: AzureStandIn, cluster_id: str) -> None:
    seed(azure_stand_in, cluster_id)
    gw = AzureCostGateway(creds(azure_stand_in, resource_group="databricks-rg"))
    pages = gw.cluster_cost_pages(cluster_id, T0, T0 + 10 * HOUR)
    assert len(pages) == 2  # four rows, two per page: the nextLink was followed
    billed = sum_bill(parse_azure_query(pages, cluster_id), "USD")
    assert billed.compute == pytest.approx(1.5 + 0.5)
    assert billed.storage == pytest.approx(0.25)
    assert billed.other == pytest.approx(0.01)
    sent = azure_stand_in.requests[0]
    assert sent["scope"] == f"/subscriptions/{azure_stand_in.subscription_id}/resourceGroups/databricks-rg"
    assert sent["body"]["dataset"]["granularity"] == "Daily"

    # Scoped to the whole subscription, the other resource group's VM of this cluster counts too.
    whole = AzureCostGateway(creds(azure_stand_in)).cluster_cost_pages(cluster_id, T0, T0 + 10 * HOUR)
    assert sum_bill(parse_azure_query(whole, cluster_id), "USD").compute == pytest.approx(22.0)


def _usage() -> ClusterUsage:
    nodes = [NodeUsage("Standard_D4s_v5", True, False, T0, T0 + HOUR)]
    nodes += [NodeUsage("Standard_E8ds_v5", False, True, T0, T0 + HOUR) for _ in range(2)]
    return ClusterUsage("azure", "eastus", "premium", "jobs", nodes)


def test_billed_run_and_fallbacks(azure_stand_in: AzureStandIn, cluster_id: str) -> None:
    seed(azure_stand_in, cluster_id)
    cat = load_catalog()
    billed = price_run(_usage(), cat, cluster_id=cluster_id, start_ms=T0, end_ms=T0 + 10 * HOUR,
                       bill_source=AzureBill(AzureCostGateway(creds(azure_stand_in, resource_group="databricks-rg"))),
                       now_ms=T0 + 60 * HOUR)  # past the settle time: an Azure bill is final only then
    assert billed.source == "billed" and billed.billed_cloud_cost == pytest.approx(2.26)

    wrong_token = AzureCostGateway(creds(azure_stand_in, access_token="stolen"))
    with pytest.raises(FailedPrecondition, match="credentials"):
        wrong_token.cluster_cost_pages(cluster_id, T0, T0 + HOUR)
    fallback = price_run(_usage(), cat, cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR,
                         bill_source=AzureBill(wrong_token))
    assert fallback.source == "estimate" and "cloud bill not read" in fallback.note
    assert fallback.total == pytest.approx(fallback.dbu_cost + fallback.compute_cost + fallback.storage_cost)

    # The certificate is really checked: without the stand-in's CA bundle the call fails.
    untrusted = AzureCostGateway(creds(azure_stand_in, ca_bundle=None))
    with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED"):
        untrusted.cluster_cost_pages(cluster_id, T0, T0 + HOUR)


def test_service_principal_or_token_is_required() -> None:
    with pytest.raises(FailedPrecondition, match="access token or tenant id"):
        AzureCostGateway(AzureCredentials("sub"))


def test_malformed_rows_are_rejected(cluster_id: str) -> None:
    columns = [{"name": n, "type": "String"} for n in
               ("PreTaxCost", "UsageDate", "TagKey", "TagValue", "MeterCategory", "Currency")]
    good = [1.0, 20250615, "clusterid", cluster_id, "Virtual Machines", "USD"]
    assert parse_azure_query([{"columns": columns, "rows": [good]}], cluster_id)[0].amount == 1.0
    bad_rows = {
        "not a number": [["abc", *good[1:]]],
        "is not YYYYMMDD": [[1.0, "June", *good[2:]]],
        "in the bill of cluster": [[1.0, 20250615, "clusterid", "other", "Storage", "USD"]],
        "values expected": [good[:4]],
    }
    for message, rows in bad_rows.items():
        with pytest.raises(MalformedBill, match=message):
            parse_azure_query([{"columns": columns, "rows": rows}], cluster_id)
    with pytest.raises(MalformedBill, match="lack a cost"):
        parse_azure_query([{"columns": columns[1:], "rows": []}], cluster_id)
    with pytest.raises(MalformedBill, match="currencies"):
        sum_bill(parse_azure_query([{"columns": columns, "rows": [good, [*good[:5], "EUR"]]}], cluster_id), "USD")
