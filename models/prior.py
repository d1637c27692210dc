"""What similar jobs did: a prior over the runtime model's shape coefficients.

Every workload's log runtime is fitted on the centred features of `models.space`; the spread of
those coefficients across workloads is the prior for a new project (mean and covariance), together
with the typical model misfit per configuration (``tau``) and run-to-run noise (``sigma_run``).
With this prior, one run fixes the level and the prior supplies the shape, so the first
recommendation can come after one run even without stage metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.observation import NOT_LEARNED, Observation
from models.space import FEATURES, Candidate, design_features, feature_centre

# Elasticity of runtime to input size when no history identifies it: runtime grows a little less
# than linearly with input (fixed costs), with wide uncertainty.
_INPUT_MEAN, _INPUT_SD = 0.9, 0.3


@dataclass(frozen=True)
class Prior:
    """Gaussian prior over the shape coefficients (order of `models.space.FEATURES`)."""

    mean: tuple[float, ...]
    cov: tuple[tuple[float, ...], ...]
    tau: float  # sd of a configuration's deviation from the smooth model (log scale)
    sigma_run: float  # sd of run-to-run noise on one configuration (log scale)
    n_workloads: int = 0

    def mean_array(self) -> np.ndarray:
        return np.asarray(self.mean, dtype=float)

    def cov_array(self) -> np.ndarray:
        return np.asarray(self.cov, dtype=float)


def _diag_prior(mean: Sequence[float], sd: Sequence[float], tau: float, sigma: float, n: int = 0) -> Prior:
    cov = np.diag(np.square(np.asarray(sd, dtype=float)))
    return Prior(tuple(float(m) for m in mean), tuple(tuple(map(float, r)) for r in cov), tau, sigma, n)


# Hardware class (price per core at equal cores) is not learned across projects: price tables
# differ between clouds, regions and DBU plans, and on the public datasets a learned coefficient
# made first recommendations worse, so it starts at "no effect" and each project learns its own.
_CLASS = FEATURES.index("log_price_per_core")
_CLASS_SD = 0.3
_TRANSFER_WIDEN = 2.0

# Used when the caller has no learned prior: modest sublinear scaling, wide uncertainty.
DEFAULT_PRIOR = _diag_prior(
    mean=(-0.5, 0.15, -0.1, -0.1, 0.0, _INPUT_MEAN),
    sd=(0.4, 0.25, 0.35, 0.4, _CLASS_SD, _INPUT_SD),
    tau=0.15,
    sigma=0.05,
)


@dataclass(frozen=True)
class WorkloadFit:
    """How one workload (a project, or a job of a public dataset) scales: its fitted shape.

    Plain floats, so that fits can be kept as data (`models.public_prior`) and pooled with others.
    """

    coef: tuple[float, ...]  # per feature of `models.space.FEATURES`; NaN where not identified
    tau2: float  # variance of its configurations' deviations from its fitted shape (log scale)
    typical_sd: float | None  # median over configurations of their repetitions' sd (log scale)


def fit_workload(candidates: Sequence[Candidate], history: Sequence[Observation]) -> WorkloadFit | None:
    """One workload's shape from its measured configurations (ok runs not marked NOT_LEARNED); None
    with fewer than five configurations, or too few for the features they vary."""
    by_id = {c.config_id: c for c in candidates}
    runs: dict[str, list[float]] = {}
    for obs in history:
        if obs.ok and obs.runtime_s > 0 and obs.config_id in by_id and not set(obs.anomalies) & NOT_LEARNED:
            runs.setdefault(obs.config_id, []).append(math.log(obs.runtime_s))
    if len(runs) < 5:
        return None
    ids = sorted(runs)
    cands = [by_id[i] for i in ids]
    sizes = [o.input_gb for o in history if o.input_gb]
    centre = feature_centre(candidates, float(np.median(sizes)) if sizes else None)
    x = design_features(cands, centre)
    y = np.array([np.mean(runs[i]) for i in ids])
    ident = [j for j in range(x.shape[1]) if np.ptp(x[:, j]) > 1e-6]
    if len(ids) < len(ident) + 3:
        return None
    a = np.column_stack([np.ones(len(ids)), x[:, ident]])
    # A whisper of ridge keeps collinear columns (e.g. cores and nodes when one type) finite.
    ridge = 1e-3 * np.eye(a.shape[1])
    ridge[0, 0] = 0.0
    beta = np.linalg.solve(a.T @ a + ridge, a.T @ y)
    resid = y - a @ beta
    dof = max(len(ids) - a.shape[1], 1)
    coef = np.full(len(FEATURES), np.nan)
    coef[ident] = beta[1:]
    sds = [float(np.std(v, ddof=1)) for v in runs.values() if len(v) > 1]
    return WorkloadFit(tuple(float(c) for c in coef), float(resid @ resid / dof),
                       float(np.median(sds)) if sds else None)


def learn_prior(
    histories: Sequence[tuple[Sequence[Candidate], Sequence[Observation]]],
    weights: Sequence[float] | None = None,
) -> Prior:
    """Learn a prior from other projects' (or workloads') candidates and run histories.

    ``weights`` (one per history) let a caller balance sources, e.g. 1/size of each dataset, so
    that one large family of similar jobs does not drown the rest. Histories with fewer than five
    measured configurations are skipped; features a workload does not vary are left out of its
    contribution. Falls back to `DEFAULT_PRIOR` for anything no history identifies.
    """
    ws = list(weights) if weights is not None else [1.0] * len(histories)
    fitted = [(fit_workload(cands, hist), w) for (cands, hist), w in zip(histories, ws, strict=True)]
    return combine_fits([f for f, _ in fitted if f is not None], [w for f, w in fitted if f is not None])


def combine_fits(fits: Sequence[WorkloadFit], weights: Sequence[float] | None = None) -> Prior:
    """The prior that workloads' fits imply (weighted; see `learn_prior`); `DEFAULT_PRIOR` without any."""
    ws = list(weights) if weights is not None else [1.0] * len(fits)
    kept = [(f, w) for f, w in zip(fits, ws, strict=True) if w > 0]
    fits, fw = [f for f, _ in kept], [w for _, w in kept]
    if not fits:
        return DEFAULT_PRIOR
    coefs = np.array([f.coef for f in fits], dtype=float)
    w = np.asarray(fw)
    p = len(FEATURES)
    mean = DEFAULT_PRIOR.mean_array().copy()
    cov = DEFAULT_PRIOR.cov_array().copy()
    for j in range(p):
        ok = ~np.isnan(coefs[:, j])
        if w[ok].sum() > 0 and ok.sum() >= 3:
            mean[j] = np.average(coefs[ok, j], weights=w[ok])
    for j in range(p):
        for k in range(j, p):
            ok = ~np.isnan(coefs[:, j]) & ~np.isnan(coefs[:, k])
            if ok.sum() >= 3:
                cjk = np.average((coefs[ok, j] - mean[j]) * (coefs[ok, k] - mean[k]), weights=w[ok])
                cov[j, k] = cov[k, j] = cjk
    # Coefficients spread more between families of jobs than within the workloads of the other
    # datasets, so the learned covariance is widened: measured leave-one-dataset-out on the
    # tuning datasets, x2 found the cheap configurations of a new dataset after 6 runs more
    # often (0.63 -> 0.69) with no more SLA misses.
    cov = cov * _TRANSFER_WIDEN
    mean[_CLASS] = 0.0
    cov[_CLASS, :] = 0.0
    cov[:, _CLASS] = 0.0
    cov[_CLASS, _CLASS] = _CLASS_SD**2
    # Pairwise estimates need not be positive definite: clip eigenvalues, keep a floor so the
    # data can always move every coefficient a little.
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    cov = vecs @ np.diag(np.maximum(vals, 0.02**2)) @ vecs.T
    tau = math.sqrt(max(float(np.average([f.tau2 for f in fits], weights=w)), 0.03**2))
    # Typical run noise: the median configuration's repetition sd, then the weighted median over
    # workloads. Run noise is heavy-tailed (most configurations repeat within 1-2%, a few scatter
    # by 15%), and a pooled variance let those few make every configuration look noisy, so a
    # single run just under the SLA was never trusted. A noisy project learns its own noise from
    # its repetitions (models.runtime).
    noisy = [(f.typical_sd, wi) for f, wi in zip(fits, w, strict=True) if f.typical_sd is not None]
    if noisy:
        sigma = _weighted_median([v for v, _ in noisy], [wi for _, wi in noisy])
    else:
        sigma = DEFAULT_PRIOR.sigma_run
    return Prior(
        tuple(float(v) for v in mean),
        tuple(tuple(float(v) for v in row) for row in cov),
        tau=tau,
        sigma_run=max(sigma, 0.01),
        n_workloads=len(fits),
    )


def _weighted_median(values: Sequence[float], weights: Sequence[float]) -> float:
    order = np.argsort(values)
    v, cw = np.asarray(values)[order], np.cumsum(np.asarray(weights, dtype=float)[order])
    return float(v[np.searchsorted(cw, 0.5 * cw[-1])])
