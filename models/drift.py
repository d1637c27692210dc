"""The slow-run rule's statistics (`models.changes` screens with them): the project's own run noise
(`_Scatter`), and the sequential test that adds up a slow regression whose runs straddle the rule's bar
(`_Cusum`). `REGRESSION_RATIO` lives here because both the rule and the test read it.

`models.changes` re-exports every setting here; `benchmarks.regressions --set NAME=VALUE` sets a name
in both modules, since each reads its own binding.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

REGRESSION_RATIO = 1.25


# The sequential test beside the slow-run rule (`_Cusum`). A lasting slow-down whose runs straddle
# the rule's bar (1.82x, 1.28x, then 1.23x under the 1.25x floor) cleared its suspect and was never
# seen: this one adds every judged run's standardised shift up and forgets none of them.
CUSUM_K = 0.5  # the sds a run must be slow by to add to the sum (half the 1-sd shift it is tuned for)
# The sum, in sds, that makes a regression (alone, 4 and 5 rebased 8 of 30 stable loops at 20%; 5
# with the mean-shift check below: 5 and 6 at 15% and 20%, against 3 and 5 at 7).
CUSUM_H = 7.0
CUSUM_MIN_BASE = 1  # runs of its configuration before the sum opened that a run is judged against
CUSUM_MIN_DRAWS = 3  # repetitions of the project's own read before the sum may open
# The sum's noise is shrunk to the prior's over fewer pseudo-runs than the slow-run rule's bar: it
# adds many runs up, and a job's 20% read as 12-15% makes every run's shift look 1.3-1.6x as big.
CUSUM_PSEUDO_DOF = 0.5
# The most sds one run adds: one wild run is what noise sometimes does (the slow-run rule waits for a
# second); with this cap the sum needs four runs to reach `CUSUM_H`.
CUSUM_CAP = 2.5
# The sum alone read a baseline that happened to be fast as a regression: ten runs of one cluster
# judged against its three early runs (0.25 fast in log at 15% noise) each carry that error, so the
# sum grew by it every night (a steady "1.29x"). The mean shift since the sum opened must also pass
# `CUSUM_GUARD_Z` of its sd with the baselines' error in it (`_Cusum._shift_stands`): a baseline of
# n runs weighs 1/n, so a short one cannot make a false alarm cheap. At 2.5 it saw x1.3 in 14 / 11 /
# 13 closed loops of 30 at 10 / 15 / 20% noise (3.0: 11 / 7 / 9; none: 10 / 6 / 8), but rebased a
# stable job whose first ten runs drew low and the rest high (seed 47 of 30-59 at 15% and 20%: a 1.27x
# mean shift at 2.6 of its sds, what a real x1.3 at 15% shows); at 3.0 no stable loop of 60 rebases
# that did not before (docs/tuning.md, "A sequential test for slow regressions").
CUSUM_GUARD_Z = 3.0
# The guard's noise: the larger of the one read when the sum opened and now, each as the draws'
# root mean square. A mean's error goes with the variance; the median of the draws (the slow-run
# rule's, robust to a speed-up) read that job's 15% as 9% from a quiet stretch. 0: at the opening only.
CUSUM_GUARD_NOW = 1.0


class _Cusum:
    """A one-sided CUSUM of the judged runs' standardised log shifts from their configuration's runs
    before the sum opened, and the mean shift since it opened, with its baselines' error."""

    def __init__(self) -> None:
        self.total = 0.0
        self.start: int | None = None
        self.noise = 0.0
        self.rms_at_start = 0.0
        self.runs = 0
        self.sum_slow = 0.0
        # config -> (runs judged since the sum opened, runs of its baseline)
        self.judged: dict[str, tuple[int, int]] = {}

    @property
    def mean_slow(self) -> float:
        return self.sum_slow / max(self.runs, 1)

    def step(self, config_id: str, idx: int, norm: float, runs: Sequence[tuple[int, float]], own: float,
             draws: int, rms: float) -> bool:
        base = [v for i, v in runs if self.start is None or i < self.start]
        if len(base) < CUSUM_MIN_BASE:
            return False
        noise = own if self.start is None else self.noise
        sd = noise * math.sqrt(1.0 + 1.0 / len(base))
        slow = norm - sum(base) / len(base)
        k = max(CUSUM_K, 0.5 * math.log(REGRESSION_RATIO) / sd)
        total = self.total + min(slow / sd, CUSUM_CAP) - k
        if total <= 0.0:
            self.total, self.start, self.runs, self.sum_slow = 0.0, None, 0, 0.0
            self.judged = {}
            return False
        if self.start is None:
            if draws < CUSUM_MIN_DRAWS:
                return False
            self.start, self.noise, self.rms_at_start = idx, own, rms
        self.total = total
        self.runs += 1
        self.sum_slow += slow
        m_c, _ = self.judged.get(config_id, (0, len(base)))
        self.judged[config_id] = (m_c + 1, len(base))
        return self.total > CUSUM_H and self._shift_stands(rms)

    def _shift_stands(self, rms: float) -> bool:
        """Whether the mean shift since the sum opened passes `CUSUM_GUARD_Z` of its own sd, the
        baselines' error in it: runs judged night after night against one configuration's few early
        runs share those runs' error, which the per-run sum counts again with every run."""
        if CUSUM_GUARD_Z <= 0.0:
            return True
        m = self.runs
        share = sum(m_c * m_c / n_c for m_c, n_c in self.judged.values()) / (m * m)
        noise = max(self.rms_at_start, rms) if CUSUM_GUARD_NOW else self.rms_at_start
        return self.mean_slow > CUSUM_GUARD_Z * noise * math.sqrt(1.0 / m + share)


