"""revC F4: workers an autoscaling RESIZING asks for are billed from the request once a later count
shows they arrived, and not at all when ADD_NODES_FAILED (or the cluster's end) says they never came.
They were billed from the request until ADD_NODES_FAILED (2 -> 8, no capacity: 4.5 node-hours,
$2.7705, for the 3.0 node-hours, $1.8456, that ran), while the same nodes reported joining at RUNNING
were not billed at all (pure)."""

from __future__ import annotations

import pytest

from server.collect.usage import cluster_timeline, cluster_usage
from server.costing.catalog import load_catalog
from server.costing.run_cost import cost_run

M = 60_000
T0 = 1_796_444_220_000
SPEC = {"node_type_id": "m5.2xlarge", "autoscale": {"min_workers": 2, "max_workers": 8},
        "aws_attributes": {"availability": "ON_DEMAND"}}
NO_CAPACITY = {"code": "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE", "type": "CLOUD_FAILURE"}


def ev(minute: float, kind: str, **details: object) -> dict[str, object]:
    return {"timestamp": T0 + int(minute * M), "type": kind, "details": details}


def spans(events: list[dict[str, object]]) -> list[tuple[float, float]]:
    tl = cluster_timeline(SPEC, events, fallback_start_ms=T0, fallback_end_ms=T0, cloud="aws")
    return sorted(((n.start_ms - T0) / M, (n.end_ms - T0) / M) for n in tl.nodes if not n.is_driver)


def total(events: list[dict[str, object]]) -> float:
    tl = cluster_timeline(SPEC, events, fallback_start_ms=T0, fallback_end_ms=T0, cloud="aws")
    usage = cluster_usage(tl, SPEC, cloud="aws", region="us-east-1", plan="premium", input_bytes=None)
    return cost_run(usage, load_catalog()).total


BASE = [ev(0, "CREATING"), ev(5, "RUNNING", current_num_workers=2, target_num_workers=2)]


def test_nodes_add_nodes_failed_says_never_came_are_not_billed() -> None:
    asked = [*BASE, ev(10, "RESIZING", current_num_workers=2, target_num_workers=8, cause="AUTOSCALE"),
             ev(25, "ADD_NODES_FAILED", current_num_workers=2, target_num_workers=8, reason=NO_CAPACITY),
             ev(60, "TERMINATING")]
    nothing_asked = [*BASE, ev(60, "TERMINATING")]
    joining = [ev(0, "CREATING"), ev(5, "RUNNING", current_num_workers=2, target_num_workers=8),
               ev(25, "ADD_NODES_FAILED", current_num_workers=2, target_num_workers=8, reason=NO_CAPACITY),
               ev(60, "TERMINATING")]
    assert spans(asked) == [(0, 60)] * 2
    # The same nodes asked for by a RESIZING or reported joining at RUNNING: one answer, the 2 that ran.
    assert total(asked) == pytest.approx(total(nothing_asked)) == pytest.approx(total(joining))
    # 1.8456 with the default volumes over December's 744 hours (1.8470 over 730; was 2.7705).
    assert total(asked) == pytest.approx(1.8456, abs=1e-4)


def test_the_nodes_that_came_are_billed_from_the_request_the_others_not_at_all() -> None:
    events = [*BASE, ev(10, "RESIZING", current_num_workers=2, target_num_workers=8),
              ev(14, "AUTOSCALING_STATS_REPORT", current_num_workers=2),  # none up yet: nothing changes
              ev(25, "ADD_NODES_FAILED", current_num_workers=5, target_num_workers=8, reason=NO_CAPACITY),
              ev(60, "TERMINATING")]
    assert spans(events) == [(0, 60)] * 2 + [(10, 60)] * 3


def test_a_count_between_request_and_completion_bills_what_it_shows_from_the_request() -> None:
    events = [*BASE, ev(10, "RESIZING", current_num_workers=2, target_num_workers=8),
              ev(13, "AUTOSCALING_STATS_REPORT", current_num_workers=4),
              ev(16, "UPSIZE_COMPLETED", current_num_workers=8, target_num_workers=8), ev(60, "TERMINATING")]
    assert spans(events) == [(0, 60)] * 2 + [(10, 60)] * 6


def test_two_requests_bill_each_node_from_its_own_request() -> None:
    events = [*BASE, ev(10, "RESIZING", current_num_workers=2, target_num_workers=4),
              ev(12, "RESIZING", current_num_workers=2, target_num_workers=6),
              ev(16, "UPSIZE_COMPLETED", current_num_workers=6, target_num_workers=6), ev(60, "TERMINATING")]
    assert spans(events) == [(0, 60)] * 2 + [(10, 60)] * 2 + [(12, 60)] * 2


def test_a_downsize_takes_back_an_upsize_under_way() -> None:
    events = [*BASE, ev(10, "RESIZING", current_num_workers=2, target_num_workers=8),
              ev(12, "RESIZING", current_num_workers=2, target_num_workers=2),
              ev(30, "AUTOSCALING_STATS_REPORT", current_num_workers=2), ev(60, "TERMINATING")]
    assert spans(events) == [(0, 60)] * 2


def test_a_lost_nodes_replacement_is_on_demand_not_the_nodes_an_upsize_asked_for() -> None:
    spec = {**SPEC, "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}}
    events = [*BASE, ev(10, "RESIZING", current_num_workers=2, target_num_workers=8),
              ev(12, "NODES_LOST", current_num_workers=1, target_num_workers=8),
              ev(16, "UPSIZE_COMPLETED", current_num_workers=7, target_num_workers=8),
              ev(20, "UPSIZE_COMPLETED", current_num_workers=8, target_num_workers=8), ev(60, "TERMINATING")]
    tl = cluster_timeline(spec, events, fallback_start_ms=T0, fallback_end_ms=T0, cloud="aws")
    workers = sorted(((n.start_ms - T0) // M, n.spot) for n in tl.nodes if not n.is_driver)
    # The six asked for at 10 follow the spec (spot); the one counted beyond them, at 20, replaces the
    # lost spot node and falls back to on-demand (the six took the fallback before).
    assert workers == [(0, True), (0, True)] + [(10, True)] * 6 + [(20, False)]
