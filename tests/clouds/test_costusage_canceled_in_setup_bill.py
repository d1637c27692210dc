"""Cost review: a run stopped while its cluster ran its init scripts (here by the job's timeout, which the
service applies as a cancel: TERMINATING USER_REQUEST, no RUNNING) was priced as its driver alone though
its workers were up from CREATING; and the AWS stand-in billed its nodes to the end the simulation had
planned, not to the cancel. Through the workspace emulator with the real databricks-sdk; Trimtab's
estimate is built as collection builds it, from the cluster's spec and events; the bill lands in the AWS
stand-in (moto)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.clouds.aws import AwsStandIn
from sandbox.clouds.billing import CloudBilling
from server.costing.billing import list_price_rates
from server.costing.catalog import load_catalog
from tests.clouds.billed_run import run_and_price

# The first run of a fresh emulator is simulated the same every time (its seed is its run id): its nodes
# run their init scripts from about 2m47s to 3m01s after CREATING; a timeout of 2m50s stops it between.
TIMEOUT_S = 170


# The real databricks-sdk client must not read this machine's profile or DATABRICKS_* variables.
pytestmark = pytest.mark.usefixtures("no_databricks_env")


def test_a_run_stopped_during_its_init_scripts_is_billed_and_priced_with_its_workers(
        tmp_path: Path, aws_stand_in: AwsStandIn, billing_reset: None) -> None:
    cat = load_catalog()
    inst_rate, disk_rate = list_price_rates(cat, {"aws": "us-east-1"})
    billing = CloudBilling(aws=aws_stand_in, instance_rate=inst_rate, storage_rate=disk_rate)
    done = run_and_price(tmp_path, aws_stand_in, billing, cat, start=1_775_000_000.0, job={
        "name": "setup-canceled", "tags": {"sandbox:profile": "etl_join_aggregate"},
        "timeout_seconds": TIMEOUT_S,
        "job_clusters": [{"job_cluster_key": "main", "new_cluster": {
            "spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 4,
            "aws_attributes": {"availability": "ON_DEMAND"}}}],
        "tasks": [{"task_key": "main", "job_cluster_key": "main"}]})

    events, timeline, cost = done.events, done.timeline, done.cost
    kinds = [e["type"] for e in sorted(events, key=lambda e: e["timestamp"])]
    assert "INIT_SCRIPTS_STARTED" in kinds and "RUNNING" not in kinds, kinds  # stopped during setup
    (terminating,) = [e for e in events if e["type"] == "TERMINATING"]
    assert terminating["details"]["reason"]["code"] == "USER_REQUEST"
    # The driver and its 4 workers, each from CREATING to TERMINATING (before: the driver alone).
    assert sorted(n.instance_id for n in timeline.nodes) == ["driver"] + [f"worker-{i}" for i in range(1, 5)]
    assert {(n.start_ms, n.end_ms) for n in timeline.nodes} == {(timeline.start_ms, timeline.end_ms)}

    assert cost.source == "billed"
    hours = (timeline.end_ms - timeline.start_ms) / 3_600_000
    # By hand: 5 on-demand m5d.xlarge for the cluster's life, which the bill now holds too (it billed
    # the nodes to the simulation's planned end before).
    assert cost.compute_cost == pytest.approx(5 * inst_rate("aws", "m5d.xlarge", False) * hours)
    assert cost.billed_cloud_cost == pytest.approx(cost.compute_cost + cost.storage_cost)
