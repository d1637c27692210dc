"""How `models.decide` picks the next cluster near the SLA target, when nothing reaches it, after a
first run that lost a spot node, and after an out-of-memory failure in a one-family space (review
revL: a closed month on the workspace emulator)."""

from __future__ import annotations

import numpy as np

from models.decide import Settings, _best_index, _explore_pick, _held, _Outlook, decide
from models.observation import OUT_OF_MEMORY, Observation
from models.runtime import Prediction
from models.setup import NO_SETUP
from models.space import Candidate


def _c6id(sizes: tuple[tuple[str, int, float, float], ...] = (("xlarge", 4, 8.0, 0.25), ("2xlarge", 8, 16.0, 0.50),
                                                              ("4xlarge", 16, 32.0, 1.00)),
          nodes: tuple[int, ...] = (2, 3, 4, 5, 6, 8, 10)) -> list[Candidate]:
    """One family at 2 GiB per vCPU throughout (as c6id): no size has more memory per core."""
    return [Candidate(f"c6id.{s}x{n}", f"c6id.{s}", v, m, n, round(n * p, 6), family="c6id")
            for s, v, m, p in sizes for n in nodes]


def test_after_an_out_of_memory_failure_in_one_family_nodes_no_bigger_are_not_run() -> None:
    # revL F4: skewed_join ran out of memory on c6id.xlarge x4; every c6id has 2 GiB/vCPU, so the
    # "more memory per core" rule could not apply and was dropped, and c6id.xlarge x5 was explored
    # next at P=100% (it fails as x4 did; every c6id.2xlarge size succeeds).
    cands = _c6id()
    by_id = {c.config_id: c for c in cands}
    history = [
        Observation("c6id.2xlargex8", 504.0, ok=True),
        Observation("c6id.xlargex4", 880.0, ok=False, anomalies=("failure", OUT_OF_MEMORY)),
    ]
    for auto_apply in (True, False):
        d = decide(cands, history, Settings(sla_s=900.0, sla_per_run=True, auto_apply=auto_apply))
        assert by_id[d.candidate.config_id].memory_gib > 8.0, d.reason
        assert by_id[d.best.config_id].memory_gib > 8.0 if d.best else True
    # Only the size that ran out of memory is left: it is still what runs (nothing else can).
    only_small = [c for c in cands if c.instance_type == "c6id.xlarge"]
    d = decide(only_small, [Observation("c6id.xlargex4", 880.0, ok=False, anomalies=("failure", OUT_OF_MEMORY))],
               Settings(sla_s=900.0, sla_per_run=True))
    assert d.candidate.instance_type == "c6id.xlarge"


def _outlook(cost: list[float], p: list[float], z: list[float] | None = None, kg: list[float] | None = None,
             execution_s: list[float] | None = None) -> _Outlook:
    """An outlook with the given expected costs, P(meet the SLA) (the same for one run), z-scores,
    knowledge gradients and predicted executions; the other fields are consistent placeholders."""
    n = len(cost)
    c = np.array(cost)
    execution = np.array(execution_s) if execution_s is not None else np.full(n, 100.0)
    pred = Prediction(mean_log=np.log(execution), var_param=np.full(n, 0.01), sigma=0.05)
    pp = np.array(p)
    return _Outlook(
        pred=pred, expected_s=execution, cost=c, p_meet=pp, p_run=pp,
        z_meet=np.array(z) if z is not None else np.zeros(n),
        p_best=np.full(n, 1.0 / n), draws_cost=np.tile(c, (4, 1)), draws_feasible=np.ones((4, n), dtype=bool),
        tried=frozenset(), kg=np.array(kg) if kg is not None else np.zeros(n), setup=NO_SETUP,
        median_s=execution, lo_s=execution, hi_s=execution,
    )


_EVERY_RUN = Settings(sla_s=360.0, sla_per_run=True)


def test_a_dearer_cluster_must_raise_p_materially_over_a_cheaper_one_just_under_the_target() -> None:
    # revL F1, the planner's view after 16 runs of etl-tight: c6id.2xlarge x8 at $0.446 P 0.891,
    # m6id.4xlarge x20 at $2.264 P 0.902 (the only one over 0.9) was recommended as the "cheapest".
    none = np.zeros(3, dtype=bool)
    out = _outlook([0.446, 2.264, 0.30], [0.891, 0.902, 0.60])
    assert _best_index(out, _EVERY_RUN, none, none) == 0
    # Whether the top P is 0.901 or 0.899 (the two rules), the pick is the same cluster.
    for top in (0.899, 0.901, 0.905):
        out = _outlook([0.446, 2.264, 0.30], [0.891, top, 0.60], z=[0.0, 5.0, -1.0])
        assert _best_index(out, _EVERY_RUN, none, none) == 0, top
    # A material gain (over the band) still buys the dearer cluster, and at or above the target
    # the cheapest reaching it is taken as before.
    out = _outlook([0.446, 2.264, 0.30], [0.86, 0.95, 0.60])
    assert _best_index(out, _EVERY_RUN, none, none) == 1
    out = _outlook([0.446, 2.264, 0.30], [0.93, 0.95, 0.60])
    assert _best_index(out, _EVERY_RUN, none, none) == 0


