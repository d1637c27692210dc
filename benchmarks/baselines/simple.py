"""Reference tuners: keep the starting configuration, and random search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from benchmarks.baselines.base import ObservedRuns, cheapest_observed
from models.space import Candidate


class KeepTuner:
    """Never changes the user's starting configuration."""

    name = "keep"

    def reset(self, candidates: Sequence[Candidate], sla_s: float, seed: int) -> None:
        self._start: str | None = None

    def ask(self) -> str:
        assert self._start is not None
        return self._start

    def tell(self, config_id: str, runtime_s: float, ok: bool, metrics: Mapping[str, float]) -> None:
        if self._start is None:
            self._start = config_id

    def recommend(self) -> str:
        assert self._start is not None
        return self._start


class RandomTuner:
    """Tries untried configurations uniformly at random; recommends the cheapest measured one that met the SLA."""

    name = "random"

    def reset(self, candidates: Sequence[Candidate], sla_s: float, seed: int) -> None:
        self._by_id = {c.config_id: c for c in candidates}
        self._sla = sla_s
        self._rng = np.random.default_rng(seed + 7919)
        self._runs = ObservedRuns()

    def ask(self) -> str:
        untried = [c for c in self._by_id if c not in self._runs.order]
        # Once all are tried, only the ones never seen failing are worth another run.
        pool = untried or [c for c in self._by_id if c not in self._runs.failed] or list(self._by_id)
        return str(pool[int(self._rng.integers(len(pool)))])

    def tell(self, config_id: str, runtime_s: float, ok: bool, metrics: Mapping[str, float]) -> None:
        self._runs.add(config_id, runtime_s, ok)

    def recommend(self) -> str:
        return cheapest_observed(self._runs, self._by_id, self._sla)
