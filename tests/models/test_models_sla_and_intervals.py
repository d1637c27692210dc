"""SLA safety of recommendations and calibration of the runtime model's prediction intervals."""

from __future__ import annotations

import numpy as np
import pytest

from models.decide import Settings, decide
from models.prior import DEFAULT_PRIOR
from models.runtime import RuntimeModel, similarity
from models.space import design_features, feature_centre
from tests.models.models_synth import grid, random_job


@pytest.mark.parametrize("quantile", [0.3, 0.7])
def test_recommendations_respect_the_sla_across_random_jobs(quantile: float) -> None:
    cands = grid()
    rng = np.random.default_rng(10)
    violations, bad_learning, jobs = 0, 0, 12
    for j in range(jobs):
        job = random_job(rng)
        sla = float(np.quantile([job.mean_runtime(c) for c in cands], quantile))
        history = [job.run(cands[int(rng.integers(len(cands)))], rng, recommendation_applied=False)]
        for _ in range(7):
            d = decide(cands, history, Settings(sla_s=sla), seed=j)
            if d.phase == "learning" and job.mean_runtime(d.candidate) > 2.0 * sla:
                bad_learning += 1
            history.append(job.run(d.candidate, rng))
        final = decide(cands, history, Settings(sla_s=sla), seed=j)
        if final.p_meet_sla is not None and final.p_meet_sla >= 0.9:
            violations += job.mean_runtime(final.best) > sla * 1.02
    # The constraint is probabilistic (P >= 0.9), so allow one miss in twelve.
    assert violations <= 1
    assert bad_learning == 0


def test_without_sla_minimises_cost() -> None:
    cands = grid()
    rng = np.random.default_rng(11)
    job = random_job(rng)
    history = [job.run(c, rng) for c in cands for _ in range(2)]
    d = decide(cands, history, Settings(sla_s=None))
    assert d.p_meet_sla is None
    oracle = job.oracle(cands, None)
    assert d.best.cost(job.mean_runtime(d.best)) <= 1.05 * oracle.cost(job.mean_runtime(oracle))


def test_unreachable_sla_recommends_the_likeliest_to_meet_it() -> None:
    cands = grid()
    rng = np.random.default_rng(12)
    job = random_job(rng)
    history = [job.run(c, rng) for c in cands]
    fastest = min(cands, key=job.mean_runtime)
    # Within reach of the fastest, not at P >= 90%: the likeliest, which the reason says is not the cheapest.
    d = decide(cands, history, Settings(sla_s=job.mean_runtime(fastest)))
    assert d.best is not None and d.best.cores >= sorted(c.cores for c in cands)[-4]
    assert "likeliest" in d.reason and "not the cheapest" in d.reason
    # Half the fastest's runtime, with every configuration run: out of reach, and the plan aims at
    # 25% over the fastest measured runtime (tests/models/test_models_loop_review.py).
    far = decide(cands, history, Settings(sla_s=0.5 * job.mean_runtime(fastest)))
    assert "out of reach" in far.reason and "the plan aims at" in far.reason, far.reason
    assert job.mean_runtime(far.candidate) <= 1.3 * job.mean_runtime(fastest), far.reason


def test_prediction_intervals_cover_new_runs_in_simulation() -> None:
    """Draw jobs from the model's own prior; 90% intervals must cover about 90% of new runs."""
    cands = grid()
    centre = feature_centre(cands)
    x = design_features(cands, centre)
    prior = DEFAULT_PRIOR
    kernel = similarity(x[:, [0, 2, 3, 4]], 0.7, 0.3)
    rng = np.random.default_rng(13)
    z = 1.6449
    covered = total = 0
    for _ in range(150):
        theta = rng.multivariate_normal(prior.mean_array(), prior.cov_array())
        delta = rng.multivariate_normal(np.zeros(len(cands)), prior.tau**2 * kernel)
        truth = 5.0 + x @ theta + delta
        tried = rng.choice(len(cands), size=5, replace=False)
        idx = np.repeat(tried, 2)
        y = truth[idx] + rng.normal(0.0, prior.sigma_run, size=idx.size)
        model = RuntimeModel.fit(x, kernel, idx, y, np.zeros(len(cands)), prior.mean_array(), prior.cov_array(), prior)
        pred = model.predict(x, np.zeros(len(cands)))
        new = truth + rng.normal(0.0, prior.sigma_run, size=len(cands))
        sd = pred.sd_run
        covered += int(np.sum(np.abs(new - pred.mean_log) <= z * sd))
        total += len(cands)
    assert 0.85 <= covered / total <= 0.95


