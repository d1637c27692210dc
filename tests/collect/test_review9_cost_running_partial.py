"""Review 9: a cluster that reached RUNNING with workers still joining (RUNNING {current 2, target 8})
had the six late workers billed only from UPSIZE_COMPLETED; all eight were launched at creation, as
the timeline assumes with no events at all, and are billed from then (pure)."""

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


def test_workers_that_never_joined_end_at_the_upsize_that_gave_up_on_them() -> None:
    events = [_event("CREATING", 0), _event("RUNNING", 5, current_num_workers=2, target_num_workers=8),
              _event("AUTOSCALING_STATS_REPORT", 7, current_num_workers=4),  # on their way: not ended here
              _event("UPSIZE_COMPLETED", 9, current_num_workers=6, target_num_workers=8), _event("TERMINATING", 60)]
    assert _spans(events) == [(0, 9)] * 2 + [(0, 60)] * 6


def test_a_running_cluster_at_its_full_size_is_unchanged() -> None:
    events = [_event("CREATING", 0), _event("RUNNING", 5, current_num_workers=8, target_num_workers=8),
              _event("TERMINATING", 60)]
    assert _spans(events) == [(0, 60)] * 8
