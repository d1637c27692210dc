"""Cluster setup learned apart from the execution (`models.setup`) and how `decide` uses it."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import replace

import numpy as np
import pytest
from scipy.special import ndtr

from models.decide import Settings, decide, forecast
from models.observation import Observation
from models.setup import NO_SETUP, Setup, estimate, execution_view, p_total_below, total_interval
from tests.models.models_synth import Job, grid


def _obs(runtime_s: float, setup_s: float | None, config: str = "a") -> Observation:
    return Observation(config_id=config, runtime_s=runtime_s, ok=True, setup_s=setup_s)


def test_setup_is_estimated_from_every_run_that_reports_one() -> None:
    runs = [_obs(400, 200), _obs(500, 240, "b"), _obs(300, None), _obs(450, 220, "c")]
    setup = estimate(runs)
    assert setup.mean_s == pytest.approx(220.0)
    # Three setups scatter by 20 s; the prior (15% of the mean, two pseudo-runs) keeps it wider.
    assert 20.0 < setup.sd_s < 0.15 * 220.0
    assert setup.se_mean_s == pytest.approx(setup.sd_s / np.sqrt(3))


def test_a_failed_runs_setup_is_not_counted() -> None:
    """A run interrupted before its cluster came up reports 0 s of setup after minutes (seen in the
    emulator after a restart): it must not pull the next start's estimate down."""
    runs = [_obs(400, 200), dataclasses.replace(_obs(560, 0), ok=False), _obs(450, 220)]
    assert estimate(runs).mean_s == pytest.approx(210.0)
    assert estimate(runs[1:2]) is NO_SETUP


def test_without_setup_figures_the_model_sees_whole_runtimes() -> None:
    runs = [_obs(400, None), _obs(500, None)]
    assert estimate(runs) is NO_SETUP
    assert execution_view(runs, NO_SETUP) == runs


def test_a_setup_longer_than_its_run_is_not_believed() -> None:
    runs = [_obs(400, 200), _obs(100, 150)]
    setup = estimate(runs)
    assert setup.mean_s == pytest.approx(200.0)
    # The bad figure is replaced by the mean, and an execution never drops below 5% of its runtime.
    assert [o.runtime_s for o in execution_view(runs, setup)] == pytest.approx([200.0, 5.0])


def test_runs_without_a_setup_figure_are_taken_to_have_the_mean_one() -> None:
    runs = [_obs(400, 200), _obs(600, None), _obs(500, 240)]
    view = execution_view(runs, estimate(runs))
    assert [o.runtime_s for o in view] == pytest.approx([200.0, 380.0, 260.0])
    assert [o.setup_s for o in view] == [200, None, 240]


def test_a_run_whose_runtime_is_its_execution_keeps_it_and_gives_no_setup() -> None:
    """A run known from its event log alone (execution_only): nothing to take out, nothing to learn
    the setup from, even with a setup figure of 0 (review rev15i: 280 s learned as 20 s)."""
    old = replace(_obs(280, None), execution_only=True)
    runs = [old, replace(_obs(290, 0.0), execution_only=True), _obs(540, 260), _obs(560, 280)]
    setup = estimate(runs)
    assert setup.mean_s == pytest.approx(270.0)
    assert [o.runtime_s for o in execution_view(runs, setup)] == [280, 290, 280, 280]


def test_p_total_below_is_the_convolution_of_setup_and_execution() -> None:
    mean_log = np.log([100.0, 200.0, 300.0])
    sd = np.array([0.1, 0.2, 0.3])
    setup = Setup(100.0, 20.0, 5.0)
    rng = np.random.default_rng(0)
    execution = np.exp(mean_log + sd * rng.standard_normal((200_000, 3)))
    # The next setup is log-normal with the setup's mean and spread (`p_total_below`).
    s2 = np.log1p((setup.sd_next_s / setup.mean_s) ** 2)
    total = execution + np.exp(np.log(setup.mean_s) - 0.5 * s2 + np.sqrt(s2) * rng.standard_normal((200_000, 1)))
    for limit in (250.0, 350.0, 450.0):
        assert p_total_below(mean_log, sd, setup, limit) == pytest.approx((total <= limit).mean(0), abs=0.005)
    # Without a setup it is the execution's own log-normal probability.
    assert p_total_below(mean_log, sd, NO_SETUP, 250.0) == pytest.approx(ndtr((np.log(250.0) - mean_log) / sd))
    # Any shape: posterior draws (rows) of every configuration (columns).
    draws = np.stack([mean_log, mean_log + 0.1])
    assert p_total_below(draws, 0.2, setup, 350.0).shape == (2, 3)
    # A limit the setup alone uses up leaves nothing.
    assert p_total_below(mean_log, sd, Setup(400.0, 1.0, 0.0), 300.0) == pytest.approx([0.0, 0.0, 0.0])


