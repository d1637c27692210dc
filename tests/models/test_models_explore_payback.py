"""Exploration pays only for clusters that can be worth it (review loop, job D): not the best's own
hardware on demand, which inherits the best's knowledge gradient but teaches nothing a run of the
best does not, and not a cluster whose extra cost its expected saving pays back only after months."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from models.choose import _PAYBACK_RUNS, _explore_pick
from models.observation import Observation
from models.outlook import _Outlook, _outlook
from models.prior import DEFAULT_PRIOR
from models.settings import Settings
from models.setup import NO_SETUP
from models.space import Candidate

SPOT = Candidate("c5d.xlargex2-spot", "c5d.xlarge", 4, 8, 2, 0.30, "c", spot=True, on_demand_price_per_hour=0.40)
TWIN = replace(SPOT, config_id="c5d.xlargex2", spot=False, price_per_hour=0.40)  # the same machines on demand
OTHER = Candidate("m5d.xlargex2-spot", "m5d.xlarge", 4, 16, 2, 0.33, "m", spot=True)
BIG = Candidate("c5d.4xlargex4-spot", "c5d.4xlarge", 16, 32, 4, 0.83, "c", spot=True)
CANDS = [SPOT, TWIN, OTHER, BIG]
SETTINGS = Settings(sla_s=None)  # no SLA: the value is the knowledge gradient against the extra cost


def _view(cost: list[float], kg: list[float]) -> _Outlook:
    runs = [Observation(SPOT.config_id, 300.0, True), Observation(SPOT.config_id, 310.0, True)]
    out = _outlook(CANDS, runs, SETTINGS, DEFAULT_PRIOR, {c.config_id: c for c in CANDS}, 0, NO_SETUP)
    assert out.hw[0] == out.hw[1] and len(set(out.hw.tolist())) == 3  # the twin is one hardware with the best
    return replace(out, cost=np.array(cost), kg=np.array(kg), p_run=np.ones(4), p_meet=np.ones(4))


def test_the_bests_own_hardware_on_demand_is_not_explored() -> None:
    # The twin inherits the best's gradient (as job D's: 0.8% a run, value 0.06 over 100 runs).
    out = _view([0.1016, 0.1331, 0.30, 0.50], [0.0, 0.0025, 0.0, 0.0])
    assert _explore_pick(out, 0, SETTINGS, np.zeros(4, dtype=bool)) is None
    # A cluster of other hardware with the same figures still is.
    out = replace(out, hw=np.array([0, 1, 2, 3]))
    assert _explore_pick(out, 0, SETTINGS, np.zeros(4, dtype=bool)) == (1, 0.0025 / 0.1016)


def test_an_exploration_must_pay_back_its_extra_cost_within_a_bounded_horizon() -> None:
    best = 0.1
    # 2.76x the best's cost for an expected 2.1% a run: over 100 runs it "outweighs" the extra
    # (2.1 > 1.76 runs of the best), yet it pays back only after 84 runs.
    out = _view([best, 0.2, 0.3, 2.76 * best], [0.0, 0.0, 0.0, 0.021 * best])
    assert _explore_pick(out, 0, SETTINGS, np.zeros(4, dtype=bool)) is None
    # The same saving for an extra cost it pays back within the bound is explored.
    cheap = (_PAYBACK_RUNS - 1) * 0.021 * best
    out = replace(out, cost=np.array([best, 0.2, 0.3, best + cheap]))
    assert _explore_pick(out, 0, SETTINGS, np.zeros(4, dtype=bool)) == (3, 0.021)
