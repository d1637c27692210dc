"""The loss rate counts the nodes a run lost, not one per run (`SpotRun.nodes_lost`): a run that lost
5 spot nodes is 5 losses; a run known to have lost capacity but not how much counts one, as before."""

from __future__ import annotations

import pytest

from models.spot import PRIOR_RUNS, SpotRun, spot_loss_rate

PRIOR = 0.01


def _posterior(losses: int, hours: float, runs: int) -> float:
    weight = PRIOR_RUNS * hours / runs
    return (PRIOR * weight + losses) / (weight + hours)


def test_a_run_that_lost_five_nodes_counts_five_losses() -> None:
    five = spot_loss_rate([SpotRun(1.0, True, 5), SpotRun(1.0, False, 0)], PRIOR)
    assert five.per_node_hour == pytest.approx(_posterior(5, 2.0, 2))
    assert (five.lost_runs, five.losses) == (1, 5)
    assert five.note().startswith("1 of the last 2 runs on spot lost 5 spot nodes (about")


def test_an_unknown_count_or_a_loss_no_event_counted_is_one_loss() -> None:
    unknown = spot_loss_rate([SpotRun(1.0, True), SpotRun(1.0, True, 0), SpotRun(1.0, False)], PRIOR)
    assert unknown.per_node_hour == pytest.approx(_posterior(2, 3.0, 3))
    assert (unknown.lost_runs, unknown.losses) == (2, 2)
    assert unknown.note().startswith("2 of the last 3 runs on spot lost spot nodes (about")