def test_the_current_cluster_is_held_while_its_p_is_within_the_band_unless_a_move_saves() -> None:
    # revL F1: `_held` held only at or above the target, so each 0.01 dip under 0.9 moved the job to
    # a dearer cluster (14 changes in 25 runs).
    cands = [Candidate(f"c{i}", "t", 8, 16.0, 4, 1.0) for i in range(3)]
    history = [Observation("c0", 300.0, ok=True)]
    none = np.zeros(3, dtype=bool)
    out = _outlook([0.97, 1.57, 0.30], [0.887, 0.95, 0.60])  # best: c1 (dearer, P well over the bar)
    assert _best_index(out, _EVERY_RUN, none, none) == 1
    assert _held(out, 1, history, 0, _EVERY_RUN, none, cands) == 0
    # Too far under (beyond the band under the bar): it moves.
    out = _outlook([0.97, 1.57, 0.30], [0.87, 0.95, 0.60])
    assert _held(out, 1, history, 0, _EVERY_RUN, none, cands) is None
    # A cheaper cluster that reaches the bar and saves materially: it moves.
    out = _outlook([0.97, 0.50, 0.30], [0.887, 0.95, 0.60])
    assert _held(out, 1, history, 0, _EVERY_RUN, none, cands) is None
    # Nothing reaches the target: held within the band under the likeliest, not under the band's
    # own bar too (a closed loop held P 0.851 beside 0.887 for 9 runs).
    out = _outlook([0.311, 0.464, 1.057], [0.851, 0.869, 0.887])
    assert _best_index(out, _EVERY_RUN, none, none) == 1
    assert _held(out, 1, history, 0, _EVERY_RUN, none, cands) is None
    out = _outlook([0.311, 0.464, 1.057], [0.870, 0.875, 0.887])
    assert _best_index(out, _EVERY_RUN, none, none) == 0


def test_the_likeliest_is_ranked_by_the_whole_runs_p_and_the_cheapest_close_to_it_is_taken() -> None:
    # revL F2: ranked by a z-score of the execution alone (setup variance left out), a cluster at
    # P 0.70 was "the likeliest" while others had P 0.74-0.79, some cheaper.
    none = np.zeros(4, dtype=bool)
    out = _outlook([0.374, 0.343, 0.923, 0.20], [0.70, 0.775, 0.79, 0.30], z=[0.96, 0.80, 0.86, -1.0])
    assert _best_index(out, Settings(sla_s=600.0, sla_per_run=True), none, none) == 1
    # In the tails (every P under `_P_RANKS`) the z-score still ranks, as before.
    out = _outlook([0.374, 0.343, 0.923, 0.20], [0.03, 0.02, 0.025, 0.001], z=[-1.5, -2.5, -2.0, -3.0])
    assert _best_index(out, Settings(sla_s=600.0, sla_per_run=True), none, none) == 0


def test_below_the_target_a_run_as_likely_as_the_recommendation_may_explore() -> None:
    # revL F2: under the every-run rule an exploration had to reach P >= 0.9 itself, so with every
    # cluster under 0.9 nothing was ever tried and the job stayed on the likeliest for good.
    none = np.zeros(3, dtype=bool)
    settings = Settings(sla_s=600.0, sla_per_run=True)
    out = _outlook([0.374, 0.40, 0.30], [0.70, 0.74, 0.50], kg=[0.0, 0.02, 0.01])
    pick = _explore_pick(out, 0, settings, none)
    assert pick is not None and pick[0] == 1
    # A run less likely than the recommendation is still not tried under the every-run rule.
    out = _outlook([0.374, 0.40, 0.30], [0.70, 0.60, 0.50], kg=[0.0, 0.02, 0.03])
    assert _explore_pick(out, 0, settings, none) is None


def test_a_first_run_that_lost_a_spot_node_yet_met_the_sla_keeps_its_cluster() -> None:
    # revL F3: the imported cluster's first run lost a spot node and still met the SLA (504 s of
    # 600 s); as "no usable run yet" the next was the median-core cluster with the lowest price per
    # core, with no SLA check (c6id.8xlarge x2 spot, 741 s: a miss), still on spot. Its own cluster
    # runs next; on spot, which at 40% of the price and 0.06 losses a node-hour is the cheaper in
    # expectation (it went on demand for any loss until the spot review).
    cands = []
    for t, v, m, p in (("r5d.2xlarge", 8, 64.0, 0.70), ("c6id.8xlarge", 32, 64.0, 1.60), ("c6id.4xlarge", 16, 32.0, 0.80)):
        for n in (2, 4, 8):
            cands.append(Candidate(f"{t}x{n}", t, v, m, n, round(n * p, 6), family=t[:4]))
            cands.append(Candidate(f"{t}x{n}-spot", t, v, m, n, round(n * p * 0.4, 6), family=t[:4], spot=True,
                                   interruption_rate=0.5, on_demand_price_per_hour=round(n * p, 6)))
    lost = Observation("r5d.2xlargex8-spot", 504.0, ok=True, anomalies=("spot_loss",), setup_s=200.0)
    d = decide(cands, [lost], Settings(sla_s=600.0, sla_per_run=True))
    assert d.candidate.config_id == "r5d.2xlargex8-spot", d.reason
    assert d.p_meet_sla is not None and d.p_meet_sla > 0.5
    assert "lost spot nodes yet met the 600s SLA in 504s" in d.reason and f"P={d.p_meet_sla:.0%}" in d.reason
    # Over the SLA it is no such evidence: the cluster is not kept.
    over = Observation("r5d.2xlargex8-spot", 700.0, ok=True, anomalies=("spot_loss",), setup_s=200.0)
    d = decide(cands, [over], Settings(sla_s=600.0, sla_per_run=True))
    assert d.candidate.instance_type != "r5d.2xlarge" or d.candidate.nodes != 8