# How many runs' worth of the prior's noise the project's own scatter is weighed against: with
# few repetitions, one quiet pair must not make the screen trigger-happy, nor one wild pair blind.
_NOISE_PSEUDO_DOF = 4.0
# The sd of a normal distribution over the median of its absolute values.
_MAD_TO_SD = 1.4826


class _Scatter:
    """The run noise of the input-corrected log runtimes seen so far, from their repetitions.

    The screen's bar was three sds of the fleet prior's run noise (5%): a job whose runs scatter
    15% or 20% a night rebased falsely. Each repeated run's distance from its configuration's
    earlier mean (scaled to one run's sd) is a draw of the job's noise; their median, not their
    mean square, so that a change the screen does not flag (a speed-up: the job's scaling changed
    and its small clusters got faster) is not read as noise that then hides the slow-down of its
    big ones. Shrunk to the prior's noise over `_NOISE_PSEUDO_DOF` runs and never read below it,
    so a quiet job is screened as before."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[int, float]] = {}  # config -> (runs, sum of values)
        self._draws: list[float] = []  # sorted
        self._squares = 0.0  # sum of the draws' squares

    def add(self, config_id: str, value: float) -> None:
        n, total = self._runs.get(config_id, (0, 0.0))
        if n:
            draw = abs(value - total / n) * math.sqrt(n / (n + 1.0))
            bisect.insort(self._draws, draw)
            self._squares += draw * draw
        self._runs[config_id] = (n + 1, total + value)

    @property
    def draws(self) -> int:
        """How many repetitions the noise was read from."""
        return len(self._draws)

    def sigma(self, sigma_prior: float, pseudo_dof: float = _NOISE_PSEUDO_DOF) -> float:
        m = len(self._draws)
        if not m:
            return sigma_prior
        median = 0.5 * (self._draws[(m - 1) // 2] + self._draws[m // 2])
        own = _MAD_TO_SD * median
        return max(sigma_prior, math.sqrt((pseudo_dof * sigma_prior**2 + m * own**2) / (pseudo_dof + m)))

    def rms(self, sigma_prior: float, pseudo_dof: float = _NOISE_PSEUDO_DOF) -> float:
        """The noise read as the draws' root mean square, shrunk and floored as `sigma`'s."""
        m = len(self._draws)
        return max(sigma_prior, math.sqrt((pseudo_dof * sigma_prior**2 + self._squares) / (pseudo_dof + m)))
