"""Cost review: a run canceled while its cluster ran its init scripts (CREATING -> INIT_SCRIPTS_STARTED
-> TERMINATING USER_REQUEST, no RUNNING) was priced as its driver alone. Init scripts run on every node,
so its workers were up, and billed by AWS and Databricks, from CREATING; a launch the cloud refused
before that step got no workers (pure; hand-computed prices from the shipped catalog)."""

from __future__ import annotations

import pytest

from server.collect.usage import cluster_timeline
from server.costing.catalog import load_catalog
from server.costing.run_cost import ClusterUsage, cost_run

M = 60_000
T0 = 1_800_000_000_000  # 2027-01-15 08:00 UTC
SPEC = {"node_type_id": "m5d.2xlarge", "num_workers": 8, "spark_version": "15.4.x-scala2.12",
        "aws_attributes": {"availability": "ON_DEMAND"}}
CANCELED = {"reason": {"code": "USER_REQUEST", "type": "SUCCESS"}}
NO_CAPACITY = {"reason": {"code": "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE", "type": "CLOUD_FAILURE"}}


def _event(kind: str, minute: int, **details: object) -> dict[str, object]:
    return {"timestamp": T0 + minute * M, "type": kind, "details": details}


def _spans(events: list[dict[str, object]]) -> list[tuple[str, int, int]]:
    timeline = cluster_timeline(SPEC, events, fallback_start_ms=T0, fallback_end_ms=T0 + 20 * M, cloud="aws")
    return sorted((n.instance_id, (n.start_ms - T0) // M, (n.end_ms - T0) // M) for n in timeline.nodes)


def test_a_run_canceled_while_its_init_scripts_ran_is_billed_its_workers() -> None:
    events = [_event("CREATING", 0), _event("INIT_SCRIPTS_STARTED", 4), _event("TERMINATING", 20, **CANCELED)]
    timeline = cluster_timeline(SPEC, events, fallback_start_ms=T0, fallback_end_ms=T0 + 20 * M, cloud="aws")
    cost = cost_run(ClusterUsage("aws", "us-east-1", "premium", "jobs", list(timeline.nodes)), load_catalog())
    # By hand, 9 on-demand m5d.2xlarge for 20 minutes (1/3 h), us-east-1, Premium Jobs Compute:
    # DBUs 9 x 1.38 / 3 = 4.14, x $0.15 = $0.621; compute 9 x $0.452 / 3 = $1.356;
    # default volumes 9 x 180 GB x $0.10 / 744 h (January's) / 3 = $0.07258. Before: the driver alone,
    # $0.2279 / 0.46 DBU.
    assert cost.dbus == pytest.approx(4.14)
    assert cost.dbu_cost == pytest.approx(0.621)
    assert cost.compute_cost == pytest.approx(1.356)
    assert cost.total == pytest.approx(0.621 + 1.356 + 9 * 180 * 0.10 / 744 / 3)


@pytest.mark.parametrize("step", ["INIT_SCRIPTS_STARTED", "INIT_SCRIPTS_FINISHED"])
def test_a_cluster_ended_after_its_init_scripts_had_its_workers_from_creating(step: str) -> None:
    events = [_event("CREATING", 0), _event(step, 6), _event("TERMINATING", 12, **CANCELED)]
    assert _spans(events) == [("driver", 0, 12)] + [(f"worker-{i}", 0, 12) for i in range(1, 9)]


def test_a_cancel_before_the_nodes_were_up_keeps_the_driver_alone() -> None:
    events = [_event("CREATING", 0), _event("TERMINATING", 3, **CANCELED)]
    assert _spans(events) == [("driver", 0, 3)]


def test_a_capacity_failure_before_acquisition_keeps_the_driver_alone() -> None:
    events = [_event("CREATING", 0), _event("TERMINATING", 3, **NO_CAPACITY),
              _event("INIT_SCRIPTS_STARTED", 4)]  # after the end: no sign of nodes during its life
    assert _spans(events) == [("driver", 0, 3)]


def test_a_launch_that_counted_fewer_workers_bills_those_it_counted() -> None:
    events = [_event("CREATING", 0),
              _event("ADD_NODES_FAILED", 3, current_num_workers=3, target_num_workers=8, **NO_CAPACITY),
              _event("INIT_SCRIPTS_STARTED", 4), _event("TERMINATING", 10, **CANCELED)]
    assert _spans(events) == [("driver", 0, 10)] + [(f"worker-{i}", 0, 10) for i in range(1, 4)]
