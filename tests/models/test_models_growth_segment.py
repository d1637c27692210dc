"""A steady input trend is growth, not a change point (`models.changes` with `models.growth`)."""

from __future__ import annotations

import numpy as np
import pytest

from models.changes import INPUT_SHIFT, run_key, screen
from models.decide import Settings, decide
from models.observation import Observation
from tests.models.models_synth import Job, grid

CANDS = grid()
KNOWN = {c.config_id: c for c in CANDS}
SIGMA_RUN = 0.1
ELASTICITY = 1.0


def _runs(sizes: list[float], cfgs: list[int] | None = None, job: Job | None = None) -> list[Observation]:
    """Runs on a few configurations (or ``cfgs``), runtime scaled with the input (base 100 GB)."""
    job = job or Job()
    rng = np.random.default_rng(7)
    cfgs = cfgs or [1 + 4 * (i % 3) for i in range(len(sizes))]
    return [job.run(CANDS[c], rng, input_scale=s / 100.0, input_gb=s, recommendation_applied=i > 0)
            for i, (s, c) in enumerate(zip(sizes, cfgs, strict=True))]


def test_steady_growth_is_one_segment_that_learns_only_the_recent_runs() -> None:
    sizes = [100.0 * 1.17**i for i in range(20)]
    history = _runs(sizes)
    scr = screen(history, KNOWN, SIGMA_RUN, ELASTICITY)
    # Before: the input passed 1.5x the segment's median every ~5 runs and learning restarted.
    assert scr.change_reason is None and scr.segment_start == 0
    # 1.17^2 = 1.37 is within 1.5x of the latest input, 1.17^3 = 1.60 is not.
    assert scr.learn == (17, 18, 19)
    assert all(sizes[-1] / sizes[i] <= INPUT_SHIFT for i in scr.learn)
    assert len(scr.explained) == 17
    assert scr.failed_configs == frozenset()


def test_a_dropped_old_run_says_why() -> None:
    sizes = [100.0 * 1.17**i for i in range(20)]
    history = _runs(sizes)
    scr = screen(history, KNOWN, SIGMA_RUN, ELASTICITY)
    why = scr.explained[run_key(16, history[16])]
    assert why.startswith(f"input {sizes[16]:.3g} GB, far from the latest {sizes[19]:.3g} GB: not learned")
    assert "input 100 GB, far from the latest" in scr.explained[run_key(0, history[0])]


def test_a_jump_off_the_trend_is_still_a_change_point() -> None:
    sizes = [100.0 * 1.17**i for i in range(10)]
    # The trend says ~1.17 x the last run; this run reads 2x the trend's forecast.
    sizes.append(sizes[-1] * 1.17 * 2.0)
    sizes += [sizes[-1] * 1.01, sizes[-1] * 0.99]
    history = _runs(sizes)
    scr = screen(history, KNOWN, SIGMA_RUN, ELASTICITY)
    assert scr.segment_start == 10
    assert scr.change_reason is not None
    assert "its trend forecast (~+17% a run): learning again" in scr.change_reason
    assert "2.00x the" in scr.change_reason
    assert scr.learn == (10, 11, 12)
    assert scr.explained == {}
    # A drop off the trend too (the table was truncated).
    down = [100.0 * 1.17**i for i in range(10)] + [100.0]
    scr = screen(_runs(down), KNOWN, SIGMA_RUN, ELASTICITY)
    assert scr.segment_start == 10 and scr.change_reason is not None and "trend forecast" in scr.change_reason


def test_growth_before_a_trend_is_clear_still_rebases_as_before() -> None:
    # Three runs are no trend (`models.growth.MIN_RUNS`): the fourth run, 2x the median, is a change point.
    sizes = [100.0, 120.0, 140.0, 260.0, 265.0]
    scr = screen(_runs(sizes), KNOWN, SIGMA_RUN, ELASTICITY)
    assert scr.segment_start == 3
    assert scr.change_reason == "input size shifted 2.17x at run #4 of the history: learning again"


@pytest.mark.parametrize("seed", range(20))
def test_flat_noisy_inputs_behave_exactly_as_before(seed: int) -> None:
    # +-15% noise around 100 GB with an occasional 1.6x run: the old median rule decides alone.
    rng = np.random.default_rng(seed)
    sizes = [float(100.0 * np.exp(rng.normal(0.0, 0.15))) for _ in range(16)]
    if seed % 2:
        sizes[int(rng.integers(4, 16))] *= 1.6
    history = _runs(sizes)
    scr = screen(history, KNOWN, SIGMA_RUN, ELASTICITY)
    assert (scr.segment_start, scr.change_reason, scr.learn, dict(scr.explained)) == _old_rule(history)


def _old_rule(history: list[Observation]) -> tuple[int, str | None, tuple[int, ...], dict[str, str]]:
    """The segment median rule alone (runs here are all clean, on known configurations, no stages;
    regressions cannot occur at 3% runtime noise with the runtime scaled as the input)."""
    start, reason = 0, None
    while True:
        inputs: list[float] = []
        for idx in range(start, len(history)):
            size = history[idx].input_gb
            assert size is not None
            if inputs:
                ratio = size / float(np.median(inputs))
                if ratio > INPUT_SHIFT or ratio < 1.0 / INPUT_SHIFT:
                    start, reason = idx, f"input size shifted {ratio:.2f}x at run #{idx + 1} of the history: learning again"
                    break
            inputs.append(size)
        else:
            return start, reason, tuple(range(start, len(history))), {}


def test_failures_do_not_leave_the_segment_with_nothing_to_learn() -> None:
    sizes = [100.0 * 1.17**i for i in range(12)]
    history = _runs(sizes)
    # The latest run failed: the latest *learnable* run's input is what old runs are compared with.
    history[-1] = Observation(config_id=CANDS[21].config_id, runtime_s=100.0, ok=False,
                              input_gb=sizes[-1], recommendation_applied=True)
    history[-2] = Observation(config_id=history[-2].config_id, runtime_s=history[-2].runtime_s, ok=True,
                              input_gb=sizes[-2], anomalies=("spot_loss",), recommendation_applied=True)
    scr = screen(history, KNOWN, SIGMA_RUN, ELASTICITY)
    assert scr.change_reason is None
    assert scr.learn == (7, 8, 9)
    assert "failed run" in scr.explained[run_key(11, history[11])]
    assert scr.failed_configs == frozenset({CANDS[21].config_id})


def test_decide_does_not_restart_learning_on_a_growing_job() -> None:
    job = Job()
    cands = grid()
    # Three designed runs, then the incumbent while the input grows 17% a run.
    cfgs = [1, 9, 21, 13] + [13] * 12
    sizes = [100.0 * 1.17**i for i in range(len(cfgs))]
    history = _runs(sizes, cfgs, job)
    d = decide(cands, history, Settings(sla_s=4.0 * job.mean_runtime(cands[13], sizes[-1] / 100.0)))
    assert not d.rebased
    assert d.phase == "optimizing"
    assert "learning run" not in d.reason
    assert any("far from the latest" in why for why in d.explained.values())
