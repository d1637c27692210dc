"""Per-project runtime model: Bayesian linear regression on log runtime with prediction intervals.

    log t(run) = a + x(config) . theta + offset(config) + delta(config) + eps

- ``x``: the centred physical features of `models.space` (cores, curvature, nodes, memory per core,
  hardware class, input size); ``theta`` has the cross-project prior of `models.prior`.
- ``offset``: the log shape from replaying the project's own stage metrics (`models.replay`), zero
  when runs carry no stage metrics. With an offset, ``theta`` only corrects the replay.
- ``delta``: a configuration's own deviation from the smooth model (prior sd ``tau``, correlated
  between similar configurations by `similarity`), so a measured configuration is predicted from its
  measurements, its neighbours learn from it, and unmeasured ones keep the model's spread. The
  scale of ``tau`` is the project's own (marginal likelihood, shrunk to the prior's ``tau``).
- ``theta``'s prior spread is widened for a job unlike the prior's jobs, chosen the same way.
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
_SIGMA_PSEUDO_DOF = 3.0  # weight of the prior's run noise against observed repetitions
# Candidate scales of the prior's tau for one project, and the sd of the log-normal prior on it.
_TAU_SCALES = tuple(float(v) for v in np.exp(np.linspace(-1.2, 1.2, 9)))
_TAU_SCALE_SD = 0.5
# Candidate widenings (sd) of the shape coefficients' prior, and the sd of the log-normal prior on
# the widening. A job that scales unlike the jobs the prior was learned from (dataproc's k-means:
# 4x faster from 32 to 64 cores once its data fits in memory) otherwise gets confident
# extrapolations from the prior's slopes, and the search never tries where its cheap configuration
# is. Never narrower than the prior: narrowing per project picked a narrow prior too early
# (docs/tuning.md). Tuning benchmark: P@6 / P@10 +0.005-0.008 on two seed sets, dataproc .5 P@6
# .86 -> .90, misses +0.00-0.01.
_COEF_SCALES = (1.0, 2.0, 4.0)
_COEF_SCALE_SD = 0.5


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


def _run_noise(resid: np.ndarray, run_index: np.ndarray, x_runs: np.ndarray | None, prior_mean: np.ndarray,
               prior_cov: np.ndarray, sigma_prior: float) -> float:
    """Run-to-run noise variance: the pooled scatter of repeated runs on one configuration, shrunk to
    the prior's.

    Runs of one configuration on different inputs differ by the input's effect too, not by noise
    alone: it is taken out first (the run features that vary within a configuration, regressed on
    the within-configuration scatter with their prior, the fit's degrees of freedom charged). Else a
    growing job's repetitions read as noise (8 x m.2x over inputs 133-177 GB: intervals 2x wider) and
    every configuration stopped being trusted."""
    groups = np.unique(run_index)
    within = resid.astype(float).copy()
    for k in groups:
        at = run_index == k
        within[at] -= within[at].mean()
    used = 0.0
    if x_runs is not None:
        xw = x_runs.astype(float).copy()
        for k in groups:
            at = run_index == k
            xw[at] -= xw[at].mean(axis=0)
        cols = np.flatnonzero(np.abs(xw).max(axis=0) > 1e-12)
        if cols.size:
            x = xw[:, cols]
            prec = np.linalg.inv(prior_cov[np.ix_(cols, cols)])
            lhs = x.T @ x / sigma_prior**2 + prec
            beta = np.linalg.solve(lhs, x.T @ within / sigma_prior**2 + prec @ prior_mean[cols])
            within = within - x @ beta
            used = float(np.trace(np.linalg.solve(lhs, x.T @ x)) / sigma_prior**2)
    wss = float(within @ within)
    return (_SIGMA_PSEUDO_DOF * sigma_prior**2 + wss) / (_SIGMA_PSEUDO_DOF + len(resid) - groups.size - used)


def similarity(features: np.ndarray, lengthscale: float, white: float) -> np.ndarray:
    """Correlation of configurations' deviations from the smooth model: an RBF kernel on the
    (log) feature distance plus a white share, so neighbours (8 vs 10 nodes of one type) inform
    each other while every configuration keeps some deviation of its own."""
    d2 = np.sum((features[:, None, :] - features[None, :, :]) ** 2, axis=-1)
    return (1.0 - white) * np.exp(-0.5 * d2 / lengthscale**2) + white * np.eye(len(features))


@dataclass
class RuntimeModel:
    """Posterior of the runtime model over a fixed candidate list (one project segment).

    Parameters: intercept, shape coefficients (p), and one deviation per candidate.
    """

    mean: np.ndarray
    cov: np.ndarray
    n_shape: int
    sigma: float

    @classmethod
    def fit(
        cls,
        x_cands: np.ndarray,
        similarity_matrix: np.ndarray,
        run_index: np.ndarray,
        y_log: np.ndarray,
        offset_cands: np.ndarray,
        prior_mean: np.ndarray,
        prior_cov: np.ndarray,
        prior: Prior,
        x_runs: np.ndarray | None = None,
    ) -> RuntimeModel:
        """Fit on runs given as candidate indices ``run_index`` with log runtimes ``y_log``.

        ``x_runs``: the runs' own features (default: their candidates' rows of ``x_cands``). They
        differ where a feature belongs to the run, not the configuration: the input size, so a run
        on last month's smaller input teaches the elasticity instead of being predicted at today's."""
        m, p = x_cands.shape
        resid = y_log - offset_cands[run_index]
        sigma2 = _run_noise(resid, run_index, x_runs, prior_mean, prior_cov, prior.sigma_run)
        rows = cls.rows(x_cands)
        design = rows[run_index]
        if x_runs is not None:
            design = design.copy()
            design[:, 1 : 1 + p] = x_runs
        dim = rows.shape[1]
        m0 = np.zeros(dim)
        m0[1 : 1 + p] = prior_mean
        prec0 = np.zeros((dim, dim))
        prec0[0, 0] = 1.0 / _INTERCEPT_SD**2  # the coefficient and deviation blocks are set per grid point below
        sim_inv = np.linalg.inv(similarity_matrix)
        _, logdet_sim = np.linalg.slogdet(similarity_matrix)
        gram, xty = design.T @ design / sigma2, design.T @ resid / sigma2
        # How far configurations stray from the smooth model differs between projects (the
        # cross-project tau is too wide for a regular single-VM job and too narrow for a job with
        # many instance families). Its scale is chosen per project by marginal likelihood over a
        # small grid, shrunk to the prior's tau by a log-normal prior on the scale: the first few
        # runs say little and keep the prior's width, a dozen distinct configurations say more.
        # The coefficients' prior spread is chosen the same way, jointly (see _COEF_SCALES).
        prior_prec = np.linalg.inv(prior_cov)
        _, logdet_prior_cov = np.linalg.slogdet(prior_cov)
        best: tuple[float, np.ndarray, tuple[np.ndarray, bool]] | None = None
        for widen in _COEF_SCALES:
            prec0[1 : 1 + p, 1 : 1 + p] = prior_prec / widen**2
            logdet_coef = -(logdet_prior_cov + 2.0 * p * math.log(widen))
            penalty_coef = 0.5 * (math.log(widen) / _COEF_SCALE_SD) ** 2
            for scale in _TAU_SCALES:
                tau2 = (prior.tau * scale) ** 2
                prec0[1 + p :, 1 + p :] = sim_inv / tau2
                prec = prec0 + gram
                chol = cho_factor(prec, lower=True)
                mean = cho_solve(chol, prec0 @ m0 + xty)
                # log p(y | tau, widening) up to terms that depend on neither.
                logdet_prec0 = logdet_coef - m * math.log(tau2) - logdet_sim
                logdet_prec = 2.0 * float(np.sum(np.log(np.diag(chol[0]))))
                quad = float(m0 @ prec0 @ m0 - mean @ prec @ mean)
                score = 0.5 * (logdet_prec0 - logdet_prec - quad) - 0.5 * (math.log(scale) / _TAU_SCALE_SD) ** 2
                score -= penalty_coef
                if best is None or score > best[0]:
                    best = (score, mean, chol)
        assert best is not None
        _, mean, chol = best
        cov = cho_solve(chol, np.eye(dim))
        return cls(mean, cov, p, math.sqrt(sigma2))

    @staticmethod
    def rows(x_cands: np.ndarray) -> np.ndarray:
        m, p = x_cands.shape
        return np.hstack([np.ones((m, 1)), x_cands, np.eye(m)])

    def predict(self, x_cands: np.ndarray, offset_cands: np.ndarray) -> Prediction:
        rows = self.rows(x_cands)
        mean = rows @ self.mean + offset_cands
        var = np.einsum("ij,jk,ik->i", rows, self.cov, rows)
        return Prediction(mean, np.maximum(var, 0.0), self.sigma)

    def sample_mean_log(
        self, x_cands: np.ndarray, offset_cands: np.ndarray, n: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Joint posterior draws (n, candidates) of each configuration's mean log runtime."""
        rows = self.rows(x_cands)
        lower = np.linalg.cholesky(self.cov + 1e-12 * np.eye(self.mean.size))
        betas = self.mean + rng.standard_normal((n, self.mean.size)) @ lower.T
        return betas @ rows.T + offset_cands
