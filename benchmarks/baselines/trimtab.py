"""Trimtab's own tuner in the benchmark: `models.decide` after every run, exactly as the server calls it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from models.decide import Decision, Settings, decide
from models.observation import Observation
from models.prior import Prior
from models.space import Candidate


class TrimtabTuner:
    name = "trimtab"

    def __init__(self, prior: Prior | None = None, input_gb: float | None = None, **settings: float) -> None:
        self.prior = prior
        self.input_gb = input_gb
        self.settings = settings  # overrides of models.decide.Settings, for experiments

    def reset(self, candidates: Sequence[Candidate], sla_s: float, seed: int) -> None:
        self._cands = list(candidates)
        self._settings = Settings(sla_s=sla_s, **self.settings)  # type: ignore[arg-type]
        self._seed = seed
        self._history: list[Observation] = []
        self._decision: Decision | None = None

    def tell(self, config_id: str, runtime_s: float, ok: bool, metrics: Mapping[str, float]) -> None:
        self._history.append(
            Observation(
                config_id=config_id,
                runtime_s=runtime_s,
                ok=ok,
                input_gb=self.input_gb,
                metrics=dict(metrics),
                # The first run is the user's own configuration, not one Trimtab chose.
                recommendation_applied=bool(self._history),
            )
        )
        self._decision = decide(self._cands, self._history, self._settings, self.prior, seed=self._seed + len(self._history))

    def ask(self) -> str:
        assert self._decision is not None, "tell the starting run first"
        return self._decision.candidate.config_id

    def interval(self, config_id: str) -> tuple[float, float] | None:
        """The 90% interval of one run's runtime the last decision gave for ``config_id``, if it
        chose that configuration (the interval the server shows with a recommendation)."""
        d = self._decision
        if d is None or d.candidate.config_id != config_id or not d.runtime_interval_s[0] > 0:
            return None
        return d.runtime_interval_s

    def recommend(self) -> str:
        assert self._decision is not None and self._decision.best is not None
        return self._decision.best.config_id
