"""The harness's ask/tell loop on a deterministic job, for tests of the benchmark's tuners."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.baselines import Tuner
from models.space import Candidate


def run_search(tuner: Tuner, cands: list[Candidate], sla_s: float, start: str,
            run: Callable[[Candidate], tuple[float, bool]], budget: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """The harness's ask/tell loop on a deterministic job: the configurations run and the recommendations."""
    by_id = {c.config_id: c for c in cands}
    tuner.reset(cands, sla_s, seed)
    tried, recs = [], []
    for step in range(budget):
        cfg = start if step == 0 else tuner.ask()
        runtime_s, ok = run(by_id[cfg])
        tuner.tell(cfg, runtime_s, ok, {})
        tried.append(cfg)
        recs.append(tuner.recommend())
    return tried, recs
