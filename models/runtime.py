"""Per-project runtime model: Bayesian linear regression on log runtime with prediction intervals.

    log t(run) = a + x(config) . theta + offset(config) + delta(config) + eps

- ``x``: the centred physical features of `models.space` (cores, curvature, nodes, memory per core,
  hardware class, input size); ``theta`` has the cross-project prior of `models.prior`.
- ``offset``: the log shape from replaying the project's own stage metrics (`models.replay`), zero
  when runs carry no stage metrics. With an offset, ``theta`` only corrects the replay.
- ``delta``: a configuration's own deviation from the smooth model (prior sd ``tau``), so a measured
  configuration is predicted from its measurements while unmeasured ones keep the model's spread.
- ``eps``: run-to-run noise (sd ``sigma``), estimated from repetitions with the prior as a pseudo
  sample.

Everything is conjugate Gaussian, so fitting is a few small linear solves and prediction intervals
are closed-form; joint posterior samples serve the optimizer's probability-of-being-best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from models.prior import Prior

_INTERCEPT_SD = 10.0  # the level is always learned from the project's own runs
_SIGMA_PSEUDO_DOF = 6.0  # weight of the prior's run noise against observed repetitions


@dataclass(frozen=True)
class Prediction:
    """Log-scale predictive distribution per candidate (arrays of equal length)."""

    mean_log: np.ndarray  # mean of log runtime of the configuration's typical run
    var_param: np.ndarray  # uncertainty about that mean (model, misfit)
    sigma: float  # run-to-run noise sd

    @property
    def sd_run(self) -> np.ndarray:
        """Predictive sd of the log runtime of one future run."""
        return np.sqrt(self.var_param + self.sigma**2)

    def median_s(self) -> np.ndarray:
        return np.exp(self.mean_log)

    def expected_s(self) -> np.ndarray:
        return np.exp(self.mean_log + 0.5 * self.sd_run**2)

    def interval_s(self, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        z = _z(0.5 + level / 2)
        return np.exp(self.mean_log - z * self.sd_run), np.exp(self.mean_log + z * self.sd_run)

    def p_below(self, limit_s: float) -> np.ndarray:
        """P(one run's runtime <= limit_s) per candidate."""
        from scipy.special import ndtr

        return ndtr((math.log(limit_s) - self.mean_log) / self.sd_run)


def _z(q: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(q))


@dataclass
class RuntimeModel:
    """Posterior of the runtime model for one project segment."""

    mean: np.ndarray
    chol: tuple[np.ndarray, bool]
    cov: np.ndarray
    n_shape: int
    tried: tuple[str, ...]
    tau: float
    sigma: float

    @classmethod
    def fit(
        cls,
        x_runs: np.ndarray,
        y_log: np.ndarray,
        run_config: list[str],
        offset_runs: np.ndarray,
        prior_mean: np.ndarray,
        prior_cov: np.ndarray,
        prior: Prior,
    ) -> RuntimeModel:
        """Fit on runs: features ``x_runs`` (n, p), log runtimes, config id per run, offsets."""
        n, p = x_runs.shape
        tried = tuple(dict.fromkeys(run_config))
        index = {c: i for i, c in enumerate(tried)}
        k = len(tried)
        # Run noise: pooled within-configuration scatter, shrunk towards the prior's value.
        resid = y_log - offset_runs
        groups: dict[str, list[float]] = {}
        for cfg, r in zip(run_config, resid, strict=True):
            groups.setdefault(cfg, []).append(float(r))
        wss = sum(float(np.sum((np.asarray(v) - np.mean(v)) ** 2)) for v in groups.values())
        wdof = n - len(groups)
        sigma2 = (_SIGMA_PSEUDO_DOF * prior.sigma_run**2 + wss) / (_SIGMA_PSEUDO_DOF + wdof)
        dim = 1 + p + k
        design = np.zeros((n, dim))
        design[:, 0] = 1.0
        design[:, 1 : 1 + p] = x_runs
        design[np.arange(n), 1 + p + np.array([index[c] for c in run_config], dtype=int)] = 1.0
        m0 = np.zeros(dim)
        m0[1 : 1 + p] = prior_mean
        prec0 = np.zeros((dim, dim))
        prec0[0, 0] = 1.0 / _INTERCEPT_SD**2
        prec0[1 : 1 + p, 1 : 1 + p] = np.linalg.inv(prior_cov)
        prec0[1 + p :, 1 + p :] = np.eye(k) / prior.tau**2
        prec = prec0 + design.T @ design / sigma2
        chol = cho_factor(prec, lower=True)
        mean = cho_solve(chol, prec0 @ m0 + design.T @ resid / sigma2)
        cov = cho_solve(chol, np.eye(dim))
        return cls(mean, chol, cov, p, tried, prior.tau, math.sqrt(sigma2))

    def _rows(self, x: np.ndarray, config_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        m = x.shape[0]
        rows = np.zeros((m, self.mean.size))
        rows[:, 0] = 1.0
        rows[:, 1 : 1 + self.n_shape] = x
        untried = np.ones(m, dtype=bool)
        index = {c: i for i, c in enumerate(self.tried)}
        for r, cfg in enumerate(config_ids):
            if cfg in index:
                rows[r, 1 + self.n_shape + index[cfg]] = 1.0
                untried[r] = False
        return rows, untried

    def predict(self, x: np.ndarray, config_ids: list[str], offset: np.ndarray) -> Prediction:
        rows, untried = self._rows(x, config_ids)
        mean = rows @ self.mean + offset
        var = np.einsum("ij,jk,ik->i", rows, self.cov, rows) + untried * self.tau**2
        return Prediction(mean, np.maximum(var, 0.0), self.sigma)

    def sample_mean_log(
        self, x: np.ndarray, config_ids: list[str], offset: np.ndarray, n: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Joint posterior draws (n, candidates) of each configuration's mean log runtime."""
        rows, untried = self._rows(x, config_ids)
        lower = np.linalg.cholesky(self.cov + 1e-12 * np.eye(self.mean.size))
        betas = self.mean + rng.standard_normal((n, self.mean.size)) @ lower.T
        draws = betas @ rows.T + offset
        return draws + untried * self.tau * rng.standard_normal((n, len(config_ids)))
