"""What a review of recommendation reasons found, each test with its finding: the words of a reason match
what its figures are."""

from __future__ import annotations

import numpy as np

from models.decide import Settings, decide
from models.observation import Observation
from models.space import Candidate
from tests.models.models_synth import Job, grid

JOB = Job()


def _with_setup(cands: list[Candidate], setup_s: float = 300.0) -> list[Observation]:
    rng = np.random.default_rng(1)
    return [Observation(o.config_id, o.runtime_s + setup_s, True, setup_s=setup_s)
            for o in (JOB.run(cands[i], rng) for i in (5, 9, 14, 20))]


def test_a_not_learned_runs_note_names_its_execution_not_its_runtime() -> None:
    # `run show` prints "runtime 10m17s (cluster setup 5m02s)"; the note said "runtime 315s".
    cands = grid()
    history = _with_setup(cands)
    lost = Observation(cands[9].config_id, 617.0, True, setup_s=302.0, anomalies=("spot_loss",))
    d = decide(cands, [*history, lost], Settings(sla_s=900.0))
    assert d.explained[f"{len(history)}:{lost.config_id}"] == "spot_loss: execution 315s is not this configuration's normal"
