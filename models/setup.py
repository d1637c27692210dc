"""Cluster setup time, learned apart from the execution the configuration drives.

A Databricks job run's runtime, which its SLA bounds, is the job cluster's setup (VMs, the image,
init scripts: minutes) plus the execution. Setup hardly depends on the configuration but varies
from run to run by tens of seconds, which is run-to-run noise of 10-20% for a job that executes
for a few minutes. Modelled in one log-linear runtime, that noise hides how the execution scales
(a constant part flattens every slope) and is mistaken for a configuration's own speed after one
run. So when runs report their setup (the Jobs API's ``setup_duration``), the runtime model learns
the execution (`execution_view`), and the setup is one project-wide distribution estimated from
every run whatever its configuration (`estimate`). The decision adds them back
(`p_total_below`, `total_interval`): the SLA and the cost are about the whole run.

A cluster that sits idle between its own tasks while another cluster's task runs (``wait_s``: a job
a1 -> b -> a2 with a1 and a2 sharing one job cluster) is the same kind of time: paid for, inside the
runtime the SLA bounds, set by something other than this configuration (the other cluster). Learned
as execution, a change to the other cluster alone read as this one's runtime regression. So the
wait is taken with the setup: out of the execution, and added back with it where the whole run
counts (`Setup.wait_mean_s` says how much of the setup's mean it is, for the reasons).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.special import ndtr, ndtri, stdtr

from models.observation import Observation

# Runs whose setup is averaged: setup drifts (image versions, cloud capacity), so recent runs say more.
RECENT = 30
# Prior spread of setup around its mean (coefficient of variation) and its weight in runs: one
# measured setup says nothing about its spread. (0.2, the emulator's CV, calibrated P a little better
# in the closed-loop harness of docs/tuning.md but made a job whose setup never varies settle on
# dearer clusters: not taken.)
_CV_PRIOR = 0.15
_CV_PSEUDO_RUNS = 2.0
# The execution is never taken as less than this share of the runtime (a setup figure from a
# broken clock must not leave a zero or negative execution time).
_MIN_EXECUTION_SHARE = 0.05
# Outcomes of the setup, in standard-normal units, with their probability weights.
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(15)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
# The next setup's distribution once runs show its shape: the observed setups, kernel-smoothed on the
# log scale, mixed with the log-normal of their mean and spread, which weighs as `_SHAPE_PSEUDO_RUNS`
# runs (the first `_SHAPE_FROM_RUN` setups say nothing about the shape; the log-normal alone then).
# A log-normal matched to mean and sd is the wrong shape for real setups: the emulator's is nearly
# uniform (160-330 s) and the log-normal put P(setup <= its 80% point) at 86%; a cloud's capacity
# waits make it bimodal (150-250 s, a tenth 400-600 s) and the log-normal put its 95% point at 98%.
# Where the SLA leaves room for a setup in that range, every cluster's P(meet) was off by as much
# (docs/tuning.md, "Setup calibration").
_SHAPE_FROM_RUN = 2
_SHAPE_PSEUDO_RUNS = 4.0
# The kernel's width as a share of Silverman's rule of thumb (0.9 x spread x n^-1/5): his is for a
# bell-shaped density and blurred the emulator's sharp 330 s upper edge (P at its 95% point read 91%);
# 0.6 reads 92% there and stays calibrated on setups that are log-normal (docs/tuning.md).
_BANDWIDTH = 0.6
# The mixture is integrated at its quantiles at the middles of these probability bins (finer in the
# upper tail, which decides whether a run meets an SLA the setup uses most of).
_EDGES = np.array([0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97,
                   0.98, 0.99, 0.995, 0.999, 1.0])
_GRID = 256  # points of the mixture's CDF the quantiles are read off


@dataclass(frozen=True)
class Setup:
    """The project's cluster setup time: mean and run-to-run sd (s), and the sd of the mean's estimate."""

    mean_s: float
    sd_s: float
    se_mean_s: float
    # The next setup as a discrete distribution (s, weights summing to 1) when runs show its shape
    # (`_shape`); empty: log-normal with mean_s and sd_next_s.
    nodes_s: tuple[float, ...] = field(default=(), compare=False, repr=False)
    weights: tuple[float, ...] = field(default=(), compare=False, repr=False)
    # How much of mean_s is the cluster idle between its tasks, waiting for other clusters' (the rest is
    # creating the cluster): what a reason names it.
    wait_mean_s: float = field(default=0.0, compare=False)

    @property
    def sd_next_s(self) -> float:
        """Spread of the next run's setup, including what is not known about the mean."""
        return math.hypot(self.sd_s, self.se_mean_s)


