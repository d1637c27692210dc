"""Tuners compared by `benchmarks.tuning`: Trimtab's own and the published-method baselines.

Every tuner follows the same ask/tell protocol (`Tuner`): it sees the candidates (instance type,
vCPUs, memory, nodes, price) and the SLA, proposes a configuration to run, is told the run's
outcome, and states what it would recommend now. It never sees runtimes it has not run.
"""

from benchmarks.baselines.base import Tuner, cheapest_observed
from benchmarks.baselines.cherrypick import CherryPickTuner
from benchmarks.baselines.ernest import ErnestTuner
from benchmarks.baselines.simple import KeepTuner, RandomTuner
from benchmarks.baselines.trimtab import TrimtabTuner

__all__ = [
    "CherryPickTuner",
    "ErnestTuner",
    "KeepTuner",
    "RandomTuner",
    "TrimtabTuner",
    "Tuner",
    "cheapest_observed",
]
