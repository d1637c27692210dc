"""CherryPick-style constrained Bayesian optimisation (Alipourfard et al., NSDI 2017).

A Gaussian process (Matern 5/2, one length scale, + noise; scikit-learn's GP, which scikit-optimize wraps) models log runtime over the encoded
configuration; the acquisition is expected improvement of cost times the probability of meeting
the SLA. Initial design: the starting run plus two random configurations (CherryPick uses three
quasi-random starting points). Recommendation: the cheapest measured configuration that met the SLA.

Stopping rule, as the paper gives it: once at least 6 configurations have been run, the
search stops when the largest expected improvement is under 10% of the best cost found; from then
on it runs its recommendation. The expected improvement is taken on log cost, where a gain of 0.10
is a 10% saving, and weighted by the probability of meeting the SLA, as the acquisition is.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import norm
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from benchmarks.baselines.base import ObservedRuns, cheapest_observed, unit_features
from models.space import Candidate

_INITIAL = 3
_STOP_MIN_CONFIGS = 6
_STOP_EI = 0.10


class CherryPickTuner:
    name = "cherrypick"

    def reset(self, candidates: Sequence[Candidate], sla_s: float, seed: int) -> None:
        self._cands = list(candidates)
        self._by_id = {c.config_id: c for c in candidates}
        self._x = unit_features(candidates)
        self._sla = sla_s
        self._rng = np.random.default_rng(seed + 104729)
        self._runs = ObservedRuns()
        self._kernel: object | None = None
        self.stopped = False

    def ask(self) -> str:
        tried = set(self._runs.order)
        untried = [i for i, c in enumerate(self._cands) if c.config_id not in tried]
        if not untried or self.stopped:
            return self.recommend()
        if len(tried) < _INITIAL:
            return self._cands[untried[int(self._rng.integers(len(untried)))]].config_id
        mu, sd = self._fit_predict()
        log_price = np.log([c.price_per_hour for c in self._cands])
        log_cost = mu + log_price
        means = {c: float(np.mean(v)) for c, v in self._runs.runtimes.items()}
        feasible_costs = [np.log(self._by_id[c].cost(m) * 3600.0) for c, m in means.items() if m <= self._sla]
        best = min(feasible_costs) if feasible_costs else float(np.max(log_cost)) + 1.0
        z = (best - log_cost) / sd
        ei = (best - log_cost) * norm.cdf(z) + sd * norm.pdf(z)
        p_feasible = norm.cdf((np.log(self._sla) - mu) / sd)
        score = ei * p_feasible
        pick = max(untried, key=lambda i: score[i])
        # Without a configuration that met the SLA there is no best cost to improve on, so the
        # search goes on (the paper's rule presumes an incumbent).
        if feasible_costs and len(tried) >= _STOP_MIN_CONFIGS and score[pick] < _STOP_EI:
            self.stopped = True
            return self.recommend()
        return self._cands[pick].config_id

    def _fit_predict(self) -> tuple[np.ndarray, np.ndarray]:
        index = {c.config_id: i for i, c in enumerate(self._cands)}
        rows = [(index[c], np.log(t)) for c, ts in self._runs.runtimes.items() for t in ts]
        if not rows:
            return np.zeros(len(self._cands)), np.ones(len(self._cands))
        x = self._x[[r[0] for r in rows]]
        y = np.array([r[1] for r in rows])
        # Hyperparameters are re-optimised at a few sample sizes and reused in between: the
        # benchmark runs thousands of searches, and the fitted kernel changes little per run.
        refit = self._kernel is None or len(rows) in (3, 6)
        kernel = self._kernel if not refit else ConstantKernel(1.0, (1e-2, 1e2)) * Matern(
            length_scale=0.5, length_scale_bounds=(1e-2, 1e2), nu=2.5
        ) + WhiteKernel(1e-2, (1e-5, 1e0))
        gp = GaussianProcessRegressor(
            kernel=kernel, normalize_y=True, n_restarts_optimizer=0, random_state=0, optimizer="fmin_l_bfgs_b" if refit else None
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gp.fit(x, y)
            mu, sd = gp.predict(self._x, return_std=True)
        self._kernel = gp.kernel_
        return mu, np.maximum(sd, 1e-6)

    def tell(self, config_id: str, runtime_s: float, ok: bool, metrics: Mapping[str, float]) -> None:
        self._runs.add(config_id, runtime_s, ok)

    def recommend(self) -> str:
        return cheapest_observed(self._runs, self._by_id, self._sla)
