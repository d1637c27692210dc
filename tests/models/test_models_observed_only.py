"""Observed-only candidates (``Candidate.allowed=False``, e.g. refused by a cluster policy): their runs
teach the model exactly as before, and `decide` never recommends nor runs them, in any phase."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models.decide import Settings, decide, forecast
from models.observation import Observation
from models.space import Candidate
from tests.models.models_synth import Job, grid


def _barred(cands: list[Candidate], *ids: str) -> list[Candidate]:
    return [dataclasses.replace(c, allowed=False) if c.config_id in ids else c for c in cands]


def _history(job: Job, cands: list[Candidate], ids: list[str], seed: int = 3) -> list[Observation]:
    rng = np.random.default_rng(seed)
    by_id = {c.config_id: c for c in cands}
    return [job.run(by_id[i], rng, recommendation_applied=False) for i in ids]


JOB = Job(fixed_s=60.0, work_core_s=40000.0, coord_s=4.0, mem_penalty=0.15, noise=0.03)


def test_an_observed_only_configuration_teaches_the_decision_exactly_as_an_allowed_one() -> None:
    cands = grid()
    history = _history(JOB, cands, ["8xm.2x"] * 4)
    settings = Settings(sla_s=3000.0)
    decision = decide(_barred(cands, "8xm.2x"), history, settings, seed=11)
    assert decision.candidate.config_id != "8xm.2x"
    # The decision's prediction is the full posterior's, refused runs included ...
    full = {f.candidate.config_id: f for f in forecast(cands, history, settings, seed=11)}
    assert decision.predicted_runtime_s == full[decision.candidate.config_id].predicted_runtime_s
    # ... and those runs did teach: without them the same candidate is predicted otherwise.
    other = _history(JOB, cands, ["2xc.2x"])
    without = {f.candidate.config_id: f for f in forecast(cands, other, settings, seed=11)}
    assert without[decision.candidate.config_id].predicted_runtime_s != pytest.approx(
        decision.predicted_runtime_s, rel=0.02)
    assert decision.predicted_runtime_s == pytest.approx(JOB.mean_runtime(decision.candidate), rel=0.25)


@pytest.mark.parametrize("auto_apply", [True, False])
@pytest.mark.parametrize("runs", [1, 2, 4, 8])
def test_an_observed_only_configuration_is_never_recommended_in_any_phase(auto_apply: bool, runs: int) -> None:
    cands = grid()
    # The job ran on one configuration; it and whatever the model would pick (learning, exploring or
    # optimizing) are refused: the decision goes elsewhere, and learns from the refused runs.
    history = _history(JOB, cands, ["8xm.2x"] * runs)
    settings = Settings(sla_s=3000.0, auto_apply=auto_apply, learning_budget=3)
    for seed in range(4):
        free = decide(cands, history, settings, seed=seed)
        assert free.best is not None
        refused = {"8xm.2x", free.candidate.config_id, free.best.config_id}
        decision = decide(_barred(cands, *refused), history, settings, seed=seed)
        assert decision.candidate.config_id not in refused and decision.candidate.allowed
        assert decision.best is not None and decision.best.config_id not in refused
        assert decision.phase == free.phase
        assert not np.isnan(decision.predicted_runtime_s)  # the refused runs are usable history


def test_first_run_and_failures_never_fall_back_to_an_observed_only_configuration() -> None:
    cands = grid()
    first = decide(cands, [], Settings(sla_s=None), seed=0)
    again = decide(_barred(cands, first.candidate.config_id), [], Settings(sla_s=None), seed=0)
    assert again.candidate.config_id != first.candidate.config_id and again.candidate.allowed
    # Every allowed configuration failed; the one refused succeeded: still never picked.
    two = [c for c in cands if c.config_id in {"8xm.2x", "8xc.2x"}]
    history = [Observation("8xc.2x", 100.0, ok=False), Observation("8xm.2x", 900.0, ok=True)]
    for h in (history[:1], history):
        decision = decide(_barred(two, "8xm.2x"), h, Settings(sla_s=600.0), seed=0)
        assert decision.candidate.config_id == "8xc.2x"


def test_no_allowed_candidate_is_a_clear_error() -> None:
    cands = _barred(grid((2, 4)), *[c.config_id for c in grid((2, 4))])
    with pytest.raises(ValueError, match="at least one allowed candidate"):
        decide(cands, [], Settings(sla_s=None))


def test_with_every_candidate_allowed_the_decision_is_the_one_before_observed_only_existed() -> None:
    """The tuning benchmark never marks a candidate not allowed: a fixed history gives the decision the
    code gave before `Candidate.allowed` (recorded from commit 08287ac), in each phase."""
    cands = grid()
    history = _history(JOB, cands, ["8xm.2x", "12xc.2x", "4xr.2x", "16xm.2x", "6xc.4x"], seed=5)
    got = {}
    for name, settings, runs in (("learning", Settings(sla_s=900.0, learning_budget=6), 3),
                                 ("optimizing", Settings(sla_s=900.0, learning_budget=2), 5),
                                 ("monitoring", Settings(sla_s=900.0, auto_apply=False), 5),
                                 ("no sla", Settings(sla_s=None, learning_budget=2), 5)):
        decision = decide(cands, history[:runs], settings, seed=7)
        got[name] = (decision.candidate.config_id, decision.phase, decision.predicted_runtime_s, decision.p_best)
    assert {k: v[:2] for k, v in got.items()} == {k: v[:2] for k, v in GOLDEN.items()}
    for name, (_, _, runtime_s, p_best) in GOLDEN.items():
        assert got[name][2] == pytest.approx(runtime_s, abs=0.001) and got[name][3] == pytest.approx(p_best), name


# decide() at commit 08287ac (before `Candidate.allowed`), on this history and these seeds.
GOLDEN: dict[str, tuple[str, str, float, float]] = {
    "learning": ("8xc.2x", "learning", 744.804, 0.0075),
    "optimizing": ("8xc.2x", "optimizing", 744.872, 0.305),
    "monitoring": ("8xc.2x", "monitoring", 744.872, 0.305),
    "no sla": ("2xc.2x", "optimizing", 3331.313, 0.175),
}
