"""A cluster idle between its tasks while another cluster's task runs (``Observation.wait_s``): taken
with the setup (out of the execution the runtime model learns, back in where the whole run counts),
so a change to the other cluster alone is no runtime regression of this one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.changes import screen
from models.decide import Settings, decide
from models.observation import Observation
from models.prior import DEFAULT_PRIOR
from models.setup import estimate, execution_view
from tests.models.models_synth import Job, grid


def _obs(runtime_s: float, setup_s: float | None, wait_s: float | None, config: str = "a") -> Observation:
    return Observation(config_id=config, runtime_s=runtime_s, ok=True, setup_s=setup_s, wait_s=wait_s)


def test_the_wait_is_taken_out_with_the_setup() -> None:
    runs = [_obs(800, 200, 300), _obs(1500, 220, 1000), _obs(600, 180, None)]
    setup = estimate(runs)
    assert setup.mean_s == pytest.approx((500 + 1220 + 180) / 3)
    assert setup.wait_mean_s == pytest.approx(1300 / 3)
    assert [o.runtime_s for o in execution_view(runs, setup)] == pytest.approx([300.0, 280.0, 420.0])


def test_a_wait_that_does_not_fit_the_runtime_stays_in_the_execution() -> None:
    """Clocks that disagree: a setup plus wait beyond the runtime is not believed (the setup alone is)."""
    runs = [_obs(400, 200, 300)]
    assert estimate(runs).mean_s == pytest.approx(200.0)
    assert estimate(runs).wait_mean_s == 0.0
    assert [o.runtime_s for o in execution_view(runs, estimate(runs))] == pytest.approx([200.0])


def test_a_longer_wait_alone_is_no_runtime_regression() -> None:
    """Five runs waiting ~330 s for the other cluster, four ~1,150 s once it shrank (the review: 811 s
    -> 1,489 s runtime, a runtime_regression of a cluster nothing changed about)."""
    cands = grid((2, 4, 8))
    cand = next(c for c in cands if c.config_id == "4xc.2x")
    job = Job(fixed_s=30.0, noise=0.03)
    rng = np.random.default_rng(7)
    history = []
    for i in range(9):
        run = job.run(cand, rng)
        setup, wait = 200.0 + 10 * (i % 3), (330.0 if i < 5 else 1150.0) + 20 * (i % 2)
        history.append(replace(run, runtime_s=run.runtime_s + setup + wait, setup_s=setup, wait_s=wait))
    known = {c.config_id: c for c in cands}
    assert screen(execution_view(history, estimate(history)), known, DEFAULT_PRIOR.sigma_run, 0.9).change_reason is None
    # Without the wait figures the same runs read as a regression: the control.
    blind = [replace(o, wait_s=None) for o in history]
    assert screen(execution_view(blind, estimate(blind)), known, DEFAULT_PRIOR.sigma_run, 0.9).change_reason is not None
    # The reason names the wait apart from the cluster's setup, and the prediction holds both.
    got = decide([cand], history, Settings(sla_s=None, learning_budget=0))  # nothing else to try
    assert "cluster setup and ~" in got.reason and "s waiting for other clusters' tasks" in got.reason
    lo, hi = got.runtime_interval_s
    assert hi > job.mean_runtime(got.candidate) + 200.0 + 330.0
