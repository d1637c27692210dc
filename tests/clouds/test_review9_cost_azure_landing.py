"""Review 9: on Azure the first line of a day made the bill whole and final, and the lines that
landed later (the rest of the day's VM hours, the managed disks) were never read. Cost Management
takes 8-24 h to show an hour's usage, and the open month's charges are estimates until the invoice:
an Azure bill younger than the settle time is set beside the estimate, not final, and looked at once
more after it, as a bill Cost Explorer marks ``Estimated`` is.

Against the real azure-mgmt-costmanagement client on the HTTPS Cost Management stand-in; the run is
stored and re-costed on SQLite and PostgreSQL (the `migrated_db_url` fixture)."""

from __future__ import annotations

from datetime import date

from sandbox.clouds.azure import AzureCostRow, AzureStandIn
from server.clouds.azure import AzureCostGateway, AzureCredentials
from server.costing.billing import AzureBill, RecostPolicy, price_run, should_recost
from server.costing.catalog import load_catalog
from server.costing.recost import recost_runs
from server.costing.run_cost import ClusterUsage, NodeUsage
from server.domain import Project, Run, Workspace
from server.store import open_store

HOUR = 3_600_000
T0 = 1_750_000_000_000  # 2025-06-15 15:06:40 UTC
POLICY = RecostPolicy()  # settles 48 h after the run, gives up at 72 h


def test_an_azure_bill_younger_than_the_settle_time_is_not_final(azure_stand_in: AzureStandIn, cluster_id: str,
                                                                  migrated_db_url: str) -> None:
    tags = {"Vendor": "Databricks", "ClusterId": cluster_id}
    day = date(2025, 6, 15)
    # 7 h after the run Cost Management shows the day's VM usage so far, not yet the disks'.
    azure_stand_in.add_cost(AzureCostRow(day, "Virtual Machines", 0.60, tags))
    bills = AzureBill(AzureCostGateway(AzureCredentials(
        azure_stand_in.subscription_id, access_token=azure_stand_in.token, base_url=azure_stand_in.base_url,
        ca_bundle=str(azure_stand_in.cert_path))))
    nodes = [NodeUsage("Standard_D4s_v5", i == 0, False, T0, T0 + HOUR) for i in range(3)]
    usage = ClusterUsage("azure", "eastus", "premium", "jobs", nodes)
    cost = price_run(usage, load_catalog(), cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR,
                     bill_source=bills, now_ms=T0 + 8 * HOUR, policy=POLICY)

    assert cost.source == "estimate" and cost.billed_cloud_cost == 0.60  # before: billed, final
    assert "looked at once more 48 h after the run" in cost.note
    assert should_recost(cost, T0 + HOUR, T0 + 50 * HOUR, True, POLICY)

    # The rest of the day lands; re-costing after the settle time reads the whole of it, and that is final.
    azure_stand_in.add_cost(AzureCostRow(day, "Virtual Machines", 0.016, tags))
    azure_stand_in.add_cost(AzureCostRow(day, "Storage", 0.05, tags))
    store = open_store(migrated_db_url)
    try:
        store.workspaces.add(Workspace(name="az", host="https://adb-1.azuredatabricks.net", cloud="azure"), "tok")
        project = store.projects.add(Project(workspace="az", job_id=7, cluster_key="main"))
        run = store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=1, cluster_id=cluster_id,
                                 start_ms=T0, end_ms=T0 + HOUR, cost=cost))
        early = recost_runs([run], bills, now_ms=T0 + 30 * HOUR, set_cost=store.runs.set_cost, policy=POLICY)
        assert early.billed == [] and store.runs.get(int(run.id or 0)).cost == cost  # not looked at before 48 h
        report = recost_runs([store.runs.get(int(run.id or 0))], bills, now_ms=T0 + 50 * HOUR,
                             set_cost=store.runs.set_cost, policy=POLICY)
        final = store.runs.get(int(run.id or 0)).cost
        assert report.billed == [run.id] and final is not None
        assert final.source == "billed" and abs((final.billed_cloud_cost or 0) - 0.666) < 1e-9
        assert not should_recost(final, T0 + HOUR, T0 + 60 * HOUR, True, POLICY)
    finally:
        store.close()


def test_an_azure_bill_past_the_settle_time_is_final_at_once(azure_stand_in: AzureStandIn, cluster_id: str) -> None:
    # Collected late (the server was down): the day has had its 48 h to land, so its bill counts at once.
    azure_stand_in.add_cost(AzureCostRow(date(2025, 6, 15), "Virtual Machines", 0.616,
                                         {"Vendor": "Databricks", "ClusterId": cluster_id}))
    bills = AzureBill(AzureCostGateway(AzureCredentials(
        azure_stand_in.subscription_id, access_token=azure_stand_in.token, base_url=azure_stand_in.base_url,
        ca_bundle=str(azure_stand_in.cert_path))))
    usage = ClusterUsage("azure", "eastus", "premium", "jobs", [NodeUsage("Standard_D4s_v5", True, False, T0, T0 + HOUR)])
    cost = price_run(usage, load_catalog(), cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR,
                     bill_source=bills, now_ms=T0 + 49 * HOUR, policy=POLICY)
    assert cost.source == "billed" and cost.billed_cloud_cost == 0.616
    assert "looked at once more" not in cost.note
