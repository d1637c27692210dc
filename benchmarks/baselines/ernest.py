"""Ernest-style tuner (Venkataraman et al., NSDI 2016).

Runtime = t0 + t1 / cores + t2 * log(nodes) + t3 * nodes with non-negative coefficients (NNLS).
The input size is fixed per workload, so Ernest's scale/machines term becomes 1/cores. Experiment
design: greedy D-optimal runs until there are as many distinct configurations as terms; then the
tuner runs the configuration the model predicts cheapest among those meeting the SLA, and
recommends that prediction. Like Ernest, it does not model instance types beyond their core count.
A configuration seen failing is known infeasible: neither step runs it again, nor is it recommended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.optimize import nnls

from benchmarks.baselines.base import ObservedRuns, cheapest_observed
from models.space import Candidate


def _terms(c: Candidate) -> np.ndarray:
    return np.array([1.0, 1.0 / c.cores, np.log(max(c.nodes, 1)), float(max(c.nodes, 1))])


class ErnestTuner:
    name = "ernest"

    def reset(self, candidates: Sequence[Candidate], sla_s: float, seed: int) -> None:
        self._cands = list(candidates)
        self._by_id = {c.config_id: c for c in candidates}
        self._x = np.array([_terms(c) for c in candidates])
        self._sla = sla_s
        self._runs = ObservedRuns()

    def _usable(self) -> np.ndarray:
        """Candidates not seen failing; all of them once every one has failed (nothing else is left)."""
        usable = np.array([c.config_id not in self._runs.failed for c in self._cands])
        return usable if usable.any() else np.ones(len(self._cands), dtype=bool)

    def _design_next(self) -> str:
        # A failed run adds no row to the fit, so the information matrix alone would rate the failed
        # configuration as new every time and pick it again: it is taken out of the choice instead.
        tried = [self._by_id[c] for c in self._runs.runtimes] or [self._by_id[self._runs.order[-1]]]
        info = sum(np.outer(_terms(c), _terms(c)) for c in tried) + 1e-6 * np.eye(self._x.shape[1])
        dets = np.array([np.linalg.slogdet(info + np.outer(row, row))[1] for row in self._x])
        return self._cands[int(np.argmax(np.where(self._usable(), dets, -np.inf)))].config_id

    def _predict(self) -> np.ndarray:
        rows = [(_terms(self._by_id[c]), t) for c, ts in self._runs.runtimes.items() for t in ts]
        a = np.array([r[0] for r in rows])
        b = np.array([r[1] for r in rows])
        coef, _ = nnls(a, b)
        return self._x @ coef

    def _model_choice(self) -> str:
        pred = self._predict()
        usable = self._usable()
        cost = np.array([c.price_per_hour for c in self._cands]) * pred
        ok = (pred <= self._sla) & usable
        if not ok.any():
            return self._cands[int(np.argmin(np.where(usable, pred, np.inf)))].config_id
        return self._cands[int(np.argmin(np.where(ok, cost, np.inf)))].config_id

    def ask(self) -> str:
        if len(self._runs.runtimes) < self._x.shape[1]:
            return self._design_next()
        return self._model_choice()

    def tell(self, config_id: str, runtime_s: float, ok: bool, metrics: Mapping[str, float]) -> None:
        self._runs.add(config_id, runtime_s, ok)

    def recommend(self) -> str:
        if len(self._runs.runtimes) < 2:
            return cheapest_observed(self._runs, self._by_id, self._sla)
        return self._model_choice()
