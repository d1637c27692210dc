"""A real simulated run in the sandbox workspace feeds the AWS stand-in; its bill matches the estimate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.clouds.aws import AwsStandIn
from sandbox.clouds.billing import CloudBilling
from sandbox.workspace import start_workspace
from sandbox.workspace.clock import FakeClock
from server.clouds.aws import AwsCredentials, AwsGateway
from server.costing.billing import NOTE_NOT_LANDED, AwsBill, list_price_rates, price_run
from server.costing.catalog import load_catalog
from server.costing.run_cost import ClusterUsage, NodeUsage
from tests.costing.catalog_entries import month_hours

# The real databricks-sdk client must not read this machine's profile or DATABRICKS_* variables.
pytestmark = pytest.mark.usefixtures("no_databricks_env")


def test_simulated_spot_cluster_is_seeded_and_billed(tmp_path: Path, aws_stand_in: AwsStandIn,
                                                     billing_reset: None) -> None:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    cat = load_catalog()
    inst_rate, disk_rate = list_price_rates(cat, {"aws": "us-east-1"})
    now = [0.0]
    billing = CloudBilling(aws=aws_stand_in, instance_rate=inst_rate, storage_rate=disk_rate,
                           delay_s=6 * 3600, now=lambda: now[0])
    seen: list[tuple[Any, ...]] = []
    with start_workspace(tmp_path / "ws", speed=600.0, clock=FakeClock()) as ws:
        ws.add_run_observer(billing.observe)
        ws.add_run_observer(lambda job, run, sim, spec: seen.append((run, sim, spec)))
        w = WorkspaceClient(config=Config(host=ws.host, token=ws.token, auth_type="pat",
                                          retry_timeout_seconds=10, http_timeout_seconds=10))
        job_id = w.api_client.do("POST", "/api/2.2/jobs/create", body={
            "name": "etl", "tags": {"sandbox:profile": "etl_join_aggregate"},
            "job_clusters": [{"job_cluster_key": "main", "new_cluster": {
                "spark_version": "15.4.x-scala2.12", "node_type_id": "r5.xlarge", "num_workers": 4,
                "custom_tags": {"team": "ml"},
                "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1,
                                   "ebs_volume_type": "GENERAL_PURPOSE_SSD", "ebs_volume_count": 1,
                                   "ebs_volume_size": 100}}}],
            "tasks": [{"task_key": "main", "job_cluster_key": "main"}]})["job_id"]
        w.jobs.run_now(job_id)
        assert ws.wait_idle(60)

    (run, sim, spec), = seen
    cid = run["tasks"][0]["cluster_instance"]["cluster_id"]
    gw = AwsGateway(AwsCredentials("testing", "testing", endpoint_url=aws_stand_in.endpoint_url))
    instances = gw.cluster_instances(cid)
    assert len(instances) == len(sim.nodes) >= 5
    by_id = {i.tags["SandboxInstanceId"]: i for i in instances}
    assert {n.instance_id: n.spot for n in sim.nodes} == {k: i.spot for k, i in by_id.items()}
    assert all(i.tags["team"] == "ml" and i.instance_type == "r5.xlarge" for i in instances)
    assert not next(n for n in sim.nodes if n.is_driver).spot  # first_on_demand=1: on-demand driver

    usage = ClusterUsage("aws", "us-east-1", "premium", "jobs", [
        NodeUsage(n.node_type_id, n.is_driver, n.spot, n.start_ms, n.end_ms, n.ebs_volumes, n.instance_id)
        for n in sim.nodes])
    start, end = min(n.start_ms for n in sim.nodes), max(n.end_ms for n in sim.nodes)
    early = price_run(usage, cat, cluster_id=cid, start_ms=start, end_ms=end, bill_source=AwsBill(gw))
    assert early.source == "estimate" and early.note == NOTE_NOT_LANDED

    now[0] += 6 * 3600  # the bill lands six hours after the run
    late = price_run(usage, cat, cluster_id=cid, start_ms=start, end_ms=end, bill_source=AwsBill(gw))
    assert late.source == "billed"
    # The stand-in bills instances and volumes at list prices per second with a one-minute minimum, so the
    # bill only differs from the estimate for nodes up less than a minute (a spot replacement, say).
    # Volumes: the spec's 100 GB and Databricks' default 30 + 150 GB on every node, all gp2.
    root = [{"type": "gp2", "size_gb": 180, "count": 1}]

    def per_hour(n: Any) -> float:
        disks = sum(v["size_gb"] * v["count"] * disk_rate("aws", v["type"])
                    for v in [*root, *n.ebs_volumes]) / month_hours(n.start_ms)  # AWS: the month's hours
        return inst_rate("aws", n.node_type_id, n.spot) + disks

    assert [v["type"] for n in sim.nodes for v in n.ebs_volumes] == ["gp2"] * len(sim.nodes)
    node_hours = sum(n.end_ms - n.start_ms for n in sim.nodes) / 3_600_000
    assert early.storage_cost == pytest.approx((100 + 180) * disk_rate("aws", "gp2") * node_hours / month_hours(start))

    short = sum(max(0, 60_000 - (n.end_ms - n.start_ms)) / 3_600_000 * per_hour(n) for n in sim.nodes)
    assert late.billed_cloud_cost == pytest.approx(early.compute_cost + early.storage_cost + short)
    assert late.storage_cost > 0 and late.dbu_cost == early.dbu_cost
