"""The job's spot loss rate (`server.plan.spot_risk.spot_losses`) counts each run's nodes lost
(`Run.nodes_lost`): the spot review's run 1 lost 5 of its 8 spot workers and was counted as ONE loss
(0.315 losses per spot node-hour where 5 make some 1.5). A run whose count is unknown (stored before it
was kept) still counts one."""

from __future__ import annotations

import pytest

from models.spot import PRIOR_RUNS
from server.domain import ClusterConfig, Run
from server.plan.spot_risk import SPOT_INTERRUPTIONS_PER_NODE_HOUR, spot_losses

SPOT = ClusterConfig(node_type_id="m5d.xlarge", num_workers=8, availability="SPOT_WITH_FALLBACK", first_on_demand=1)
RUNTIME_S = 364.0
HOURS = 8 * RUNTIME_S / 3600.0  # each run's spot node-hours: 8 spot workers, the driver on demand


def _run(n: int, lost: int | None, anomalies: tuple[str, ...] = ("spot_loss",)) -> Run:
    return Run(project_id=1, databricks_run_id=n, runtime_s=RUNTIME_S, config=SPOT, anomalies=anomalies,
               nodes_lost=lost)


def _rate(losses: int) -> float:
    weight = PRIOR_RUNS * HOURS  # one run on spot: the prior weighs as 3 of it
    return (SPOT_INTERRUPTIONS_PER_NODE_HOUR * weight + losses) / (weight + HOURS)


def test_the_nodes_a_run_lost_are_its_losses() -> None:
    rate = spot_losses([_run(1, 5)])
    assert rate.per_node_hour == pytest.approx(_rate(5))
    assert rate.per_node_hour > 4 * _rate(1)
    assert rate.note().startswith("the last run on spot lost 5 spot nodes")


def test_a_run_of_unknown_count_counts_one_and_a_calm_run_none() -> None:
    assert spot_losses([_run(1, None)]).per_node_hour == pytest.approx(_rate(1))
    # The agent saw executors lost though the cluster's events named no node: still a loss.
    assert spot_losses([_run(1, 0)]).per_node_hour == pytest.approx(_rate(1))
    assert spot_losses([_run(1, 0, ())]).per_node_hour == pytest.approx(_rate(0))
