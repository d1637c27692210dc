"""The ask/tell protocol shared by all tuners, and helpers they have in common."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from models.space import Candidate


class Tuner(Protocol):
    """A tuner may also have ``interval(config_id) -> (low_s, high_s) | None``: the 90% interval of
    one run's runtime it predicts for the configuration it just asked for (the harness then reports
    how often runs fall inside it)."""

    name: str

    def reset(self, candidates: Sequence[Candidate], sla_s: float, seed: int) -> None: ...

    def ask(self) -> str: ...

    def tell(self, config_id: str, runtime_s: float, ok: bool, metrics: Mapping[str, float]) -> None: ...

    def recommend(self) -> str: ...


class ObservedRuns:
    """Runs seen so far, per configuration (successful runtimes only; failures remembered)."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.runtimes: dict[str, list[float]] = {}
        self.failed: set[str] = set()

    def add(self, config_id: str, runtime_s: float, ok: bool) -> None:
        self.order.append(config_id)
        if ok:
            self.runtimes.setdefault(config_id, []).append(runtime_s)
        else:
            self.failed.add(config_id)

    def mean(self, config_id: str) -> float | None:
        values = self.runtimes.get(config_id)
        return float(np.mean(values)) if values else None


def cheapest_observed(runs: ObservedRuns, by_id: Mapping[str, Candidate], sla_s: float) -> str:
    """Cheapest measured configuration whose mean runtime met the SLA; else the fastest measured.

    A configuration seen failing is known infeasible, so it is recommended only when nothing else
    is known: one that never failed comes first, then one that failed but also succeeded. With no
    success at all, the untried configuration with the most memory (failures on a cluster are
    mostly out of memory or disk), and the last run only when every configuration has failed."""
    means = {c: float(np.mean(v)) for c, v in runs.runtimes.items()}
    clean = {c: m for c, m in means.items() if c not in runs.failed}
    pool = clean or means
    if pool:
        feasible = {c: m for c, m in pool.items() if m <= sla_s}
        if feasible:
            return min(feasible, key=lambda c: by_id[c].cost(feasible[c]))
        return min(pool, key=lambda c: pool[c])
    untried = [c for c in by_id if c not in runs.failed]
    if untried:
        return max(untried, key=lambda c: (by_id[c].memory_gib * max(by_id[c].nodes, 1), -by_id[c].price_per_hour))
    return runs.order[-1]


def unit_features(candidates: Sequence[Candidate]) -> np.ndarray:
    """Configuration encoding for black-box tuners: log cores, memory/core, nodes, price/core in [0, 1]."""
    raw = np.array(
        [
            [np.log(c.cores), np.log(c.memory_per_core_gib), np.log(max(c.nodes, 1)), np.log(c.price_per_hour / c.cores)]
            for c in candidates
        ]
    )
    span = np.ptp(raw, axis=0)
    span[span == 0] = 1.0
    return (raw - raw.min(axis=0)) / span