def test_total_interval_holds_90_percent_of_runs() -> None:
    mean_log = np.log([60.0, 200.0, 900.0])
    sd = np.array([0.05, 0.15, 0.3])
    setup = Setup(240.0, 40.0, 10.0)
    median, lo, hi = total_interval(mean_log, sd, setup)
    rng = np.random.default_rng(1)
    total = (np.exp(mean_log + sd * rng.standard_normal((200_000, 3)))
             + setup.mean_s + setup.sd_next_s * rng.standard_normal((200_000, 1)))
    held = ((total >= lo) & (total <= hi)).mean(0)
    assert held == pytest.approx([0.9, 0.9, 0.9], abs=0.02)
    assert median == pytest.approx(np.median(total, axis=0), rel=0.02)


def test_a_long_setup_is_not_blamed_on_the_configuration() -> None:
    # A job measured three times on the dear configuration and once on the cheap one, whose run
    # happened to wait 330 s for its cluster (the others 190-230 s). The cheap one's execution
    # plus the usual setup meets the SLA; its whole runtime that one time did not.
    cands = grid()
    by_id = {c.config_id: c for c in cands}
    cheap, dear = by_id["8xc.2x"], by_id["16xc.4x"]
    job = Job(fixed_s=30.0, noise=0.02)
    rng = np.random.default_rng(1)
    history = []
    for cand, setup_s in ((dear, 190.0), (dear, 230.0), (dear, 210.0), (cheap, 330.0)):
        run = job.run(cand, rng)
        history.append(replace(run, runtime_s=run.runtime_s + setup_s, setup_s=setup_s))
    sla = job.mean_runtime(cheap) + 300.0
    assert history[-1].runtime_s > sla
    settings = Settings(sla_s=sla, learning_budget=0)

    known = decide([cheap, dear], history, settings)
    assert known.best is not None and known.best.config_id == cheap.config_id
    assert known.p_meet_sla is not None and known.p_meet_sla >= 0.9
    assert "240s cluster setup" in known.reason
    # How often one night's run stays within the SLA, setup noise included: less sure than the typical run.
    single = float(re.search(r"a single run: (\d+)%", known.reason)[1]) / 100  # type: ignore[index]
    assert 0.5 < single < known.p_meet_sla
    # The prediction is for the whole run: the execution and the usual setup.
    lo, hi = known.runtime_interval_s
    assert lo < job.mean_runtime(cheap) + 240.0 < hi

    # Asked for every run to meet the SLA, the cheap configuration (86% of single runs) is not enough.
    each = decide([cheap, dear], history, dataclasses.replace(settings, sla_per_run=True))
    assert each.best is not None and each.best.config_id == dear.config_id
    assert "each run meets the" in each.reason

    # The same runs without their setup figures: the cheap configuration's one run missed the SLA.
    blind = decide([cheap, dear], [replace(o, setup_s=None) for o in history], settings)
    assert blind.best is not None and blind.best.config_id == dear.config_id


def _with_setup(job: Job, cands: list, setups: list[float], seed: int = 3) -> list[Observation]:
    rng = np.random.default_rng(seed)
    out = []
    for cand, setup_s in zip(cands, setups, strict=True):
        run = job.run(cand, rng)
        out.append(replace(run, runtime_s=run.runtime_s + setup_s, setup_s=setup_s))
    return out


