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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import ndtr, ndtri

from models.observation import Observation

# Runs whose setup is averaged: setup drifts (image versions, cloud capacity), so recent runs say more.
RECENT = 30
# Prior spread of setup around its mean (coefficient of variation) and its weight in runs: one
# measured setup says nothing about its spread.
_CV_PRIOR = 0.15
_CV_PSEUDO_RUNS = 2.0
# The execution is never taken as less than this share of the runtime (a setup figure from a
# broken clock must not leave a zero or negative execution time).
_MIN_EXECUTION_SHARE = 0.05
# Outcomes of the setup, in standard-normal units, with their probability weights.
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(15)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


@dataclass(frozen=True)
class Setup:
    """The project's cluster setup time: mean and run-to-run sd (s), and the sd of the mean's estimate."""

    mean_s: float
    sd_s: float
    se_mean_s: float

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
    seen = [s for o in history if o.ok and not o.execution_only and (s := _reported(o)) is not None][-RECENT:]
    if not seen:
        return NO_SETUP
    n = len(seen)
    mean = float(np.mean(seen))
    ss = float(np.sum((np.array(seen) - mean) ** 2))
    var = (_CV_PSEUDO_RUNS * (_CV_PRIOR * mean) ** 2 + ss) / (_CV_PSEUDO_RUNS + n - 1)
    sd = math.sqrt(var)
    return Setup(mean, sd, sd / math.sqrt(n))


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
    """The run's own setup figure when it is believable (inside its runtime), else None."""
    return float(o.setup_s) if o.setup_s is not None and 0.0 <= o.setup_s < o.runtime_s else None


def p_total_below(mean_log: np.ndarray, sd_log: np.ndarray | float, setup: Setup, limit_s: float) -> np.ndarray:
    """P(setup + execution <= limit_s), elementwise over ``mean_log`` (any shape): the execution
    log-normal (mean_log, sd_log), the next setup log-normal with the setup's mean and spread and
    independent of it. A normal setup put weight on setups below zero: with setups of 60-900 s
    (mean 416 s, sd 330 s) a tenth of it, so P never fell below ~11% however far out of reach
    the SLA was, and the SLA was never called out of reach (a review's closed loop: 15 clusters in
    25 nights, none meeting it)."""
    mean_log = np.asarray(mean_log, dtype=float)
    if setup.sd_next_s <= 0.0 or setup.mean_s <= 0.0:
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
