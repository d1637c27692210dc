"""Spot losses reach every spot worker over the time it is up, the ones an upsize brought too; workers
below ``first_on_demand`` stay on demand, and a seed fixes which nodes are lost and when."""

from __future__ import annotations

from typing import Any

from sandbox.sim.run import SimNode, SimulatedRun, simulate_run


def _spec(availability: str, first_on_demand: int = 1) -> dict[str, Any]:
    return {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge",
            "autoscale": {"min_workers": 1, "max_workers": 8},
            "aws_attributes": {"availability": availability, "first_on_demand": first_on_demand}}


def _run(spec: dict[str, Any], seed: int, prob: float) -> SimulatedRun:
    return simulate_run(spec, "sort", seed=seed, day=0, cluster_id="c", spark_context_id="1", start_time_ms=0,
                        job_id=1, run_id=1, app_name="a", eventlog=False, spot_loss_prob=prob)


def _first_upsize(run: SimulatedRun) -> list[SimNode]:
    """The workers the run's first upsize asked for (billed from its RESIZING)."""
    asked = min(e.timestamp_ms for e in run.cluster_events
                if e.type == "RESIZING" and e.details["target_num_workers"] > e.details["current_num_workers"])
    return [n for n in run.nodes if not n.is_driver and n.start_ms == asked]


def test_upsized_spot_workers_are_reclaimed_at_a_certain_loss() -> None:
    for seed in range(3):
        run = _run(_spec("SPOT"), seed, prob=1.0)
        upsized = _first_upsize(run)
        assert upsized and all(n.spot and n.lost for n in upsized), seed
        lost = [e for e in run.cluster_events if e.type == "NODES_LOST"]
        assert len(lost) == run.summary["spot_losses"] > len(upsized)


def test_on_demand_workers_are_never_reclaimed() -> None:
    # first_on_demand 3: the driver and workers 1 and 2 on demand, the first of them an upsize's.
    run = _run(_spec("SPOT", first_on_demand=3), 0, prob=1.0)
    on_demand = [n for n in run.nodes if not n.is_driver and not n.spot]
    assert len(on_demand) == 2 and not any(n.lost for n in on_demand)
    assert any(n.lost for n in run.nodes if n.spot)
    # With fallback a lost node's replacement is on demand: no replacement is lost.
    fallback = _run(_spec("SPOT_WITH_FALLBACK"), 0, prob=1.0)
    assert all(not n.lost for n in fallback.nodes if not n.spot)
    assert all(n.lost for n in fallback.nodes if n.spot)  # the first worker and the upsized ones


def test_losses_are_fixed_by_the_seed() -> None:
    def fates(run: SimulatedRun) -> list[tuple[int, int, bool]]:
        return [(n.start_ms, n.end_ms, n.lost) for n in run.nodes]

    first, again = _run(_spec("SPOT"), 4, prob=0.3), _run(_spec("SPOT"), 4, prob=0.3)
    assert fates(first) == fates(again) and any(lost for _, _, lost in fates(first))
    # A loss chance of zero is the run without losses.
    none = _run(_spec("SPOT"), 4, prob=0.0)
    assert not any(n.lost for n in none.nodes) and none.end_time_ms != first.end_time_ms
