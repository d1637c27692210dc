"""Which run teaches the most about the recommendation: a knowledge gradient under the SLA constraint.

The recommendation is the cheapest configuration whose typical runtime meets the SLA with
probability >= p_target. One more run on configuration j moves the joint Gaussian posterior of all
configurations' mean log runtimes (correlated through the shared shape and similar configurations)
and shrinks its spread, so the recommendation after that run may be cheaper. The knowledge
gradient of j is the expected drop of the recommended configuration's expected cost, averaged over
the run's predictive outcome (Gauss-Hermite nodes). It values what one-step saving cannot:

- a run on an expensive configuration of an unexplored instance type, which reveals that the whole
  type is faster (and so its cheap sizes become safe to recommend);
- a repeat of a cheap configuration measured just under the SLA, which makes it trustworthy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

# Outcomes of the next run, in standard-normal units, with their probability weights.
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(9)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


@dataclass(frozen=True)
class Belief:
    """Joint posterior of the candidates' mean log runtimes, and what turns them into a choice."""

    mean_log: np.ndarray  # (m,) posterior mean of each configuration's mean log runtime
    cov_log: np.ndarray  # (m, m) posterior covariance
    sigma: float  # run-to-run noise sd (log scale)
    cost_per_s: np.ndarray  # (m,) price per second, including expected spot rework
    log_sla: float | None
    z_target: np.ndarray  # (m,) normal score a configuration's P(meet) must reach to be recommended
    # (m,) cost of a run that does not scale with its execution time: its cluster setup
    fixed_cost: np.ndarray | float = 0.0


def z_targets(p_target: float, p_survive: np.ndarray) -> np.ndarray:
    """Scores behind P(meet) >= p_target when a spot loss (prob 1 - p_survive) also misses the SLA."""
    need = np.clip(p_target / np.maximum(p_survive, 1e-9), 1e-9, 1.0 - 1e-9)
    z = ndtri(need)
    return np.where(p_target / np.maximum(p_survive, 1e-9) >= 1.0, np.inf, z)


def _best_cost(belief: Belief, mean_log: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Expected cost of the configuration that would be recommended, per row of ``mean_log``."""
    s2 = belief.sigma**2
    cost = belief.cost_per_s * np.exp(mean_log + 0.5 * (var + s2)) + belief.fixed_cost
    if belief.log_sla is None:
        return cost.min(axis=-1)
    typical = mean_log + 0.5 * s2
    feasible = typical + belief.z_target * np.sqrt(np.maximum(var, 0.0)) <= belief.log_sla
    # Nothing safe: the recommendation falls back to the fastest, priced as twice the dearest
    # configuration so that making something safe always counts as a large gain.
    fallback = 2.0 * cost.max(axis=-1)
    return np.where(feasible.any(axis=-1), np.where(feasible, cost, np.inf).min(axis=-1), fallback)


def knowledge_gradient(belief: Belief) -> np.ndarray:
    """Expected reduction of the recommendation's expected cost from one more run, per configuration."""
    mu, cov = belief.mean_log, belief.cov_log
    var = np.diag(cov)
    now = float(_best_cost(belief, mu[None, :], var[None, :])[0])
    s2 = belief.sigma**2
    denom = np.sqrt(np.diag(cov) + s2)  # (m,) predictive sd of the run's log runtime
    shift = cov / denom[None, :]  # column j: how every mean moves per unit z of a run on j
    out = np.empty(len(mu))
    for j in range(len(mu)):
        post_var = var - shift[:, j] ** 2
        means = mu[None, :] + _NODES[:, None] * shift[None, :, j]
        after = _best_cost(belief, means, np.broadcast_to(post_var, means.shape))
        out[j] = now - float(_WEIGHTS @ after)
    return np.maximum(out, 0.0)
