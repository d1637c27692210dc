"""A run the cloud or the service failed ("launch_failed") is explained, not learned, and its
configuration is not avoided; a plain failure's still is."""

from __future__ import annotations

import numpy as np

from models.changes import screen
from models.decide import Settings, decide
from models.observation import LAUNCH_FAILED, NOT_LEARNED, Observation
from tests.models.models_synth import Job, grid


def test_a_launch_failed_run_does_not_avoid_its_configuration_and_a_plain_failure_does() -> None:
    assert LAUNCH_FAILED in NOT_LEARNED
    cands = grid()
    known = {c.config_id: c for c in cands}
    target = cands[13].config_id
    launch = Observation(target, 0.0, False, anomalies=("failure", LAUNCH_FAILED))
    plain = Observation(target, 30.0, False, anomalies=("failure",))

    explained = screen([launch], known, 0.1, 1.0)
    assert explained.failed_configs == frozenset() and explained.learn == ()
    why = explained.explained["0:" + target]
    assert "not the configuration's fault" in why and "not avoided" in why
    assert screen([plain], known, 0.1, 1.0).failed_configs == {target}
    # With both in one segment the plain failure still counts against it.
    assert screen([launch, plain], known, 0.1, 1.0).failed_configs == {target}


def test_after_a_launch_failure_the_plan_may_propose_the_configuration_again() -> None:
    cands = grid()
    settings = Settings(sla_s=600.0)
    first = decide(cands, [], settings).candidate
    # The cloud had no capacity for the first proposal: nothing learned, nothing held against it.
    again = decide(cands, [Observation(first.config_id, 0.0, False, anomalies=("failure", LAUNCH_FAILED))],
                   settings)
    assert again.candidate.config_id == first.config_id
    assert "not the configuration's fault" in again.explained["0:" + first.config_id]
    # Its own failure is held against it: the next proposal moves away.
    moved = decide(cands, [Observation(first.config_id, 50.0, False, anomalies=("failure",))], settings)
    assert moved.candidate.config_id != first.config_id


def test_launch_failed_runs_do_not_move_the_prediction() -> None:
    job = Job()
    cands = grid()
    rng = np.random.default_rng(22)
    clean = [job.run(cands[i], rng) for i in (1, 9, 13, 13, 21)]
    settings = Settings(sla_s=2.0 * job.mean_runtime(cands[13]))
    base = decide(cands, clean, settings)
    launch = Observation(cands[13].config_id, 12.0, False, anomalies=("failure", LAUNCH_FAILED))
    d = decide(cands, [*clean, launch, launch], settings)
    assert abs(np.log(d.predicted_runtime_s / base.predicted_runtime_s)) < 1e-9
    assert d.best is not None and base.best is not None and d.best.config_id == base.best.config_id
