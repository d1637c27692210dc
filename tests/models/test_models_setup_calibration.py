"""P(a run meets its SLA) is calibrated when the cluster setup is most of the SLA (`models.setup`).

Review: a job with a 360 s every-run SLA and 160-330 s of setup (the emulator's cluster start) had
its cheap clusters at P 0.85-0.89 while they met the SLA 75-80% of the time. The setup was a
log-normal matched to its mean and sd: the emulator's nearly uniform setup has less mass in its upper
shoulder than that, and a setup with a capacity tail more beyond it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from models.decide import Settings, decide
from models.observation import Observation
from models.setup import estimate, p_total_below
from tests.models.models_synth import Job, grid

_EXEC_S, _EXEC_SD = 60.0, 0.08


def _history(setups: np.ndarray) -> list[Observation]:
    return [Observation("a", float(s) + _EXEC_S, True, setup_s=float(s)) for s in setups]


def _observed_rate(setups: np.ndarray, limit_s: float) -> float:
    """How often the observed setups plus the execution's log-normal stay within ``limit_s``."""
    room = np.maximum(limit_s - setups, 1e-9)
    return float(ndtr((np.log(room) - np.log(_EXEC_S)) / _EXEC_SD).mean())


@pytest.mark.parametrize("limit_s", [480.0, 560.0, 640.0, 360.0])
def test_p_near_a_skewed_setups_upper_tail_is_the_observed_rate(limit_s: float) -> None:
    """Setups of 150-250 s with a tenth at 420-580 s (capacity waits): the log-normal of their mean and
    sd put P(a run within 480 s) at 98% where 92% of the observed setups allowed it."""
    setups = np.random.default_rng(7).permutation(np.r_[np.linspace(150, 250, 27), [420.0, 500.0, 580.0]])
    p = p_total_below(np.log([_EXEC_S]), _EXEC_SD, estimate(_history(setups)), limit_s)[0]
    assert p == pytest.approx(_observed_rate(setups, limit_s), abs=0.03)


@pytest.mark.parametrize("limit_s", [320.0, 340.0, 360.0])
def test_p_in_a_uniform_setups_upper_shoulder_is_the_observed_rate(limit_s: float) -> None:
    """The emulator's setups (about uniform over 165-325 s): the log-normal read P 0.89 where 83% of
    them left room for the execution."""
    setups = np.random.default_rng(7).permutation(np.linspace(165, 325, 30))
    p = p_total_below(np.log([_EXEC_S]), _EXEC_SD, estimate(_history(setups)), limit_s)[0]
    assert p == pytest.approx(_observed_rate(setups, limit_s), abs=0.03)


def _emulator_setup(rng: np.random.Generator, n: int) -> np.ndarray:
    """sandbox/sim/run.py: the cloud's provisioning, init scripts, then RUNNING."""
    return rng.uniform(150, 300, n) + rng.uniform(8, 25, n) + rng.uniform(2, 6, n)


def test_the_every_run_recommendation_meets_a_setup_bound_sla_as_often_as_its_p_says() -> None:
    """Closed loop on the emulator's setup, a 380 s every-run SLA of which setup is ~65%: from the 7th
    run on, the recommendations' true chance of meeting it averaged 0.88 at a model P of 0.89 (the
    band took clusters whose P read 0.88-0.89 and were 0.80-0.85). It must be at the 0.9 target."""
    job = Job(fixed_s=20.0, work_core_s=6000.0, coord_s=1.0, mem_penalty=0.1, noise=0.08)
    cands = grid()
    settings = Settings(sla_s=380.0, sla_per_run=True)
    truth = np.random.default_rng(1)
    setup_draws = _emulator_setup(truth, 40_000)
    exec_noise = np.exp(truth.normal(0.0, job.noise, 40_000))
    model_p, true_p = [], []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        history: list[Observation] = []
        for i in range(20):
            d = decide(cands, history, settings, seed=len(history))
            c = d.candidate
            if i >= 6:
                assert d.p_meet_sla is not None
                model_p.append(d.p_meet_sla)
                true_p.append(float(np.mean(setup_draws + job.mean_runtime(c) * exec_noise <= settings.sla_s)))
            s = float(_emulator_setup(rng, 1)[0])
            e = job.mean_runtime(c) * float(np.exp(rng.normal(0.0, job.noise)))
            history.append(Observation(c.config_id, s + e, True, setup_s=s))
    assert np.mean(true_p) >= 0.9, (np.mean(model_p), np.mean(true_p))
    assert np.mean(model_p) == pytest.approx(np.mean(true_p), abs=0.03)
