"""Re-costing through the real AwsGateway against the moto stand-in, stored on SQLite and PostgreSQL:
what a stored run's note says once no bill can be expected (review revC F1, F5, F8)."""

from __future__ import annotations

import dataclasses
from datetime import date

from sandbox.clouds.aws import AwsStandIn, CostLineItem
from server.clouds.aws import AwsCredentials, AwsGateway
from server.costing.billing import AwsBill, RecostPolicy, price_run
from server.costing.catalog import load_catalog
from server.costing.notes import NOTE_POOL
from server.costing.recost import recost_runs
from server.costing.run_cost import ClusterUsage, NodeUsage
from server.domain import ClusterConfig, Project, Run
from server.store import open_store

T0 = 1_750_000_000_000  # 2025-06-15 15:06 UTC
HOUR = 3_600_000
POLICY = RecostPolicy(first_check_after_ms=6 * HOUR)


def test_stored_notes_say_when_no_bill_will_come(migrated_db_url: str, aws_stand_in: AwsStandIn,
                                                  cluster_id: str) -> None:
    store = open_store(migrated_db_url)
    try:
        project = store.projects.add(Project(workspace="prod", job_id=7, cluster_key="main"))
        bills = AwsBill(AwsGateway(AwsCredentials("testing", "testing", endpoint_url=aws_stand_in.endpoint_url)))
        usage = ClusterUsage("aws", "us-east-1", "premium", "jobs", [NodeUsage("m5.xlarge", True, False, T0, T0 + HOUR)])
        # Collected an hour after the run: too early to ask, the note promises the bill.
        collected = price_run(usage, load_catalog(), cluster_id=cluster_id, start_ms=T0, end_ms=T0 + HOUR,
                              bill_source=bills, now_ms=T0 + 2 * HOUR, policy=POLICY)
        untagged, pooled, refunded = (f"{cluster_id}-{k}" for k in ("untagged", "pool", "refund"))
        pool_config = ClusterConfig(node_type_id="m5.xlarge", num_workers=0,
                                    spec={"instance_pool_id": "pool-1", "num_workers": 0})
        runs = [store.runs.add(Run(project_id=project.id, databricks_run_id=n, cluster_id=cid, start_ms=T0,
                                   end_ms=T0 + HOUR, cost=collected, config=config))
                for n, (cid, config) in enumerate(((untagged, None), (pooled, pool_config), (refunded, None)), 1)]
        # The pool's instances carry the pool's tags: no line names the pool-backed cluster.
        aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-BoxUsage:m5.xlarge", 0.19,
                                           {"Vendor": "Databricks", "DatabricksInstancePoolId": "pool-1"}))
        aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-BoxUsage:m5.xlarge", 0.19,
                                           {"Vendor": "Databricks", "ClusterId": refunded}))
        aws_stand_in.add_cost(CostLineItem(date(2025, 6, 15), "USE1-Credit", -0.50,
                                           {"Vendor": "Databricks", "ClusterId": refunded}))

        def recost(hours: float) -> None:
            recost_runs(store.runs.history(project.id), bills, now_ms=T0 + HOUR + int(hours * HOUR),
                        set_cost=store.runs.set_cost, policy=POLICY)

        recost(6)
        notes = [store.runs.get(r.id).cost.note for r in runs]
        assert notes[0].startswith("cloud bill not available yet")
        assert notes[1] == NOTE_POOL
        assert notes[2].startswith("cloud bill refused (bill day 2025-06-15 nets negative, -0.31 USD")
        recost(48.5)
        assert store.runs.get(runs[0].id).cost.note.startswith(
            "no cloud bill 48 h after the run (on AWS: is ClusterId an active cost allocation tag?)")
        for run in runs:  # notes only: every figure is the estimate as collected
            stored = store.runs.get(run.id).cost
            assert dataclasses.replace(stored, note=collected.note) == collected
    finally:
        store.close()
