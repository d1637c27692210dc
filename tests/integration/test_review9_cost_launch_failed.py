"""Review 9: a cluster that never reached RUNNING was priced as its driver alone. One that failed on
the nodes it had acquired (here its init script exits 1 on every node) had its workers launched, and
billed, from CREATING to the end; one the cloud refused instances (no capacity) got none
(tests/integration/test_dbx_launch_failed.py keeps that one at ~$0).

The timeline is pure (`cluster_timeline`); the run is collected from the workspace emulator through the
real databricks-sdk, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.collect.usage import ClusterTimeline, cluster_timeline, cluster_usage
from server.costing.catalog import load_catalog
from server.costing.run_cost import cost_run
from server.databricks import DatabricksGateway
from server.domain import Project
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store

M = 60_000
T0 = 1_700_000_000_000
SPEC = {"node_type_id": "r5.2xlarge", "num_workers": 8, "aws_attributes": {"availability": "ON_DEMAND"}}
FAILING_INIT = b"#!/bin/bash\necho 'no such package' >&2\nexit 1\n"


def _failed_at_12_min(code: str, kind: str = "CLIENT_ERROR") -> list[dict[str, object]]:
    return [{"timestamp": T0, "type": "CREATING", "details": {}},
            {"timestamp": T0 + 6 * M, "type": "INIT_SCRIPTS_STARTED", "details": {}},
            {"timestamp": T0 + 12 * M, "type": "TERMINATING", "details": {"reason": {"code": code, "type": kind}}}]


@pytest.mark.parametrize("code", ["INIT_SCRIPT_FAILURE", "BOOTSTRAP_TIMEOUT", "SPARK_STARTUP_FAILURE",
                                  "DRIVER_UNREACHABLE", "NETWORK_CHECK_NIC_FAILURE_DUE_TO_MISCONFIG"])
def test_a_cluster_that_failed_on_its_acquired_nodes_bills_its_workers_from_creating(code: str) -> None:
    timeline = cluster_timeline(SPEC, _failed_at_12_min(code), fallback_start_ms=T0, fallback_end_ms=T0 + 12 * M)
    assert sorted((n.instance_id, n.start_ms - T0, n.end_ms - T0) for n in timeline.nodes) == \
        sorted([("driver", 0, 12 * M)] + [(f"worker-{i}", 0, 12 * M) for i in range(1, 9)])  # before: the driver


def test_a_cluster_the_cloud_refused_instances_keeps_the_driver_alone() -> None:
    events = [_failed_at_12_min("AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE", "CLOUD_FAILURE")[i] for i in (0, 2)]
    timeline = cluster_timeline(SPEC, events, fallback_start_ms=T0, fallback_end_ms=T0 + 12 * M)
    assert [n.instance_id for n in timeline.nodes] == ["driver"]


def test_a_run_whose_init_script_failed_is_priced_with_its_workers(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project) -> None:
    catalog = load_catalog()
    gateway.put_dbfs_file("/trimtab/test-init.sh", FAILING_INIT)  # every node's init script exits 1
    run_id = gateway.run_now(daily.job_id)
    assert emulator.wait_idle(60)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock(),
                          catalog=catalog)

    (run,) = collector.poll_once()

    assert run.databricks_run_id == run_id and run.outcome == "failed"
    events = gateway.cluster_events(run.cluster_id)
    assert "RUNNING" not in [e["type"] for e in events]
    assert events[-1]["details"]["reason"]["code"] == "INIT_SCRIPT_FAILURE"
    spec = gateway.get_cluster(run.cluster_id)["spec"]
    start, end = min(e["timestamp"] for e in events), max(e["timestamp"] for e in events)
    # The spec's size throughout, CREATING to TERMINATING (what no events at all assume), by hand.
    whole = cluster_timeline(spec, [], fallback_start_ms=start, fallback_end_ms=end)
    assert len(whole.nodes) > 1

    def priced(timeline: ClusterTimeline) -> float:
        return cost_run(cluster_usage(timeline, spec, cloud="aws", region="us-east-1", plan="premium",
                                      input_bytes=None), catalog).total

    assert run.cost is not None
    assert run.cost.total == pytest.approx(priced(whole), rel=1e-9)
    assert run.cost.total > 2 * priced(dataclasses.replace(whole, nodes=whole.nodes[:1]))  # before: the driver's
