"""Cost review: a job on a node type with no instance store and no ``ebs_volume_*`` (m5.xlarge) was billed
by the AWS stand-in one 100 GB gp2 volume per node that Databricks never attaches (it attaches the default
30 + 150 GB root volumes and nothing else at launch), 12% of the run's cloud cost above Trimtab's estimate.
The run goes through the workspace emulator with the real databricks-sdk; Trimtab's estimate is built as
collection builds it, from the cluster's spec and events; the bill lands in the AWS stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.clouds.aws import AwsStandIn
from sandbox.clouds.billing import CloudBilling
from server.costing.billing import list_price_rates
from server.costing.catalog import load_catalog
from tests.clouds.billed_run import run_and_price
from tests.costing.catalog_entries import month_hours

# The real databricks-sdk client must not read this machine's profile or DATABRICKS_* variables.
pytestmark = pytest.mark.usefixtures("no_databricks_env")


def test_an_ebs_only_node_type_without_volumes_is_billed_as_estimated(
        tmp_path: Path, aws_stand_in: AwsStandIn, billing_reset: None) -> None:
    cat = load_catalog()
    inst_rate, disk_rate = list_price_rates(cat, {"aws": "us-east-1"})
    now = [0.0]
    billing = CloudBilling(aws=aws_stand_in, instance_rate=inst_rate, storage_rate=disk_rate, now=lambda: now[0])
    # Its own start (February 2026: 672 h), so its cluster id is not another test's in the shared stand-in.
    done = run_and_price(tmp_path, aws_stand_in, billing, cat, start=1_770_000_000.0, job={
        "name": "noebs", "tags": {"sandbox:profile": "etl_join_aggregate"},
        "job_clusters": [{"job_cluster_key": "main", "new_cluster": {
            "spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 2,
            "aws_attributes": {"availability": "ON_DEMAND"}}}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main"}]})
    timeline, cost = done.timeline, done.cost
    start = min(e["timestamp"] for e in done.events)
    assert len(timeline.nodes) == 3 and all(n.ebs_volumes == [] for n in timeline.nodes)

    assert cost.source == "billed"
    node_hours = sum(n.end_ms - n.start_ms for n in timeline.nodes) / 3_600_000
    # By hand: the default 30 + 150 GB gp2 on each node, nothing else (before, the bill had 100 GB more
    # each), over the hours of the run's month.
    assert cost.storage_cost == pytest.approx(180 * disk_rate("aws", "gp2") * node_hours / month_hours(start))
    assert cost.billed_cloud_cost == pytest.approx(
        sum(inst_rate("aws", n.node_type_id, False) * (n.end_ms - n.start_ms) / 3_600_000 for n in timeline.nodes)
        + cost.storage_cost)