def test_an_sla_shorter_than_the_setup_keeps_the_job_where_it_is_and_says_why() -> None:
    """Seen in review: a 1 s SLA on a job whose cluster takes ~230 s to start read P = 50% for every
    configuration (the setup's uncertainty, linearised, swamped everything) and auto-apply moved
    the job from 2 to 8 workers, the dearest, chasing it."""
    cands = grid((2, 4, 8))
    by_id = {c.config_id: c for c in cands}
    job = Job(fixed_s=30.0, noise=0.02)
    history = _with_setup(job, [by_id["4xc.2x"], by_id["8xc.2x"], by_id["2xc.2x"]], [220.0, 240.0, 230.0])
    for sla in (1.0, 200.0):
        settings = Settings(sla_s=sla)
        got = decide(cands, history, settings)
        assert got.candidate.config_id == "2xc.2x" and got.best is not None and got.best.config_id == "2xc.2x"
        assert got.p_meet_sla == 0.0
        assert f"the {sla:.0f}s SLA is shorter than the cluster setup alone (~230s)" in got.reason
        assert "2xc.2x is kept until the SLA is raised" in got.reason
        # The typical setup is itself uncertain (three runs), so 30 s under it leaves a sliver of P.
        assert all((f.p_meet_sla or 0.0) < (1e-9 if sla == 1.0 else 0.05) for f in forecast(cands, history, settings))
    # With auto-apply off it is the same advice, as monitoring.
    off = decide(cands, history, Settings(sla_s=1.0, auto_apply=False))
    assert off.phase == "monitoring" and off.candidate.config_id == "2xc.2x"
    # An SLA the setup leaves room for is a target again: the control.
    reachable = decide(cands, history, Settings(sla_s=job.mean_runtime(by_id["8xc.2x"]) + 400.0))
    assert "shorter than the cluster setup" not in reachable.reason
    assert reachable.p_meet_sla is not None and reachable.p_meet_sla > 0.5


def test_p_meet_just_above_the_setup_counts_the_setups_uncertainty_without_blowing_up() -> None:
    """An SLA 20 s above a ~230 s setup leaves 20 s for an execution of 100+ s: P must be ~0, not the
    50% the linearised setup variance gave (it divided the setup's sd by the 20 s left)."""
    cands = grid((2, 4, 8))
    by_id = {c.config_id: c for c in cands}
    job = Job(fixed_s=30.0, noise=0.02)
    history = _with_setup(job, [by_id["4xc.2x"], by_id["8xc.2x"], by_id["2xc.2x"]], [220.0, 240.0, 230.0])
    tight = forecast(cands, history, Settings(sla_s=250.0))
    assert max(f.p_meet_sla or 0.0 for f in tight) < 0.01
    # P grows with the SLA and the faster configurations lead.
    by_sla = {sla: {f.candidate.config_id: f.p_meet_sla or 0.0 for f in forecast(cands, history, Settings(sla_s=sla))}
              for sla in (330.0, 400.0, 600.0)}
    assert by_sla[330.0]["8xc.2x"] <= by_sla[400.0]["8xc.2x"] <= by_sla[600.0]["8xc.2x"]
    assert by_sla[400.0]["8xc.2x"] > by_sla[400.0]["2xc.2x"]


def test_an_sla_below_the_setup_never_settles_on_a_configuration_that_is_not_allowed() -> None:
    """Review: with every allowed configuration failed, the fallback took the cheapest of all
    candidates, which could be one the user rejected or the policy refuses."""
    cands = grid((2, 4, 8))
    by_id = {c.config_id: c for c in cands}
    cheapest = min(cands, key=lambda c: c.price_per_hour)
    cands = [replace(c, allowed=False) if c.config_id == cheapest.config_id else c for c in cands]
    job = Job(fixed_s=30.0, noise=0.02)
    # The job ran well on the cheapest before the user rejected it; since, every allowed
    # configuration failed (a bad library release, say).
    ok = _with_setup(job, [by_id[cheapest.config_id]] * 2, [220.0, 240.0])
    failed = [Observation(config_id=c.config_id, runtime_s=300.0, ok=False, setup_s=230.0,
                          anomalies=("failure",)) for c in cands if c.allowed]
    got = decide(cands, ok + failed, Settings(sla_s=60.0))
    assert got.candidate.allowed and got.candidate.config_id != cheapest.config_id
    assert "shorter than the cluster setup" in got.reason


def test_a_widely_varying_setup_is_never_negative() -> None:
    """Setups of 60-900 s (a review's job): a normal next setup put a tenth of its weight below
    zero, so a run of 480 s of execution met a 450 s SLA with P=11% and the SLA never read as out
    of reach. The setup is log-normal: P stays at what the short setups seen allow."""
    runs = [_obs(s + 480.0, s) for s in (60.0, 120.0, 200.0, 300.0, 400.0, 500.0, 650.0, 900.0)]
    setup = estimate(runs)
    assert setup.sd_s > 250.0
    execution = np.log([480.0])
    assert p_total_below(execution, 0.05, setup, 450.0)[0] < 0.01
    assert p_total_below(execution, 0.05, setup, 500.0)[0] < 0.05
    # Still a probability that grows with the limit, reaching 1 far above it.
    ps = [p_total_below(execution, 0.05, setup, limit)[0] for limit in (600.0, 900.0, 1500.0, 5000.0)]
    assert ps == sorted(ps) and ps[-1] > 0.999
