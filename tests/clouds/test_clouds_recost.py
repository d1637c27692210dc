"""Stored runs are re-costed when their bill lands; a malformed bill leaves the stored cost untouched.

Runs on SQLite and on PostgreSQL (the `migrated_db_url` fixture), with the bill read from the moto stand-in.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date

import pytest

from sandbox.clouds.aws import AwsStandIn, CostLineItem
from server.clouds.aws import AwsCredentials, AwsGateway
from server.costing.billing import AwsBill, RecostPolicy, price_run
from server.costing.catalog import load_catalog
from server.costing.recost import recost_runs
from server.costing.run_cost import ClusterUsage, NodeUsage
from server.domain import Project, Run, Workspace
from server.store import open_store

T0 = 1_750_000_000_000  # 2025-06-15
HOUR = 3_600_000


def test_runs_get_their_bill_and_bad_bills_change_nothing(migrated_db_url: str, aws_stand_in: AwsStandIn,
                                                          cluster_id: str) -> None:
    store = open_store(migrated_db_url)
    try:
        project = store.projects.add(Project(workspace="prod", job_id=7, cluster_key="main"))
        usage = ClusterUsage("aws", "us-east-1", "premium", "jobs",
                             [NodeUsage("m5.xlarge", True, False, T0, T0 + HOUR)], input_bytes=4 * 10**9)
        estimate = price_run(usage, load_catalog(), cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR,
                             bill_source=None)
        good, bad, later = (f"{cluster_id}-{k}" for k in ("good", "bad", "later"))
        runs = [store.runs.add(Run(project_id=project.id, databricks_run_id=n, cluster_id=cid, start_ms=T0,
                                   end_ms=T0 + HOUR, input_bytes=4 * 10**9, cost=estimate))
                for n, cid in enumerate((good, bad, later), start=1)]
        aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-BoxUsage:m5.xlarge", 0.21,
                                           {"Vendor": "Databricks", "ClusterId": good}))
        aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-BoxUsage:m5.xlarge", math.inf,
                                           {"Vendor": "Databricks", "ClusterId": bad}))
        bills = AwsBill(AwsGateway(AwsCredentials("testing", "testing", endpoint_url=aws_stand_in.endpoint_url)))

        report = recost_runs(store.runs.history(project.id), bills, now_ms=T0 + 5 * HOUR,
                             set_cost=store.runs.set_cost)
        assert report.billed == [runs[0].id]
        assert list(report.rejected) == [runs[1].id] and "finite" in report.rejected[runs[1].id]
        assert report.waiting == [runs[2].id]

        billed = store.runs.get(runs[0].id).cost
        assert billed.source == "billed" and billed.used_by_models == "billed"
        assert billed.billed_cloud_cost == pytest.approx(0.21)
        assert billed.total == pytest.approx(estimate.dbu_cost + 0.21)
        assert billed.cost_per_input_gb == pytest.approx(billed.total / 4)
        assert billed.compute_cost == pytest.approx(estimate.compute_cost)  # the estimate stays beside the bill
        # The malformed bill changed no figure; the note says it was refused (it said no credentials).
        refused = store.runs.get(runs[1].id).cost
        assert dataclasses.replace(refused, note=estimate.note) == estimate
        assert refused.note.startswith("cloud bill refused (") and "finite" in refused.note
        # No line yet: the figures stay, the note now waits for the bill (the credentials are there).
        waiting = store.runs.get(runs[2].id).cost
        assert dataclasses.replace(waiting, note=estimate.note) == estimate
        assert waiting.note.startswith("cloud bill not available yet")

        # A billed run is not asked again; runs past the give-up window are left alone.
        again = recost_runs(store.runs.history(project.id), bills, now_ms=T0 + 6 * HOUR,
                            set_cost=store.runs.set_cost)
        assert runs[0].id not in again.billed + again.waiting
        old = recost_runs(store.runs.history(project.id), bills, now_ms=T0 + 100 * HOUR,
                          set_cost=store.runs.set_cost, policy=RecostPolicy(give_up_after_ms=72 * HOUR))
        assert old.billed == old.waiting == [] and not old.rejected
        # Without credentials nothing is looked up.
        assert recost_runs(store.runs.history(project.id), None, now_ms=T0 + 5 * HOUR,
                           set_cost=store.runs.set_cost).waiting == []
    finally:
        store.close()


def test_a_run_that_changes_while_its_bill_is_read_keeps_its_new_cost(migrated_db_url: str, aws_stand_in: AwsStandIn,
                                                                       cluster_id: str) -> None:
    # Review: the re-coster read runs, asked for their bills over the network, then wrote without
    # reading again: a repair update landing meanwhile (several clusters' summed cost) was replaced by
    # one cluster's bill. The write now checks the run is as it was read, under the project lock.
    from server.clock import FakeClock
    from server.collect.bills import Recoster

    store = open_store(migrated_db_url)
    try:
        store.workspaces.add(Workspace(name="prod", host="https://x.cloud.databricks.com", cloud="aws"), "tok")
        project = store.projects.add(Project(workspace="prod", job_id=7, cluster_key="main"))
        usage = ClusterUsage("aws", "us-east-1", "premium", "jobs", [NodeUsage("m5.xlarge", True, False, T0, T0 + HOUR)])
        estimate = price_run(usage, load_catalog(), cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR,
                             bill_source=None)
        run = store.runs.add(Run(project_id=project.id, databricks_run_id=1, cluster_id=cluster_id, start_ms=T0,
                                 end_ms=T0 + HOUR, cost=estimate))
        aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-BoxUsage:m5.xlarge", 0.21,
                                           {"Vendor": "Databricks", "ClusterId": cluster_id}))
        real = AwsBill(AwsGateway(AwsCredentials("testing", "testing", endpoint_url=aws_stand_in.endpoint_url)))
        summed = dataclasses.replace(estimate, total=estimate.total * 2, note="over the run's 2 clusters (repaired)")

        class RepairedMeanwhile:
            def cluster_bill(self, cid: str, start_ms: int, end_ms: int):  # type: ignore[no-untyped-def]
                lines = real.cluster_bill(cid, start_ms, end_ms)
                # The collector updates the run from its repair while the bill is on its way.
                fresh = store.runs.get(run.id)
                store.runs.update(dataclasses.replace(fresh, end_ms=T0 + 3 * HOUR, cost=summed,
                                                      anomalies=("repaired",)))
                return lines

        report = Recoster(store, lambda ws: RepairedMeanwhile(), FakeClock(T0 + 5 * HOUR)).recost_once()
        assert report.billed == [run.id]  # the bill was read and whole...
        assert store.runs.get(run.id).cost == summed  # ...but not written over the repair's cost
    finally:
        store.close()
