"""Cost Explorer bills: malformed ones are rejected before anything is computed."""

from __future__ import annotations

import pytest

from server.costing.catalog import load_catalog
from server.costing.errors import MalformedBill
from server.costing.reconcile import (
    BillLine,
    breakdown,
    missing_days,
    parse_aws_cost_pages,
    parse_azure_query,
    sum_bill,
    window_days,
)
from server.costing.run_cost import ClusterUsage, NodeUsage, cost_run

CID = "1124-abc"


def page(*groups: dict) -> dict:
    return {"ResultsByTime": [{"TimePeriod": {"Start": "2025-06-15", "End": "2025-06-16"}, "Groups": list(groups)}]}


def group(keys: list, amount: object = "1.5", unit: str = "USD") -> dict:
    return {"Keys": keys, "Metrics": {"AmortizedCost": {"Amount": amount, "Unit": unit}}}


def test_aws_groups_become_categorised_lines() -> None:
    lines = parse_aws_cost_pages([page(group([f"ClusterId${CID}", "USE1-SpotUsage:r5.xlarge"]),
                                       group([f"ClusterId${CID}", "USE1-EBS:VolumeUsage.gp2"], "0.25"))], CID)
    assert [(line.category, line.amount) for line in lines] == [("compute", 1.5), ("storage", 0.25)]


@pytest.mark.parametrize("pages,message", [
    ([{"nothing": 1}], "no ResultsByTime"),
    ([page(group([f"ClusterId${CID}"]))], "are not"),
    ([page(group(["ClusterId$other", "USE1-BoxUsage:m5.xlarge"]))], "in the bill of cluster"),
    ([page(group([f"ClusterId${CID}", "USE1-BoxUsage:m5.xlarge"], "lots"))], "not a number"),
    ([page(group([f"ClusterId${CID}", "USE1-BoxUsage:m5.xlarge"], "inf"))], "not a finite number"),
    ([page({"Keys": [f"ClusterId${CID}", "x"], "Metrics": {}})], "no AmortizedCost"),
    ([{"ResultsByTime": [{"Groups": []}]}], "TimePeriod"),
])
def test_malformed_aws_bills_are_rejected(pages: list, message: str) -> None:
    with pytest.raises(MalformedBill, match=message):
        parse_aws_cost_pages(pages, CID)


def test_negative_total_and_foreign_currency_are_rejected() -> None:
    refund = BillLine("aws", CID, "2025-06-15", "compute", "credit", -5.0, "USD")
    with pytest.raises(MalformedBill, match="negative"):
        sum_bill([refund], "USD")
    with pytest.raises(MalformedBill, match="EUR"):
        sum_bill([BillLine("aws", CID, "2025-06-15", "compute", "x", 1.0, "EUR")], "USD")


def test_breakdown_keeps_estimate_beside_the_bill() -> None:
    est = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs",
                                [NodeUsage("m5.xlarge", True, False, 0, 3_600_000)]), load_catalog())
    billed = sum_bill([BillLine("aws", CID, "2025-06-15", "compute", "BoxUsage", 0.2, "USD")], "USD")
    cost = breakdown(est, 2 * 10**9, billed)
    assert cost.compute_cost == pytest.approx(0.192) and cost.billed_cloud_cost == pytest.approx(0.2)
    assert cost.total == pytest.approx(est.dbu_cost + 0.2) and cost.cost_per_input_gb == pytest.approx(cost.total / 2)
    # Estimate: $0.192 compute + $0.0247 for the node's default volumes (180 GB x $0.10 / 730 h).
    assert "cloud bill 0.20 USD" in cost.note and "estimate 0.22" in cost.note


def test_estimated_flag_and_window_days() -> None:
    estimated = {"ResultsByTime": [{"TimePeriod": {"Start": "2025-06-16", "End": "2025-06-17"}, "Estimated": True,
                                    "Groups": [group([f"ClusterId${CID}", "USE1-BoxUsage:m5.xlarge"])]}]}
    lines = parse_aws_cost_pages([page(group([f"ClusterId${CID}", "USE1-BoxUsage:m5.xlarge"])), estimated], CID)
    assert [(line.day, line.estimated) for line in lines] == [("2025-06-15", False), ("2025-06-16", True)]
    day = 86_400_000
    t0 = 1_749_945_600_000  # 2025-06-15 00:00 UTC
    assert window_days(t0 + day - 3_600_000, t0 + day) == ["2025-06-15"]  # ends at midnight: one day
    assert window_days(t0 + day - 3_600_000, t0 + day + 1) == ["2025-06-15", "2025-06-16"]
    assert missing_days(lines[:1], t0, t0 + day + 1) == ["2025-06-16"]


def test_azure_usd_column_is_read_and_dbu_lines_are_left_out() -> None:
    columns = [{"name": n, "type": "String"} for n in
               ("PreTaxCost", "PreTaxCostUSD", "UsageDate", "TagKey", "TagValue", "MeterCategory", "Currency")]
    rows = [[1.0, 1.1, 20250615, "clusterid", CID, "Virtual Machines", "EUR"],
            [0.5, 0.55, 20250615, "clusterid", CID, "Azure Databricks", "EUR"]]
    lines = parse_azure_query([{"columns": columns, "rows": rows}], CID)
    assert [(line.category, line.amount, line.currency) for line in lines] == [
        ("compute", 1.1, "USD"), ("dbu", 0.55, "USD")]
    billed = sum_bill(lines, "USD")
    assert billed.total == pytest.approx(1.1) and billed.other == 0.0
    with pytest.raises(MalformedBill, match="DBU lines only"):
        sum_bill(lines[1:], "USD")