@pytest.mark.parametrize("true_scale", [0.3, 3.0])
def test_intervals_follow_a_project_whose_misfit_differs_from_the_prior(true_scale: float) -> None:
    """Configurations stray 3x more (or 0.3x as much) from the smooth model than the prior's tau says:
    with a dozen measured configurations the model sees it, so unmeasured ones are neither
    overconfident nor needlessly vague (coverage of their typical runtime 0.97 and 0.81)."""
    cands = grid()
    x = design_features(cands, feature_centre(cands))
    prior = DEFAULT_PRIOR
    kernel = similarity(x[:, [0, 2, 3, 4]], 0.7, 0.3)
    rng = np.random.default_rng(14)
    z = 1.6449
    covered = total = 0
    widths = []
    for _ in range(80):
        theta = rng.multivariate_normal(prior.mean_array(), prior.cov_array())
        delta = rng.multivariate_normal(np.zeros(len(cands)), (true_scale * prior.tau) ** 2 * kernel)
        truth = 5.0 + x @ theta + delta
        tried = rng.choice(len(cands), size=14, replace=False)
        y = truth[tried] + rng.normal(0.0, prior.sigma_run, size=tried.size)
        model = RuntimeModel.fit(x, kernel, tried, y, np.zeros(len(cands)), prior.mean_array(), prior.cov_array(), prior)
        pred = model.predict(x, np.zeros(len(cands)))
        new = np.setdiff1d(np.arange(len(cands)), tried)
        sd = np.sqrt(pred.var_param[new])
        covered += int(np.sum(np.abs(truth[new] - pred.mean_log[new]) <= z * sd))
        total += new.size
        widths.append(float(np.median(sd)))
    # With the prior's tau kept fixed this was 1.00 (regular) and 0.44 (erratic).
    assert 0.78 <= covered / total <= 0.99
    # Wider for the erratic project than the prior's own spread, narrower for the regular one.
    assert (np.median(widths) > prior.tau) if true_scale > 1 else (np.median(widths) < prior.tau)


def _untried_coverage(true_widen: float, monkeypatch: pytest.MonkeyPatch, widenings: tuple[float, ...]) -> float:
    """Coverage of untried configurations' typical runtime by their 90% intervals, after five runs,
    for jobs whose slopes are drawn ``true_widen`` times wider than a (narrow, learned-style) prior."""
    from models import runtime
    from models.prior import Prior

    monkeypatch.setattr(runtime, "_COEF_SCALES", widenings)
    cands = grid()
    x = design_features(cands, feature_centre(cands))
    narrow = DEFAULT_PRIOR.cov_array() * 0.25
    prior = Prior(DEFAULT_PRIOR.mean, tuple(map(tuple, narrow.tolist())), DEFAULT_PRIOR.tau, DEFAULT_PRIOR.sigma_run)
    kernel = similarity(x[:, [0, 2, 3, 4]], 0.7, 0.3)
    rng = np.random.default_rng(15)
    covered = total = 0
    for _ in range(80):
        theta = rng.multivariate_normal(prior.mean_array(), prior.cov_array() * true_widen**2)
        truth = 5.0 + x @ theta + rng.multivariate_normal(np.zeros(len(cands)), prior.tau**2 * kernel)
        tried = rng.choice(len(cands), size=5, replace=False)
        y = truth[tried] + rng.normal(0.0, prior.sigma_run, size=tried.size)
        model = RuntimeModel.fit(x, kernel, tried, y, np.zeros(len(cands)), prior.mean_array(), prior.cov_array(), prior)
        pred = model.predict(x, np.zeros(len(cands)))
        new = np.setdiff1d(np.arange(len(cands)), tried)
        covered += int(np.sum(np.abs(truth[new] - pred.mean_log[new]) <= 1.6449 * np.sqrt(pred.var_param[new])))
        total += new.size
    return covered / total


def test_a_job_unlike_the_priors_jobs_widens_its_own_prior(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slopes three times further from the prior's than its spread says (dataproc's k-means against
    the other files' jobs): the fit widens the coefficients' prior, so untried configurations'
    intervals cover the truth more often (0.79 -> 0.83 here); jobs like the prior's keep it (0.90)."""
    from models.runtime import _COEF_SCALES

    unusual = _untried_coverage(3.0, monkeypatch, _COEF_SCALES)
    unusual_fixed = _untried_coverage(3.0, monkeypatch, (1.0,))
    usual = _untried_coverage(1.0, monkeypatch, _COEF_SCALES)
    usual_fixed = _untried_coverage(1.0, monkeypatch, (1.0,))
    assert unusual >= unusual_fixed + 0.02
    assert unusual >= 0.8
    assert abs(usual - usual_fixed) <= 0.01
    assert 0.85 <= usual <= 0.95
