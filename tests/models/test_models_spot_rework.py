"""Spot losses priced per lost node (`models.spot_rework`), not as half a run per run with any loss.

A spot review found the old price charged 0.5 x the whole run x P(at least one loss), which grows with
the cluster's spot nodes at an equal runtime: 32 spot workers at 0.1 losses per node-hour were priced
$20.26 an hour-long run against $18.18 on demand, while the simulator's runs that lost nodes cost
0.1% more at 32 workers (15% at 2). A lost worker costs its share of the work, a lost spot driver
the whole run."""

from __future__ import annotations

import math

import pytest

from models.decide import Settings, forecast
from models.observation import Observation
from models.space import Candidate

# Seconds from a worker's loss until its replacement runs tasks (`models.spot_rework.REPLACEMENT_S`),
# written out so that these tests run on the code from before it too.
REPLACEMENT_S = 120.0


def _twins(workers: int, od_price: float, spot_price: float, per_node_hour: float, *,
           driver_on_spot: bool = False) -> list[Candidate]:
    """m5d.xlarge x ``workers`` on demand and on spot (every worker, and the driver when asked)."""
    spot_nodes = workers + (1 if driver_on_spot else 0)
    name = f"m5d.xlargex{workers}"
    od = Candidate(name, "m5d.xlarge", 4.0, 16.0, workers, od_price, family="m5d")
    spot = Candidate(name + ("-spot0" if driver_on_spot else "-spot"), "m5d.xlarge", 4.0, 16.0, workers, spot_price,
                     family="m5d", spot=True, interruption_rate=per_node_hour * spot_nodes,
                     on_demand_price_per_hour=od_price,
                     **({"spot_nodes": float(spot_nodes), "spot_driver": True} if driver_on_spot else {}))
    return [od, spot]


def _runs(c: Candidate, runtime_s: float) -> list[Observation]:
    return [Observation(c.config_id, runtime_s, True), Observation(c.config_id, runtime_s, True)]


def _loss_share(workers: int, runtime_s: float, per_node_hour: float) -> float:
    """What the losses add to a spot run's expected cost, as a share of it, read off the forecast of
    the spot twin beside its on-demand twin (one hardware: one predicted runtime)."""
    od, spot = _twins(workers, 0.5 * (workers + 1), 0.2 * (workers + 1), per_node_hour)
    by = {f.candidate.config_id: f for f in forecast([od, spot], _runs(od, runtime_s), Settings(sla_s=None))}
    clean_ratio = spot.price_per_hour / od.price_per_hour
    return by[spot.config_id].predicted_cost / by[od.config_id].predicted_cost / clean_ratio - 1.0


def test_the_loss_penalty_falls_as_the_same_work_is_spread_over_more_spot_workers() -> None:
    # The same work (8 worker-hours) on 2, 8 and 32 workers, 0.1 losses per spot node-hour: as many
    # losses are expected on each (0.8), and each costs the lost worker's share of the work. The old
    # price charged 27.5% on each size alike.
    shares = [_loss_share(n, 8 * 3600.0 / n, 0.1) for n in (2, 8, 32)]
    assert shares[0] > shares[1] > shares[2] > 0.0, shares
    assert shares[2] < 0.03 and shares[0] < 0.3, shares


def test_thirty_two_spot_workers_at_a_tenth_of_a_loss_a_node_hour_stay_cheaper_than_on_demand() -> None:
    # The review's m5d.xlarge x32 Photon job, an hour a run: $13.69 on spot, $18.18 on demand. About
    # 3.2 workers lost a run, each redoing a 32nd of the run and waiting 2 minutes for a replacement.
    od, spot = _twins(32, 18.18, 13.69, 0.1)
    by = {f.candidate.config_id: f for f in forecast([od, spot], _runs(od, 3600.0), Settings(sla_s=None))}
    assert by[spot.config_id].predicted_cost < 15.0 < by[od.config_id].predicted_cost
    # 3.2 losses x (half a run + the replacement's wait) / 32 workers of the run's cost, and no more.
    expected = 13.69 * (1.0 + 3.2 * (0.5 + (REPLACEMENT_S - REPLACEMENT_S**2 / 7200.0) / 3600.0) / 32.0)
    assert by[spot.config_id].predicted_cost == pytest.approx(expected, rel=0.02)


def test_a_spot_driver_is_priced_with_the_risk_of_losing_the_whole_run() -> None:
    # Losing the driver ends the application: the run fails and runs again, and misses its SLA. Its
    # spot driver adds only one node's losses (0.1 an hour) to 8 workers', yet a whole run each time.
    runtime = 3600.0
    workers_only = _twins(8, 3.6, 2.0, 0.1)
    with_driver = _twins(8, 3.6, 1.95, 0.1, driver_on_spot=True)
    history = _runs(workers_only[0], runtime)
    settings = Settings(sla_s=1.6 * runtime)
    by = {f.candidate.config_id: f for f in forecast([*workers_only, with_driver[1]], history, settings)}
    plain, driver = by[workers_only[1].config_id], by[with_driver[1].config_id]
    p_driver = 1.0 - math.exp(-0.1)
    # Its cost: the workers' losses as on the other twin, plus P(driver lost) x a whole run.
    assert driver.predicted_cost - plain.predicted_cost * 1.95 / 2.0 == pytest.approx(
        p_driver * 1.95 * plain.predicted_runtime_s / 3600.0, rel=0.15)
    # Its P(meet SLA): a worker loss still meets a 1.6x SLA, a driver loss never does.
    assert plain.p_meet_sla is not None and driver.p_meet_sla is not None
    assert plain.p_meet_sla > 0.97 and driver.p_meet_sla < 1.0 - p_driver + 0.01
    assert driver.p_meet_sla == pytest.approx(plain.p_meet_sla * (1.0 - p_driver), abs=0.01)


def test_one_lost_worker_costs_its_share_of_the_work_and_the_wait_for_its_replacement() -> None:
    from models.spot_rework import loss_risk

    # Hand-reckoned: 2 workers, 600 s execution in a 700 s run, one loss expected a run.
    spot = Candidate("x2-spot", "m5d.xlarge", 4.0, 16.0, 2, 1.0, spot=True, interruption_rate=3600.0 / 700.0)
    risk = loss_risk([spot], [600.0], [700.0])
    wait = REPLACEMENT_S - REPLACEMENT_S**2 / 1200.0  # a loss at a uniform point, capped by what is left
    assert risk.extra_s[0] == pytest.approx((0.5 * 600.0 + wait) / 2)
    assert risk.p_worker[0] == pytest.approx(1.0 - math.exp(-1.0)) and risk.p_driver[0] == 0.0
