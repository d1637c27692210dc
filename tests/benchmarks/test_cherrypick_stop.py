"""The CherryPick-style baseline stops searching by the paper's rule (benchmark review, 2026-12-07).

It ran a new configuration every step. CherryPick (Alipourfard et al., NSDI 2017) stops once the
expected improvement is under 10% after at least 6 configurations have run, and then runs the best
configuration found: a fair baseline does the same.
"""

from __future__ import annotations

import numpy as np

from benchmarks.baselines import CherryPickTuner
from models.space import Candidate
from tests.benchmarks.tuner_loop import run_search


def _cands(nodes: list[int]) -> list[Candidate]:
    return [Candidate(f"{n}x", "a", 4.0, 16.0, n, float(n)) for n in nodes]


def test_cherrypick_stops_after_six_runs_when_little_is_left_to_gain_and_runs_its_best() -> None:
    # Twenty configurations priced in proportion to their cores on a job that scales perfectly:
    # every configuration costs the same, so once a few have run, no other can save 10%.
    cands = _cands(list(range(1, 21)))
    tuner = CherryPickTuner()
    tried, recs = run_search(tuner, cands, sla_s=10_000.0, start="1x",
                          run=lambda c: (4000.0 / c.cores, True), budget=12)
    assert tuner.stopped
    assert len(set(tried)) == 6, tried
    # After the stop every run is the recommendation, which no longer changes.
    assert tried[6:] == [recs[5]] * 6
    assert set(recs[5:]) == {recs[5]}


def test_cherrypick_goes_on_searching_while_a_much_cheaper_configuration_may_exist() -> None:
    # Runtimes that follow no pattern across 24 configurations (a 1000-fold spread): after six runs
    # the GP still expects more than 10% from an untried one, so it keeps running new ones.
    cands = [Candidate(f"{n}x{v}", "a", float(v), 4.0 * v, n, 0.1 * n * v) for n in (1, 2, 4, 8, 16, 32) for v in (2, 4, 8, 16)]
    spread = np.exp(np.random.default_rng(4).uniform(np.log(10.0), np.log(10_000.0), len(cands)))
    runtimes = dict(zip((c.config_id for c in cands), spread, strict=True))
    tuner = CherryPickTuner()
    tried, _ = run_search(tuner, cands, sla_s=1e7, start="32x16", run=lambda c: (float(runtimes[c.config_id]), True), budget=8)
    assert not tuner.stopped
    assert len(set(tried)) == 8, tried


def test_cherrypick_does_not_stop_before_anything_met_the_sla() -> None:
    cands = _cands(list(range(1, 21)))
    tuner = CherryPickTuner()
    # Every configuration misses an SLA of 1 s: there is no best cost to improve on.
    tried, _ = run_search(tuner, cands, sla_s=1.0, start="1x", run=lambda c: (4000.0 / c.cores, True), budget=9)
    assert not tuner.stopped
    assert len(set(tried)) == 9
