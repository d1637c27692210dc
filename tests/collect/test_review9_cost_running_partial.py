"""Review 9: a cluster that reached RUNNING with workers still joining (RUNNING {current 2, target 8})
had the six late workers billed only from UPSIZE_COMPLETED; they were launched at creation, and are
billed from then once a later count shows them up. Diff 9 review: all eight were then billed from
creation whether they came or not; a cluster the cloud had no capacity for (ADD_NODES_FAILED, later
counts of 2) was billed as the full cluster, 8 worker-hours for the 2 it ran (pure)."""

from __future__ import annotations

from server.collect.usage import cluster_timeline

M = 60_000
T0 = 1_700_000_000_000
SPEC = {"node_type_id": "m5.xlarge", "num_workers": 8, "aws_attributes": {"availability": "ON_DEMAND"}}


def _spans(events: list[dict[str, object]]) -> list[tuple[int, int]]:
    timeline = cluster_timeline(SPEC, events, fallback_start_ms=T0, fallback_end_ms=T0 + 60 * M)
    return sorted(((n.start_ms - T0) // M, (n.end_ms - T0) // M) for n in timeline.nodes if not n.is_driver)


def _event(kind: str, minute: int, **details: object) -> dict[str, object]:
    return {"timestamp": T0 + minute * M, "type": kind, "details": details}


def test_workers_still_joining_at_running_are_billed_from_creation() -> None:
    events = [_event("CREATING", 0), _event("RUNNING", 5, current_num_workers=2, target_num_workers=8),
              _event("UPSIZE_COMPLETED", 9, current_num_workers=8, target_num_workers=8), _event("TERMINATING", 60)]
    assert _spans(events) == [(0, 60)] * 8  # before: 2 from 0, 6 from 9 (8.1 node-hours of 9)


def test_workers_that_never_joined_are_not_billed() -> None:
    events = [_event("CREATING", 0), _event("RUNNING", 5, current_num_workers=2, target_num_workers=8),
              _event("AUTOSCALING_STATS_REPORT", 7, current_num_workers=4),  # two more arrived
              _event("UPSIZE_COMPLETED", 9, current_num_workers=6, target_num_workers=8), _event("TERMINATING", 60)]
    assert _spans(events) == [(0, 60)] * 6  # before: two more for 9 minutes, though they never came


def test_workers_the_cloud_had_no_capacity_for_are_not_billed() -> None:
    events = [_event("CREATING", 0), _event("RUNNING", 5, current_num_workers=2, target_num_workers=8),
              _event("ADD_NODES_FAILED", 6, current_num_workers=2, target_num_workers=8,
                     reason={"code": "AWS_INSUFFICIENT_INSTANCE_CAPACITY_FAILURE", "type": "CLOUD_FAILURE"}),
              _event("AUTOSCALING_STATS_REPORT", 30, current_num_workers=2), _event("TERMINATING", 60)]
    assert _spans(events) == [(0, 60)] * 2  # before: 8 workers for the whole hour


def test_workers_no_later_count_shows_are_not_billed() -> None:
    events = [_event("CREATING", 0), _event("RUNNING", 5, current_num_workers=2, target_num_workers=8),
              _event("AUTOSCALING_STATS_REPORT", 30, current_num_workers=2), _event("TERMINATING", 60)]
    assert _spans(events) == [(0, 60)] * 2


def test_a_worker_that_comes_after_the_upsize_gave_up_is_billed_from_its_arrival() -> None:
    events = [_event("CREATING", 0), _event("RUNNING", 5, current_num_workers=2, target_num_workers=8),
              _event("ADD_NODES_FAILED", 6, current_num_workers=3, target_num_workers=8),  # one came first
              _event("AUTOSCALING_STATS_REPORT", 30, current_num_workers=5), _event("TERMINATING", 60)]
    assert _spans(events) == [(0, 60)] * 3 + [(30, 60)] * 2


def test_an_upsize_given_up_after_a_resizing_ends_the_missing_nodes_there() -> None:
    events = [_event("CREATING", 0), _event("RUNNING", 5, current_num_workers=2),
              _event("RESIZING", 10, current_num_workers=2, target_num_workers=8),
              _event("ADD_NODES_FAILED", 15, current_num_workers=4, target_num_workers=8), _event("TERMINATING", 60)]
    # As an UPSIZE_COMPLETED with fewer nodes: the two that came billed from the request; the four it
    # says never came not at all (revC F4: they were billed from the request to the failure).
    assert _spans(events) == [(0, 60)] * 2 + [(10, 60)] * 2


def test_a_running_cluster_at_its_full_size_is_unchanged() -> None:
    events = [_event("CREATING", 0), _event("RUNNING", 5, current_num_workers=8, target_num_workers=8),
              _event("TERMINATING", 60)]
    assert _spans(events) == [(0, 60)] * 8
