"""What a review of recommendation reasons found, each test with its finding: the words of a reason match
what its figures are."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.decide import Settings, decide
from models.observation import Observation
from models.outlook import _outlook
from models.percent import p_meet_text
from models.prior import DEFAULT_PRIOR
from models.reasons import _best_reason
from models.setup import NO_SETUP
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


@pytest.mark.parametrize(("p", "text"), [(0.8974, "89.7%"), (0.89996, "89.996%"), (0.905, "90.5%"), (0.93, "93%"),
                                         (0.42, "42%")])
def test_p_meet_is_written_by_one_rule(p: float, text: str) -> None:
    assert p_meet_text(p, 0.9) == text


def test_a_reason_does_not_round_a_p_under_the_target_up_to_it() -> None:
    # The reason said "P=90%" for 0.8974, where `trimtab recommendation show` said 89.7%.
    cands = grid()
    settings = Settings(sla_s=900.0, sla_per_run=True)
    out = _outlook(cands, [JOB.run(cands[i], np.random.default_rng(2)) for i in (5, 9)], settings, DEFAULT_PRIOR,
                   {c.config_id: c for c in cands}, 0, NO_SETUP)
    p = np.full(len(cands), 0.5)
    p[3] = 0.8974
    out = replace(out, p_meet=p, p_run=p)
    assert "this one meets it with P=89.7%" in _best_reason(cands, out, 3, settings, likeliest=3, top=3)
    p[3] = 0.99
    assert "each run meets the 900s SLA with P=99%" in _best_reason(cands, replace(out, p_meet=p), 3, settings)
    p[3] = 0.8974
    assert "each run meets the 900s SLA with P=89.7%" in _best_reason(cands, replace(out, p_meet=p), 3, settings)
