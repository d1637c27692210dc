"""The job's own spot loss rate: a gamma-Poisson posterior over its recent runs on spot."""

from __future__ import annotations

import pytest

from models.spot import PRIOR_RUNS, SPOT_RUNS_KEPT, SpotRun, spot_loss_rate

PRIOR = 0.01


def test_no_runs_is_the_prior_and_calm_runs_lower_it() -> None:
    assert spot_loss_rate([], PRIOR).per_node_hour == pytest.approx(PRIOR)
    calm = spot_loss_rate([SpotRun(2.0, False)] * 10, PRIOR)
    assert calm.per_node_hour == pytest.approx(PRIOR * PRIOR_RUNS / (PRIOR_RUNS + 10))
    assert calm.note() == "" and not calm.has_losses


def test_one_lost_run_raises_the_rate_without_swinging_it_and_repeated_losses_dominate() -> None:
    one = spot_loss_rate([SpotRun(1.0, True)], PRIOR)
    # The run alone says 1 loss per node-hour; the posterior moves a quarter of the way.
    assert one.per_node_hour == pytest.approx((PRIOR * PRIOR_RUNS + 1) / (PRIOR_RUNS + 1))
    assert PRIOR < one.per_node_hour < 0.3
    assert one.note().startswith("the last run on spot lost spot nodes (about "), one.note()
    three = spot_loss_rate([SpotRun(1.0, True), SpotRun(1.0, False), SpotRun(1.0, True), SpotRun(1.0, True)], PRIOR)
    assert three.per_node_hour > 1.5 * one.per_node_hour
    assert three.note().startswith("3 of the last 4 runs on spot lost spot nodes")
    assert 0.0 < three.p_loss(8, 0.25) < 1.0 and three.p_loss(0, 1.0) == 0.0


def test_only_the_runs_on_spot_among_the_newest_runs_count() -> None:
    old_losses = [SpotRun(1.0, True)] * 30
    recent = [SpotRun(1.0, False)] * (SPOT_RUNS_KEPT - 2)
    est = spot_loss_rate([*old_losses, SpotRun(0.0, True), *recent, SpotRun(1.0, True)], PRIOR)
    assert (est.runs, est.lost_runs) == (SPOT_RUNS_KEPT - 1, 1)  # the on-demand run is no spot run
    # A job that left spot for its losses: once they are SPOT_RUNS_KEPT runs old, the prior again.
    left = spot_loss_rate([*old_losses, *[SpotRun(0.0, False)] * SPOT_RUNS_KEPT], PRIOR)
    assert left.runs == 0 and left.per_node_hour == PRIOR


def test_the_prior_weighs_the_same_runs_for_a_small_job_and_a_big_one() -> None:
    # One lost run moves the rate the same share of the way from the prior to what it alone says.
    for hours in (0.5, 20.0):
        one = spot_loss_rate([SpotRun(hours, True)], PRIOR)
        assert (one.per_node_hour - PRIOR) / (1 / hours - PRIOR) == pytest.approx(1 / (PRIOR_RUNS + 1))


@pytest.mark.parametrize("prior, weight", [(-0.1, 3.0), (float("nan"), 3.0), (0.01, 0.0)])
def test_a_bad_prior_is_refused(prior: float, weight: float) -> None:
    with pytest.raises(ValueError, match="spot_loss_rate"):
        spot_loss_rate([], prior, prior_runs=weight)