NO_SETUP = Setup(0.0, 0.0, 0.0)


def estimate(history: Sequence[Observation]) -> Setup:
    """The setup distribution from the latest succeeded runs that report one; `NO_SETUP` when none
    does (then the runtime model learns whole runtimes, as before setup was known). A failed or
    interrupted run's figure is left out: its cluster may never have come up (a run cut off by a
    restart reports a setup of 0 s after minutes), so it says nothing about the next start."""
    kept = [(s, o) for o in history if o.ok and not o.execution_only and (s := _reported(o)) is not None][-RECENT:]
    if not kept:
        return NO_SETUP
    seen = [s for s, _ in kept]
    n = len(seen)
    mean = float(np.mean(seen))
    wait = float(np.mean([_wait(o) for _, o in kept]))
    ss = float(np.sum((np.array(seen) - mean) ** 2))
    var = (_CV_PSEUDO_RUNS * (_CV_PRIOR * mean) ** 2 + ss) / (_CV_PSEUDO_RUNS + n - 1)
    sd = math.sqrt(var)
    setup = Setup(mean, sd, sd / math.sqrt(n), wait_mean_s=wait)
    if n <= _SHAPE_FROM_RUN or setup.sd_next_s <= 0.0 or mean <= 0.0:
        return setup
    nodes, weights = _shape(np.array(seen), setup)
    return replace(setup, nodes_s=tuple(nodes.tolist()), weights=tuple(weights.tolist()))


def _shape(seen: np.ndarray, setup: Setup) -> tuple[np.ndarray, np.ndarray]:
    """The next setup's distribution from the observed ones (see `_SHAPE_PSEUDO_RUNS`), as nodes and
    weights: a Gaussian kernel density of their logs (`_BANDWIDTH`), mixed with the
    log-normal of `setup`'s mean and spread, read off at quantiles."""
    logs = np.log(np.maximum(seen, 1.0))
    n = logs.size
    spread = float(np.std(logs, ddof=1))
    iqr = float(np.subtract(*np.percentile(logs, [75, 25]))) / 1.349
    s2 = math.log1p((setup.sd_next_s / setup.mean_s) ** 2)
    mu, s = math.log(setup.mean_s) - 0.5 * s2, math.sqrt(s2)
    # Equal setups (a pool's, a test's) have no spread: a twentieth of the log-normal's keeps the
    # kernel open.
    h = max(_BANDWIDTH * min(spread, iqr if iqr > 0 else spread) * n ** -0.2, 0.05 * s)
    w = (n - _SHAPE_FROM_RUN) / (n - _SHAPE_FROM_RUN + _SHAPE_PSEUDO_RUNS)
    grid = np.linspace(min(logs.min() - 5.0 * h, mu - 8.0 * s), max(logs.max() + 5.0 * h, mu + 8.0 * s), _GRID)
    # The log-normal's spread is itself estimated from n runs and the prior's pseudo-runs: the next
    # setup is Student-t around its mean on the log scale, not normal.
    par = stdtr(_CV_PSEUDO_RUNS + n - 1, (grid - mu) / s)
    cdf = w * ndtr((grid[:, None] - logs[None]) / h).mean(axis=1) + (1.0 - w) * par
    mids = 0.5 * (_EDGES[1:] + _EDGES[:-1])
    return np.exp(np.interp(mids, cdf, grid)), np.diff(_EDGES)


def execution_view(history: Sequence[Observation], setup: Setup) -> list[Observation]:
    """The runs as the runtime model sees them: execution time only. A run without a setup figure
    (in a project whose other runs have one) is taken to have had the mean setup, except one whose
    runtime is its execution alone (``execution_only``: made from its event log, which starts after
    the setup): taking the mean setup of minutes out of it left a few seconds, a false 10x runtime
    regression against the runs after it and optimistic predictions (review rev15i)."""
    if setup is NO_SETUP:
        return list(history)
    out = []
    for o in history:
        if o.execution_only:
            out.append(o)
            continue
        own = _reported(o)
        own = setup.mean_s if own is None else own
        out.append(replace(o, runtime_s=max(o.runtime_s - own, _MIN_EXECUTION_SHARE * o.runtime_s)))
    return out


