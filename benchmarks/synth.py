"""Synthetic jobs with known physics (Ernest-style ground truth) for the decision core's benchmarks
(`benchmarks.regressions`) and tests (`tests.models`, through `tests.models.models_synth`).

Here, not under tests/, because a benchmark must run without the tests package on its path; tests
may import benchmarks, never the other way (tests/test_import_cycles.py). Pure: `models` and numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.observation import Observation
from models.space import Candidate

TYPES = (("c.2x", 8, 16.0, 0.40), ("m.2x", 8, 32.0, 0.48), ("r.2x", 8, 64.0, 0.60), ("c.4x", 16, 32.0, 0.80))


def grid(nodes: tuple[int, ...] = (2, 4, 6, 8, 12, 16, 24)) -> list[Candidate]:
    return [
        Candidate(f"{n}x{t}", t, v, m, n, round(n * p, 6), family=t[0])
        for n in nodes
        for t, v, m, p in TYPES
    ]


@dataclass(frozen=True)
class Job:
    """runtime = fixed + work / cores + coordination * nodes, memory-starved types slower."""

    fixed_s: float = 60.0
    work_core_s: float = 40000.0
    coord_s: float = 4.0
    mem_penalty: float = 0.15  # extra share of the work when memory per core is below 3 GiB
    noise: float = 0.03

    def mean_runtime(self, c: Candidate, input_scale: float = 1.0) -> float:
        work = self.work_core_s * input_scale * (1.0 + (self.mem_penalty if c.memory_per_core_gib < 3 else 0.0))
        return self.fixed_s + work / c.cores + self.coord_s * c.nodes

    def run(
        self, c: Candidate, rng: np.random.Generator, input_scale: float = 1.0, **fields: object
    ) -> Observation:
        t = self.mean_runtime(c, input_scale) * float(np.exp(rng.normal(0.0, self.noise)))
        return Observation(config_id=c.config_id, runtime_s=t, ok=True, **fields)  # type: ignore[arg-type]

    def oracle(self, cands: list[Candidate], sla_s: float | None) -> Candidate:
        ok = [c for c in cands if sla_s is None or self.mean_runtime(c) <= sla_s]
        return min(ok, key=lambda c: c.cost(self.mean_runtime(c)))


def random_job(rng: np.random.Generator) -> Job:
    return Job(
        fixed_s=float(rng.uniform(20, 200)),
        work_core_s=float(rng.uniform(5e3, 1e5)),
        coord_s=float(rng.uniform(0.0, 10.0)),
        mem_penalty=float(rng.uniform(0.0, 0.4)),
        noise=0.03,
    )
