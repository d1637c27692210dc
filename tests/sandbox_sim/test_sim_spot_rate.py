"""Spot reclaims in the simulator are a rate per spot node-hour (`sandbox.sim.spot_market`), not a fixed
chance per run whatever its length; and a spot driver (first_on_demand 0) can be reclaimed too, which
ends the run as on Databricks: the cluster terminates with SPOT_INSTANCE_TERMINATION and the run fails."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.sim.run import SimulatedRun, simulate_run
from sandbox.sim.spot_market import SpotMarket
from sandbox.workspace.seed import aws_cluster


def _sim(spec: dict[str, Any], seed: int = 1, profile: str = "etl_join_aggregate", **kw: Any) -> SimulatedRun:
    return simulate_run({**spec, "spark_version": "15.4.x-scala2.12"}, profile, seed=seed, day=0, cluster_id="c-1",
                        spark_context_id="1", start_time_ms=0, job_id=1, run_id=1, app_name="a", **kw)


def _spot(workers: int, first_on_demand: int) -> dict[str, Any]:
    return {**aws_cluster("m5d.xlarge", workers), "aws_attributes": {"availability": "SPOT_WITH_FALLBACK",
                                                                     "first_on_demand": first_on_demand}}


def test_the_chance_of_a_loss_grows_with_the_time_a_node_is_up() -> None:
    market = SpotMarket()
    minutes = [market.loss_chance(m * 60_000) for m in (2, 20, 120)]
    # Some 3% over a typical sandbox run's 2 minutes (the fixed chance it replaces), far more over hours.
    assert minutes[0] == pytest.approx(0.03, abs=0.005)
    assert minutes[0] < minutes[1] < minutes[2] and minutes[2] > 0.8
    assert SpotMarket(rate=0.0).loss_chance(10 * 3_600_000) == 0.0
    assert SpotMarket(chance=1.0).loss_chance(1) == 1.0  # a fixed chance, for tests that force losses
    with pytest.raises(ValueError, match="spot loss rate"):
        SpotMarket(rate=-1.0)


def test_the_rate_decides_the_runs_losses() -> None:
    calm = [_sim(_spot(4, 1), seed=s, spot_loss_rate=0.0) for s in range(5)]
    assert all(r.summary["spot_losses"] == 0 and r.result_state == "SUCCESS" for r in calm)
    stormy = _sim(_spot(4, 1), spot_loss_rate=5000.0)
    # Every first spot worker reclaimed (and replacements on demand: the spec falls back); the driver,
    # on demand, never.
    lost = [n for n in stormy.nodes if n.lost]
    assert len(lost) >= 4 and not any(n.is_driver for n in lost)
    assert stormy.result_state == "SUCCESS"


def test_a_spot_driver_reclaimed_fails_the_run_and_terminates_the_cluster() -> None:
    run = _sim(_spot(4, 0), spot_loss_prob=1.0)
    driver = run.nodes[0]
    assert driver.is_driver and driver.spot and driver.lost
    lost_at = run.summary["driver_lost_ms"]
    assert driver.end_ms == lost_at and run.result_state == "FAILED"
    assert "SPOT_INSTANCE_TERMINATION" in run.state_message
    terminating = [e for e in run.cluster_events if e.type == "TERMINATING"]
    assert [e.details["reason"]["code"] for e in terminating] == ["SPOT_INSTANCE_TERMINATION"]
    assert terminating[0].details["reason"]["type"] == "CLOUD_FAILURE"
    assert all(e.timestamp_ms <= terminating[0].timestamp_ms for e in run.cluster_events)
    # Spark on the driver writes nothing from the loss: no application end, nothing after it.
    events = [json.loads(line)["Event"] for _, line in run.eventlog]
    assert "SparkListenerApplicationEnd" not in events
    assert max(t for t, _ in run.eventlog) < lost_at
    # The workers ran on to the cluster's termination (or their own loss).
    assert all(n.end_ms <= terminating[0].timestamp_ms for n in run.nodes)


def test_an_on_demand_driver_is_never_reclaimed() -> None:
    run = _sim(_spot(4, 1), spot_loss_prob=1.0)
    assert not run.nodes[0].lost and run.summary["driver_lost_ms"] is None and run.result_state == "SUCCESS"
