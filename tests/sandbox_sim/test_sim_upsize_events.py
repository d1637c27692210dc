"""Autoscaling's cluster events agree with the simulated nodes: overlapping upsizes (a second asked for
before the first's nodes joined) report the workers up, completed counts never go down while no node
leaves, and Trimtab's collector reading the events bills what the simulator's nodes were up."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.sim.run import SimulatedRun, simulate_run
from server.collect.usage import cluster_timeline


def _spec(lo: int, hi: int, availability: str = "ON_DEMAND") -> dict[str, Any]:
    return {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.2xlarge",
            "autoscale": {"min_workers": lo, "max_workers": hi},
            "aws_attributes": {"availability": availability, "first_on_demand": 1}}


def _run(spec: dict[str, Any], profile: str, seed: int) -> SimulatedRun:
    return simulate_run(spec, profile, seed=seed, day=0, cluster_id="c", spark_context_id="1", start_time_ms=0,
                        job_id=1, run_id=1, app_name="a", eventlog=False)


def _overlapping(run: SimulatedRun) -> bool:
    """Some upsize was asked for while nodes of an earlier one were still on their way."""
    targets = [e.details for e in run.cluster_events if e.type in ("RESIZING", "UPSIZE_COMPLETED")]
    return any(a.get("target_num_workers", 0) > a["current_num_workers"] and b.get("cause") == "AUTOSCALE"
               and b["current_num_workers"] < a["target_num_workers"] < b["target_num_workers"]
               for a, b in zip(targets, targets[1:], strict=False))


def _collector_worker_hours(run: SimulatedRun, spec: dict[str, Any]) -> float:
    events = [{"timestamp": e.timestamp_ms, "type": e.type, "details": e.details} for e in run.cluster_events]
    timeline = cluster_timeline(spec, events, fallback_start_ms=0, fallback_end_ms=run.end_time_ms, cloud="aws")
    return sum(n.end_ms - n.start_ms for n in timeline.nodes if not n.is_driver) / 3.6e6


def _simulator_worker_hours(run: SimulatedRun) -> float:
    return sum(n.end_ms - n.start_ms for n in run.nodes if not n.is_driver) / 3.6e6


def test_overlapping_upsizes_read_as_the_simulated_nodes() -> None:
    spec = _spec(2, 40)
    run = _run(spec, "iterative_ml", seed=1)
    assert _overlapping(run)
    completed = [e.details for e in run.cluster_events if e.type == "UPSIZE_COMPLETED"]
    assert completed and all(d["current_num_workers"] <= d["target_num_workers"] for d in completed)
    counts = [d["current_num_workers"] for d in completed]
    assert counts == sorted(counts)  # no node leaves in this run: completed counts only grow
    assert _collector_worker_hours(run, spec) == pytest.approx(_simulator_worker_hours(run), rel=1e-6)


@pytest.mark.parametrize("profile,lo,hi,seed", [("iterative_ml", 2, 40, 5), ("iterative_ml", 2, 16, 4),
                                                 ("sort", 2, 16, 0), ("memory_bound", 4, 16, 3)])
def test_every_resize_event_counts_the_workers_up(profile: str, lo: int, hi: int, seed: int) -> None:
    spec = _spec(lo, hi)
    run = _run(spec, profile, seed)
    # The simulator's nodes are up (and billed) from their request, before they join: no count may
    # exceed them (a release's RESIZING counts the node it releases at that instant).
    for event in run.cluster_events:
        current = event.details.get("current_num_workers")
        if current is None or event.type in ("CREATING", "TERMINATING"):
            continue
        running = sum(1 for n in run.nodes if not n.is_driver and n.start_ms <= event.timestamp_ms < n.end_ms)
        assert current <= running + (1 if event.type == "RESIZING" else 0), (event.type, event.timestamp_ms)
    assert _collector_worker_hours(run, spec) == pytest.approx(_simulator_worker_hours(run), rel=1e-6)
