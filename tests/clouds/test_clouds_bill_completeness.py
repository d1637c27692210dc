"""What a bill has to be before a run is priced from it, against the real clients on the stand-ins.

- Azure's DBU meter ("Azure Databricks") carries the cluster's tags: it must not be added on top of
  the catalog's DBU cost.
- A run across midnight UTC with only its first day landed keeps the estimate and stays re-costable;
  a bill Cost Explorer marks ``Estimated`` is shown beside the estimate and looked at once more.
- Committed (RI / Savings Plan / reservation) hours are read amortized, not as ~0.
- A EUR-billed Azure subscription is read in USD.

Stored runs are re-costed on SQLite and PostgreSQL (the `migrated_db_url` fixture).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from sandbox.clouds.aws import AwsStandIn, CostLineItem
from sandbox.clouds.azure import AzureCostRow, AzureStandIn
from sandbox.clouds.billing import CloudBilling
from server.clouds.aws import AwsCredentials, AwsGateway, cost_query
from server.clouds.azure import AzureCostGateway, AzureCredentials
from server.costing.billing import (
    NOTE_NOT_LANDED,
    AwsBill,
    AzureBill,
    RecostPolicy,
    list_dbu_rate,
    list_price_rates,
    price_run,
    should_recost,
)
from server.costing.catalog import load_catalog
from server.costing.reconcile import parse_azure_query
from server.costing.recost import recost_runs
from server.costing.run_cost import ClusterUsage, NodeUsage
from server.domain import Project, Run
from server.store import open_store

HOUR = 3_600_000
T0 = 1_750_000_000_000  # 2025-06-15 15:06:40 UTC
# 2025-06-15 23:00 -> 2025-06-16 01:00 UTC: half the run on each day.
NIGHT_START = int(datetime(2025, 6, 15, 23, tzinfo=UTC).timestamp() * 1000)
NIGHT_END = NIGHT_START + 2 * HOUR


def azure_gateway(stand_in: AzureStandIn) -> AzureCostGateway:
    return AzureCostGateway(AzureCredentials(stand_in.subscription_id, access_token=stand_in.token,
                                             base_url=stand_in.base_url, ca_bundle=str(stand_in.cert_path)))


def aws_bill(stand_in: AwsStandIn) -> AwsBill:
    return AwsBill(AwsGateway(AwsCredentials("testing", "testing", endpoint_url=stand_in.endpoint_url)))


def test_azure_dbu_meter_is_not_counted_twice(azure_stand_in: AzureStandIn, cluster_id: str) -> None:
    # The reviewer's example: 3 x Standard_D4ds_v5, 1 h, Premium Jobs: DBU 0.675 + VM 0.678 = 1.353.
    cat = load_catalog()
    inst_rate, disk_rate = list_price_rates(cat, {"azure": "eastus"})
    billing = CloudBilling(azure=azure_stand_in, instance_rate=inst_rate, storage_rate=disk_rate,
                           dbu_rate=list_dbu_rate(cat, "premium", "jobs"))
    nodes = [SimpleNamespace(instance_id=f"vm-{i}", node_type_id="Standard_D4ds_v5", is_driver=i == 0, spot=False,
                             start_ms=T0, end_ms=T0 + HOUR, ebs_volumes=[]) for i in range(3)]
    billing.observe(None, None, SimpleNamespace(cluster_id=cluster_id, nodes=nodes), {})

    gw = azure_gateway(azure_stand_in)
    lines = parse_azure_query(gw.cluster_cost_pages(cluster_id, T0, T0 + HOUR), cluster_id)
    dbu_lines = [line for line in lines if line.usage == "Azure Databricks"]
    assert dbu_lines and dbu_lines[0].category == "dbu"  # the tag-filtered query does return the DBUs
    assert dbu_lines[0].amount == pytest.approx(0.675)

    usage = ClusterUsage("azure", "eastus", "premium", "jobs",
                         [NodeUsage(n.node_type_id, n.is_driver, False, n.start_ms, n.end_ms) for n in nodes])
    cost = price_run(usage, cat, cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR, bill_source=AzureBill(gw),
                     now_ms=T0 + 50 * HOUR)  # past the settle time: an Azure bill is final only then
    assert cost.source == "billed"
    assert cost.billed_cloud_cost == pytest.approx(0.678)  # the VMs only
    assert cost.total == pytest.approx(1.353)  # was 2.028: the DBUs twice


def test_azure_reads_amortized_usd(azure_stand_in: AzureStandIn, cluster_id: str) -> None:
    tags = {"Vendor": "Databricks", "ClusterId": cluster_id}
    # A reservation-covered VM hour: 0 actual, 0.10 EUR amortized; the subscription is billed in EUR.
    azure_stand_in.add_cost(AzureCostRow(date(2025, 6, 15), "Virtual Machines", 0.10, tags, currency="EUR",
                                         usd_per_unit=1.1, actual_cost=0.0))
    azure_stand_in.add_cost(AzureCostRow(date(2025, 6, 15), "Storage", 0.02, tags, currency="EUR", usd_per_unit=1.1))
    cost = price_run(ClusterUsage("azure", "eastus", "premium", "jobs",
                                  [NodeUsage("Standard_D4ds_v5", True, False, T0, T0 + HOUR)]),
                     load_catalog(), cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR,
                     bill_source=AzureBill(azure_gateway(azure_stand_in)), now_ms=T0 + 50 * HOUR)  # past the settle time: an Azure bill is final only then
    assert cost.source == "billed" and cost.currency == "USD"
    assert cost.billed_cloud_cost == pytest.approx((0.10 + 0.02) * 1.1)
    sent = azure_stand_in.requests[-1]["body"]
    assert sent["type"] == "AmortizedCost"
    assert {a["name"] for a in sent["dataset"]["aggregation"].values()} >= {"PreTaxCostUSD"}


def test_aws_reads_amortized_cost(aws_stand_in: AwsStandIn, cluster_id: str) -> None:
    assert cost_query(cluster_id, T0, T0 + HOUR)["Metrics"] == ["AmortizedCost"]
    tags = {"Vendor": "Databricks", "ClusterId": cluster_id}
    # An hour covered by a Savings Plan: ~0 unblended, its share of the commitment amortized.
    aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-BoxUsage:m5.xlarge", 0.13, tags, unblended=0.0))
    cost = price_run(ClusterUsage("aws", "us-east-1", "premium", "jobs",
                                  [NodeUsage("m5.xlarge", True, False, T0, T0 + HOUR)]),
                     load_catalog(), cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR,
                     bill_source=aws_bill(aws_stand_in))
    assert cost.source == "billed" and cost.billed_cloud_cost == pytest.approx(0.13)


def _night_usage() -> ClusterUsage:
    return ClusterUsage("aws", "us-east-1", "premium", "jobs",
                        [NodeUsage("m5.xlarge", True, False, NIGHT_START, NIGHT_END)], input_bytes=10**9)


def test_a_partial_bill_keeps_the_run_re_costable(migrated_db_url: str, aws_stand_in: AwsStandIn, cluster_id: str) -> None:
    store = open_store(migrated_db_url)
    try:
        project = store.projects.add(Project(workspace="prod", job_id=7, cluster_key="main"))
        bills = aws_bill(aws_stand_in)
        tags = {"Vendor": "Databricks", "ClusterId": cluster_id}
        aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-BoxUsage:m5.xlarge", 0.192, tags))

        first = price_run(_night_usage(), load_catalog(), cluster_id=cluster_id, start_ms=NIGHT_START,
                          end_ms=NIGHT_END, bill_source=bills, now_ms=NIGHT_END + 5 * HOUR)
        assert first.source == "estimate" and first.billed_cloud_cost is None
        assert "partial: 1 of 2 day(s)" in first.note and "2025-06-16" in first.note
        assert "re-costed when it lands" not in first.note
        run = store.runs.add(Run(project_id=project.id, databricks_run_id=1, cluster_id=cluster_id,
                                 start_ms=NIGHT_START, end_ms=NIGHT_END, input_bytes=10**9, cost=first))
        assert should_recost(first, NIGHT_END, NIGHT_END + 6 * HOUR, has_credentials=True)

        # Still only day 1: waiting, the estimate kept.
        report = recost_runs(store.runs.history(project.id), bills, now_ms=NIGHT_END + 6 * HOUR,
                             set_cost=store.runs.set_cost)
        assert report.waiting == [run.id] and report.billed == []
        assert store.runs.get(run.id).cost == first

        # Day 2 lands, marked estimated by Cost Explorer: shown beside the estimate, which stays in use
        # (savings count only final bills), and looked at once more later.
        aws_stand_in.add_cost(CostLineItem(date(2025, 6, 16), "USE1-BoxUsage:m5.xlarge", 0.19, tags, estimated=True))
        report = recost_runs(store.runs.history(project.id), bills, now_ms=NIGHT_END + 20 * HOUR,
                             set_cost=store.runs.set_cost)
        assert report.waiting == [run.id] and report.billed == []
        provisional = store.runs.get(run.id).cost
        assert provisional.source == "estimate" and provisional.used_by_models == "estimate"
        assert provisional.total == pytest.approx(first.total)
        assert provisional.billed_cloud_cost == pytest.approx(0.382)
        assert "not final yet" in provisional.note and "once more 48 h" in provisional.note
        # Not asked again every pass: only once the settle time has passed.
        assert not should_recost(provisional, NIGHT_END, NIGHT_END + 30 * HOUR, has_credentials=True)
        assert should_recost(provisional, NIGHT_END, NIGHT_END + 49 * HOUR, has_credentials=True)

        # The last look takes the bill as final, even if Cost Explorer still marks it estimated.
        aws_stand_in.add_cost(CostLineItem(date(2025, 6, 16), "USE1-EBS:VolumeUsage.gp3", 0.01, tags,
                                           estimated=True))
        report = recost_runs(store.runs.history(project.id), bills, now_ms=NIGHT_END + 49 * HOUR,
                             set_cost=store.runs.set_cost)
        final = store.runs.get(run.id).cost
        assert report.billed == [run.id] and final.source == "billed" and final.used_by_models == "billed"
        assert final.billed_cloud_cost == pytest.approx(0.392) and "taken as final" in final.note
        assert final.total == pytest.approx(first.dbu_cost + 0.392)
        assert not should_recost(final, NIGHT_END, NIGHT_END + 50 * HOUR, has_credentials=True)
    finally:
        store.close()


def test_a_day_that_never_lands_is_taken_as_none_after_the_settle_time(aws_stand_in: AwsStandIn,
                                                                       cluster_id: str) -> None:
    tags = {"Vendor": "Databricks", "ClusterId": cluster_id}
    aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-BoxUsage:m5.xlarge", 0.2, tags))
    bills = aws_bill(aws_stand_in)
    policy = RecostPolicy(settle_after_ms=48 * HOUR, give_up_after_ms=72 * HOUR)
    early = price_run(_night_usage(), load_catalog(), cluster_id=cluster_id, start_ms=NIGHT_START,
                      end_ms=NIGHT_END, bill_source=bills, now_ms=NIGHT_END + 47 * HOUR, policy=policy)
    assert early.source == "estimate"
    late = price_run(_night_usage(), load_catalog(), cluster_id=cluster_id, start_ms=NIGHT_START,
                     end_ms=NIGHT_END, bill_source=bills, now_ms=NIGHT_END + 48 * HOUR, policy=policy)
    assert late.source == "billed" and late.billed_cloud_cost == pytest.approx(0.2)
    assert "no cloud line for 2025-06-16" in late.note
    # No line on any day after the settle time: the estimate, and a hint at the likely cause.
    none = price_run(_night_usage(), load_catalog(), cluster_id=f"{cluster_id}-untagged", start_ms=NIGHT_START,
                     end_ms=NIGHT_END, bill_source=bills, now_ms=NIGHT_END + 48 * HOUR, policy=policy)
    assert none.source == "estimate" and "active cost allocation tag" in none.note
    # Unknown age (first collection): a missing day is never assumed empty.
    unknown = price_run(_night_usage(), load_catalog(), cluster_id=cluster_id, start_ms=NIGHT_START,
                        end_ms=NIGHT_END, bill_source=bills)
    assert unknown.source == "estimate"


def test_nothing_landed_note_promises_no_re_costing(aws_stand_in: AwsStandIn, cluster_id: str) -> None:
    cost = price_run(_night_usage(), load_catalog(), cluster_id=cluster_id, start_ms=NIGHT_START,
                     end_ms=NIGHT_END, bill_source=aws_bill(aws_stand_in))
    assert cost.source == "estimate" and cost.note == NOTE_NOT_LANDED
    assert "re-costed when it lands" not in cost.note and "72 h" in cost.note
    # Past the give-up age the run is left alone, and its note is still true.
    assert not should_recost(cost, NIGHT_END, NIGHT_END + 73 * HOUR, has_credentials=True)


def test_a_bill_is_not_asked_for_before_the_wait_is_over(aws_stand_in: AwsStandIn, cluster_id: str) -> None:
    # TRIMTAB_BILL_WAIT_HOURS: bills lag by hours and each Cost Explorer request costs $0.01, so a
    # run collected at once is priced from the catalog without asking; after the wait it is asked.
    tags = {"Vendor": "Databricks", "ClusterId": cluster_id}
    aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-BoxUsage:m5.xlarge", 0.21, tags))
    usage = ClusterUsage("aws", "us-east-1", "premium", "jobs", [NodeUsage("m5.xlarge", True, False, T0, T0 + HOUR)])
    wait = RecostPolicy(first_check_after_ms=6 * HOUR)

    def priced(now_ms: int | None) -> object:
        return price_run(usage, load_catalog(), cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR,
                         bill_source=aws_bill(aws_stand_in), now_ms=now_ms, policy=wait)

    early = priced(T0 + 2 * HOUR)
    assert early.source == "estimate" and early.note == NOTE_NOT_LANDED  # the landed line was not read
    assert priced(None).source == "estimate"  # time unknown: not asked either
    late = priced(T0 + 8 * HOUR)
    assert late.source == "billed" and late.billed_cloud_cost == pytest.approx(0.21)
