"""Anomalous runs are explained, not learned; single-run extrapolation by replaying stages."""

from __future__ import annotations

import numpy as np

from models.decide import Settings, decide
from models.observation import OUT_OF_MEMORY, Observation, StageObs
from models.replay import replay_runtimes, stage_wall_time
from models.space import Candidate
from tests.models.models_synth import Job, grid


def test_spot_loss_and_failures_are_explained_and_not_learned() -> None:
    job = Job()
    cands = grid()
    rng = np.random.default_rng(20)
    clean = [job.run(cands[i], rng) for i in (1, 9, 13, 13, 21)]
    settings = Settings(sla_s=2.0 * job.mean_runtime(cands[13]))
    base = decide(cands, clean, settings)
    lost = Observation(cands[13].config_id, 5.0 * job.mean_runtime(cands[13]), True, anomalies=("spot_loss",))
    failed = Observation(cands[2].config_id, 30.0, False)
    d = decide(cands, [*clean, lost, failed], settings)
    assert d.explained["5:" + cands[13].config_id].startswith("spot_loss")
    assert "failed run" in d.explained["6:" + cands[2].config_id]
    # The 5x slower spot-loss run did not move the prediction, and the failed config is avoided.
    assert abs(np.log(d.predicted_runtime_s / base.predicted_runtime_s)) < 0.02
    assert d.candidate.config_id != cands[2].config_id
    assert d.best.config_id != cands[2].config_id
    assert not d.rebased


def test_an_out_of_memory_failure_avoids_every_configuration_with_no_more_memory_per_core() -> None:
    job = Job()
    cands = grid()
    rng = np.random.default_rng(21)
    clean = [job.run(cands[i], rng) for i in (1, 9, 13)]
    oom = Observation(cands[4].config_id, 30.0, False, anomalies=("failure", OUT_OF_MEMORY))
    floor = cands[4].memory_per_core_gib
    assert any(c.memory_per_core_gib <= floor for c in cands if c is not cands[4])
    settings = Settings(sla_s=3.0 * job.mean_runtime(cands[13]))
    for n in range(4):  # whatever the phase, no proposal has as little memory per core
        d = decide(cands, [*clean, oom, *[job.run(cands[13], rng) for _ in range(n)]], settings, seed=n)
        assert d.candidate.memory_per_core_gib > floor and d.best is not None
        assert d.best.memory_per_core_gib > floor
    assert "out of memory" in d.explained["3:" + cands[4].config_id]
    # A plain failure avoids only its own configuration.
    plain = Observation(cands[4].config_id, 30.0, False)
    low = [c for c in cands if c.memory_per_core_gib <= floor and c is not cands[4]]
    cheap_sla = Settings(sla_s=10.0 * job.mean_runtime(cands[13]))
    picks = {decide(low + [cands[4]], [job.run(low[0], rng), plain], cheap_sla, seed=k).candidate.config_id
             for k in range(3)}
    assert cands[4].config_id not in picks and picks
    # When every configuration is that short of memory, the avoidance is dropped, not the decision.
    only_low = decide(low, [job.run(low[0], rng), Observation(low[1].config_id, 30.0, False,
                                                               anomalies=("failure", OUT_OF_MEMORY))], cheap_sla)
    assert only_low.candidate in low


def test_before_any_successful_run_a_failed_configuration_is_not_proposed_again() -> None:
    cands = grid()
    settings = Settings(sla_s=600.0)
    first = decide(cands, [], settings).candidate
    second = decide(cands, [Observation(first.config_id, 50.0, False, anomalies=("failure",))], settings).candidate
    assert second.config_id != first.config_id
    # Out of memory: the next try has more memory per core than any that ran out.
    history = [Observation(first.config_id, 50.0, False, anomalies=("failure", OUT_OF_MEMORY))]
    for _ in range(3):
        d = decide(cands, history, settings)
        assert d.phase == "learning" and "no usable run yet" in d.reason
        assert d.candidate.memory_per_core_gib > max(cands_by(cands, o.config_id).memory_per_core_gib
                                                     for o in history)
        history.append(Observation(d.candidate.config_id, 50.0, False, anomalies=("failure", OUT_OF_MEMORY)))
        if d.candidate.memory_per_core_gib == max(c.memory_per_core_gib for c in cands):
            break


def cands_by(cands: list[Candidate], config_id: str) -> Candidate:
    return next(c for c in cands if c.config_id == config_id)


def test_runs_outside_the_decision_space_are_explained() -> None:
    cands = grid()
    runs = [Observation("99xhuge", 100.0, True), Observation(cands[3].config_id, 200.0, True)]
    d = decide(cands, runs, Settings(sla_s=500.0))
    assert "outside the decision space" in d.explained["0:99xhuge"]


def _cpu_stage(tasks: int = 400, task_s: float = 10.0) -> StageObs:
    return StageObs(tasks, tasks * task_s, task_s, task_s * 1.1, task_s * 1.2, cpu_time_s=tasks * task_s)


def test_replay_cpu_bound_stage_scales_with_slots() -> None:
    stage = _cpu_stage()
    wall = stage_wall_time(stage, np.array([16.0, 32.0, 64.0]))
    assert wall[0] > wall[1] > wall[2]
    assert 1.7 < wall[0] / wall[1] < 2.1  # close to linear while tasks >> slots


def test_replay_skewed_stage_has_diminishing_returns() -> None:
    skewed = StageObs(400, 400 * 10.0 + 300.0, 9.0, 12.0, 300.0)
    wall = stage_wall_time(skewed, np.array([4.0, 8.0, 64.0, 128.0]))
    assert wall[0] > wall[1] >= wall[2] >= wall[3]
    assert wall[2] / wall[3] < 1.1  # the 300 s straggler dominates: doubling slots barely helps
    assert wall[3] >= 300.0


def test_replay_memory_pressure_shrinks_with_more_memory_per_slot() -> None:
    spilling = StageObs(200, 2000.0, 10.0, 11.0, 12.0, input_bytes=1e10, spill_bytes=8e9, gc_time_s=300.0)
    tight, roomy = stage_wall_time(spilling, np.array([32.0, 32.0]), np.array([1.0, 4.0]))
    assert roomy < 0.85 * tight


def test_replay_reproduces_the_source_run_and_recommends_after_one_run() -> None:
    cands = grid()
    source = cands[5]
    stages = tuple(_cpu_stage(tasks=800, task_s=6.0) for _ in range(3))
    run = Observation(source.config_id, 600.0, True, stages=stages, recommendation_applied=False)
    pred = replay_runtimes(run, source, cands)
    assert abs(pred[5] - 600.0) < 1e-6
    bigger = max(cands, key=lambda c: c.cores)
    smaller = min(cands, key=lambda c: c.cores)
    assert pred[cands.index(bigger)] < 600.0 < pred[cands.index(smaller)]
    d = decide(cands, [run], Settings(sla_s=400.0))
    # One run is enough for a model-based recommendation with finite intervals.
    assert np.isfinite(d.predicted_runtime_s) and d.phase == "learning"
    assert d.best.cores > source.cores  # 600 s on the source misses the 400 s SLA
    assert d.predicted_runtime_s < 600.0
