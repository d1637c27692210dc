"""The knowledge gradient values the runs that can change the recommendation, and only those."""

from __future__ import annotations

import math

import numpy as np

from models.acquire import Belief, knowledge_gradient, z_targets

SLA = 100.0


def _belief(mean_s: list[float], sd: list[float], corr: np.ndarray | None = None, price: list[float] | None = None) -> Belief:
    sds = np.asarray(sd)
    c = np.eye(len(sd)) if corr is None else corr
    return Belief(
        mean_log=np.log(mean_s),
        cov_log=c * np.outer(sds, sds),
        sigma=0.03,
        cost_per_s=np.asarray(price or [1.0] * len(sd)),
        log_sla=math.log(SLA),
        z_target=z_targets(0.9, np.ones(len(sd))),
    )


def test_a_cheap_uncertain_configuration_near_the_sla_is_worth_a_run_a_settled_one_is_not() -> None:
    # 0: cheap, predicted just under the SLA but uncertain (not yet recommendable).
    # 1: dear, surely fast (the current recommendation). 2: dear and surely known.
    kg = knowledge_gradient(_belief([95.0, 50.0, 60.0], [0.1, 0.001, 0.001], price=[1.0, 4.0, 5.0]))
    assert kg[0] > 0.01
    assert kg[1] < 1e-6 and kg[2] < 1e-6


def test_a_run_on_a_correlated_configuration_counts_for_what_it_teaches_about_the_cheap_one() -> None:
    # 2 is dear and never the answer, but it shares an instance type with the cheap, uncertain 0.
    mean, sd, price = [95.0, 50.0, 45.0], [0.15, 0.001, 0.15], [1.0, 4.0, 8.0]
    independent = knowledge_gradient(_belief(mean, sd, price=price))
    corr = np.eye(3)
    corr[0, 2] = corr[2, 0] = 0.95
    correlated = knowledge_gradient(_belief(mean, sd, corr, price))
    assert independent[2] < 1e-4 * correlated[2]
    assert correlated[2] > 0.2 * correlated[0] > 0


def test_no_sla_means_the_cheapest_expected_cost_and_spot_risk_tightens_the_bar() -> None:
    b = _belief([100.0, 100.0], [0.3, 0.001], price=[1.0, 1.05])
    b = Belief(b.mean_log, b.cov_log, b.sigma, b.cost_per_s, None, b.z_target)
    assert knowledge_gradient(b)[0] > 0
    z = z_targets(0.9, np.array([1.0, 0.95, 0.85]))
    assert z[0] < z[1] and math.isinf(z[2])
