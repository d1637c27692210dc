"""Runtime regressions on a noisy job (15-20% a run, shared cloud storage): a slow pair judged before
the segment repeated any configuration is no proof; a lasting change is still seen."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.changes import RUNTIME_REGRESSION, screen
from models.decide import Settings, decide
from models.observation import Observation
from tests.models.models_synth import Job, grid

CANDS = grid()
KNOWN = {c.config_id: c for c in CANDS}
A, B, C = 5, 9, 13


def _exec(config: int, runtime_s: float) -> Observation:
    return Observation(CANDS[config].config_id, runtime_s, True, input_gb=100.0)


def test_a_slow_pair_against_one_fast_run_with_no_noise_of_its_own_waits_for_a_third() -> None:
    # The pattern of the closed loops' false rebases at 20% noise: learning runs on A, B and C,
    # C's one run fast (0.7x its usual), then C again twice at its usual runtime. Both reruns are
    # judged against that one fast run with the prior's 5% as the noise (no configuration ran twice
    # before them): 1.43x and 1.39x read as a regression and learning restarted.
    pair = [_exec(A, 600), _exec(B, 500), _exec(C, 420), _exec(C, 600), _exec(C, 700)]
    scr = screen(pair, KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert scr.change_kind is None and scr.suspect == 3, scr
    # A third slow run in a row is a regression, from the first of them (one run later than before).
    third = screen(pair + [_exec(C, 680)], KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (third.segment_start, third.change_kind) == (3, RUNTIME_REGRESSION)
    # A run back at its cluster's level clears it.
    assert screen(pair + [_exec(C, 500)], KNOWN, 0.05, 1.0).suspect is None
    # With a repetition of the segment's own before it (A twice, 2% apart), two are enough, as before.
    read = [_exec(A, 600), _exec(A, 612)] + pair[1:]
    scr = screen(read, KNOWN, sigma_run=0.05, input_elasticity=1.0)
    assert (scr.segment_start, scr.change_kind) == (4, RUNTIME_REGRESSION)


SLA = 960.0  # the execution's (no setup in these runs)


def _closed_loop(job_of: Callable[[int], Job], seed: int, noise: float, nights: int) -> int | None:
    """The night whose run first made the screen rebase (None: never) in a closed loop on `decide`."""
    rng = np.random.default_rng(seed)
    history: list[Observation] = []
    for n in range(nights):
        cand = decide(CANDS, history, Settings(sla_s=SLA, sla_per_run=True), seed=len(history)).candidate
        t = job_of(n).mean_runtime(cand) * float(np.exp(rng.normal(0.0, noise)))
        history.append(Observation(cand.config_id, t, True, input_gb=100.0))
        if screen(history, KNOWN, 0.05, 1.0).change_kind is not None:
            return n
    return None


def test_closed_loop_at_20_percent_noise_rarely_rebases_a_stable_job() -> None:
    # Seeds 0-11, 24 nights, no change: before, 4 of 12 loops rebased (seeds 2, 3, 5 and 8, each
    # on a slow pair judged before any configuration ran twice, or once with a 0% scatter); now 1
    # (seed 5: its one repetition before the pair scattered 0%, read as a quiet job). Seed 8 since a
    # judge is chosen by its P from before the slow run (`_recheck_pick`'s ``p_before``): its first
    # seven runs drew -0.46 to -0.04 in log, and the rerun of 4xc.4x after two runs at +0.19 and +0.28
    # drew +0.15, a third slow run against that fast baseline (the price of judging slow runs the
    # slow run itself put under the target; docs/tuning.md).
    rebased = [s for s in range(12) if _closed_loop(lambda n: Job(), s, 0.20, 24) is not None]
    assert rebased in ([5], [5, 8]), rebased


def test_closed_loop_a_lasting_1_5x_is_seen_within_three_runs_on_a_quiet_job() -> None:
    # The bound must not hide a real change: the work x1.5 from night 8 at 5% noise is seen within
    # three runs of it on every seed (the segment has read its own noise by then).
    slow = Job(work_core_s=60000.0)
    seen = [_closed_loop(lambda n: slow if n >= 8 else Job(), s, 0.05, 11) for s in range(6)]
    assert all(n is not None and 8 <= n <= 10 for n in seen), seen
