"""The optimizing phase's exploration gate (`models.decide._explore_pick`): the risk of missing the
SLA is priced against the expected saving, above a floor on P(the run meets the SLA)."""

from __future__ import annotations

import numpy as np

from models.decide import Settings, _explore_pick, _Outlook
from models.runtime import Prediction
from models.setup import NO_SETUP


def _outlook(cost: list[float], p_run: list[float], kg: list[float]) -> _Outlook:
    """An outlook with the given expected costs, P(one run meets the SLA) and knowledge gradients
    (what the gate reads); the other fields are consistent placeholders."""
    n = len(cost)
    c = np.array(cost)
    pred = Prediction(mean_log=np.log(c * 3600.0), var_param=np.full(n, 0.01), sigma=0.05)
    p = np.array(p_run)
    return _Outlook(
        pred=pred,
        expected_s=c * 3600.0,
        cost=c,
        p_meet=p,
        p_run=p,
        z_meet=np.zeros(n),
        p_best=np.full(n, 1.0 / n),
        draws_cost=np.tile(c, (4, 1)),
        draws_feasible=np.ones((4, n), dtype=bool),
        tried=frozenset(),
        kg=np.array(kg),
        setup=NO_SETUP,
        median_s=c * 3600.0,
        lo_s=c * 3600.0,
        hi_s=c * 3600.0,
    )


_NONE = np.zeros(3, dtype=bool)


def test_a_risky_run_is_tried_when_its_saving_outweighs_the_priced_misses() -> None:
    # Index 0 is the recommendation; index 1 is 30% cheaper, meets the SLA with P=0.3 and its run
    # is expected to make the recommendation 9% cheaper: 100 runs x 9% > 0.7 x 10 runs' misses.
    out = _outlook([1.0, 0.7, 0.8], [0.97, 0.3, 0.9], [0.0, 0.09, 0.0])
    pick = _explore_pick(out, 0, Settings(sla_s=100.0), _NONE)
    assert pick is not None and pick[0] == 1
    assert abs(pick[1] - 0.09) < 1e-9
    # The same run promising 5% does not pay for P=0.3 (100 x 5% < 0.7 x 10).
    out = _outlook([1.0, 0.7, 0.8], [0.97, 0.3, 0.9], [0.0, 0.05, 0.0])
    assert _explore_pick(out, 0, Settings(sla_s=100.0), _NONE) is None


def test_a_likely_run_needs_only_a_small_saving() -> None:
    # P=0.95: 100 x 2% > 0.05 x 10 runs' misses.
    out = _outlook([1.0, 0.9, 0.8], [0.97, 0.95, 0.2], [0.0, 0.02, 0.0])
    pick = _explore_pick(out, 0, Settings(sla_s=100.0), _NONE)
    assert pick is not None and pick[0] == 1


def test_below_the_floor_nothing_is_tried_however_large_the_saving() -> None:
    out = _outlook([1.0, 0.5, 0.8], [0.97, 0.2, 0.9], [0.0, 0.5, 0.0])
    assert _explore_pick(out, 0, Settings(sla_s=100.0), _NONE) is None
    assert _explore_pick(out, 0, Settings(sla_s=100.0, p_explore=0.1), _NONE) is not None


def test_a_cheaper_miss_price_lets_smaller_savings_through() -> None:
    out = _outlook([1.0, 0.7, 0.8], [0.97, 0.3, 0.9], [0.0, 0.05, 0.0])
    pick = _explore_pick(out, 0, Settings(sla_s=100.0, miss_penalty=3.0), _NONE)
    assert pick is not None and pick[0] == 1


def test_avoided_configurations_and_savings_below_min_saving_are_not_tried() -> None:
    # 1 would pay but is avoided (it failed before); 2 is near-certain to meet the SLA and its
    # value is positive (100 x 0.8% > 0.001 x 10) but 0.8% a run is below min_saving (1%).
    out = _outlook([1.0, 0.7, 0.8], [0.97, 0.9, 0.999], [0.0, 0.09, 0.008])
    avoid = np.array([False, True, False])
    assert _explore_pick(out, 0, Settings(sla_s=100.0), avoid) is None
    assert _explore_pick(out, 0, Settings(sla_s=100.0, min_saving=0.005), avoid) == (2, 0.008)