def _reported(o: Observation) -> float | None:
    """The run's own setup figure when it is believable (inside its runtime), with its wait for other
    clusters' tasks (`_wait`) added, else None. A wait without a setup figure stays in the runtime:
    the mean setup taken out of it (`execution_view`) is learned from runs whose waits are in it."""
    if o.setup_s is None or not 0.0 <= o.setup_s < o.runtime_s:
        return None
    return float(o.setup_s) + _wait(o)


def _wait(o: Observation) -> float:
    """The run's wait for other clusters' tasks when it fits in the runtime after the setup, else 0
    (left in the execution, as before waits were measured)."""
    wait = o.wait_s or 0.0
    return float(wait) if wait >= 0.0 and (o.setup_s or 0.0) + wait < o.runtime_s else 0.0


def described(setup: Setup) -> str:
    """What the setup is, in a reason: creating the cluster, and the wait for other clusters' tasks
    when the runs had one (so a reason does not call a wait of minutes "cluster setup")."""
    if setup.wait_mean_s <= 0.0:
        return f"~{setup.mean_s:.0f}s cluster setup"
    return (f"~{max(setup.mean_s - setup.wait_mean_s, 0.0):.0f}s cluster setup and ~{setup.wait_mean_s:.0f}s "
            "waiting for other clusters' tasks")


def p_total_below(mean_log: np.ndarray, sd_log: np.ndarray | float, setup: Setup, limit_s: float) -> np.ndarray:
    """P(setup + execution <= limit_s), elementwise over ``mean_log`` (any shape): the execution
    log-normal (mean_log, sd_log), the next setup log-normal with the setup's mean and spread and
    independent of it. A normal setup put weight on setups below zero: with setups of 60-900 s
    (mean 416 s, sd 330 s) a tenth of it, so P never fell below ~11% however far out of reach
    the SLA was, and the SLA was never called out of reach (a review's closed loop: 15 clusters in
    25 nights, none meeting it)."""
    mean_log = np.asarray(mean_log, dtype=float)
    if setup.nodes_s:
        room = limit_s - np.array(setup.nodes_s)
        weights = np.array(setup.weights)
    elif setup.sd_next_s <= 0.0 or setup.mean_s <= 0.0:
        room = np.array([limit_s - setup.mean_s])
        weights = np.ones(1)
    else:
        s2 = math.log1p((setup.sd_next_s / setup.mean_s) ** 2)
        room = limit_s - np.exp(math.log(setup.mean_s) - 0.5 * s2 + _NODES * math.sqrt(s2))
        weights = _WEIGHTS
    sd = np.maximum(np.asarray(sd_log, dtype=float), 1e-12)
    # A setup that alone overruns the limit leaves no room for the execution.
    at = (slice(None),) + (None,) * mean_log.ndim
    log_room = np.log(np.maximum(room, 1e-9))[at]
    p = np.where(room[at] > 0, ndtr((log_room - mean_log[None]) / sd), 0.0)
    return np.tensordot(weights, p, axes=1)


def total_interval(
    mean_log: np.ndarray, sd_log: np.ndarray, setup: Setup, level: float = 0.9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and central ``level`` interval of one run's runtime (setup + execution), by matching
    a log-normal to the sum's mean and variance (exact when there is no setup)."""
    mean_log = np.asarray(mean_log, dtype=float)
    var = np.asarray(sd_log, dtype=float) ** 2
    z = float(ndtri(0.5 + level / 2))
    if setup is NO_SETUP:
        sd = np.sqrt(var)
        return np.exp(mean_log), np.exp(mean_log - z * sd), np.exp(mean_log + z * sd)
    mean_exec = np.exp(mean_log + 0.5 * var)
    var_exec = np.expm1(var) * mean_exec**2
    mean = mean_exec + setup.mean_s
    s2 = np.log1p((var_exec + setup.sd_next_s**2) / mean**2)
    mu = np.log(mean) - 0.5 * s2
    sd = np.sqrt(s2)
    return np.exp(mu), np.exp(mu - z * sd), np.exp(mu + z * sd)
