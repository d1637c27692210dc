"""Anomalous runs are explained, not learned; single-run extrapolation by replaying stages."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

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


# ------------------------------------------------------------------ network bandwidth per task


def _node(node_type: str, vcpus: int, gib_per_vcpu: float, nodes: int, gbps: float | None) -> Candidate:
    return Candidate(f"{node_type}x{nodes}", node_type, float(vcpus), float(vcpus * gib_per_vcpu), nodes,
                     1.0 * nodes, network_gbps=gbps)


# The source's 64 vCPUs, three clusters of 32 vCPUs, and the source's shape with a 100 Gbps NIC;
# 10 Gbps per node like m5d/r5d/c5d.
SOURCE = _node("m5d.2xlarge", 8, 4, 8, 10.0)
ONE_BIG = _node("m5d.8xlarge", 32, 4, 1, 10.0)
FOUR_SMALL = _node("m5d.2xlarge", 8, 4, 4, 10.0)
EIGHT_TINY = _node("m5d.xlarge", 4, 4, 8, 10.0)
FAST_NIC = _node("m5d.2xlarge-fast", 8, 4, 8, 100.0)
NETWORK_TARGETS = [SOURCE, ONE_BIG, FOUR_SMALL, EIGHT_TINY, FAST_NIC]


def _io_stage(task_s: float = 12.0, tasks: int = 800) -> StageObs:
    """A scan-and-copy stage: each task reads 1 GB from storage and writes 0.35 GB, with 2.5 s of CPU."""
    return StageObs(tasks, tasks * task_s, task_s, task_s * 1.1, task_s * 1.3, input_bytes=tasks * 1e9,
                    output_bytes=tasks * 0.35e9, cpu_time_s=tasks * 2.5, gc_time_s=tasks * 0.05)


def _shuffle_stage(tasks: int = 400) -> StageObs:
    """A reduce stage: each task fetches 1 GB of shuffle blocks, computes 2 s, writes shuffle files 1 s."""
    return StageObs(tasks, tasks * 10.0, 10.0, 11.0, 12.0, shuffle_read_bytes=tasks * 1e9, cpu_time_s=tasks * 2.0,
                    shuffle_write_time_s=tasks * 1.0)


def _replay(stages: tuple[StageObs, ...], source: Candidate, targets: list[Candidate],
            runtime_s: float) -> np.ndarray:
    return replay_runtimes(Observation(source.config_id, runtime_s, True, stages=stages), source, targets)


def _without_network(cands: list[Candidate]) -> list[Candidate]:
    return [replace(c, network_gbps=None) for c in cands]


def _old_replay(stages: tuple[StageObs, ...], source: Candidate, targets: list[Candidate],
                runtime_s: float) -> np.ndarray:
    return _replay(stages, replace(source, network_gbps=None), _without_network(targets), runtime_s)


def test_io_heavy_stage_is_slower_on_one_big_node_than_on_small_nodes_of_equal_cores() -> None:
    # 800 tasks of 12 s on 64 slots: ~150 s of stage, 150 s of start-up and driver work.
    stages = (_io_stage(),)
    own, one_big, four_small, eight_tiny, _ = _replay(stages, SOURCE, NETWORK_TARGETS, 300.0)
    assert own == pytest.approx(300.0)  # calibrated: the source replays to its measured runtime
    # 32 tasks share one 10 Gbps NIC on the big node, 8 share each NIC of four nodes: the big
    # node's transfers take ~3-4x as long per task, so its stage takes ~3x as long.
    assert one_big - 150.0 > 2.5 * (four_small - 150.0)
    # 4 vCPUs per 10 Gbps: the tasks are capped by the storage stream, as on the source, so only
    # the halved slot count counts.
    assert eight_tiny == pytest.approx(four_small, rel=0.01)
    # Slots alone (the replay without bandwidth) cannot tell the three 32-vCPU clusters apart.
    old = _old_replay(stages, SOURCE, NETWORK_TARGETS, 300.0)
    assert old[1] == pytest.approx(old[2], rel=0.01) and old[2] == pytest.approx(old[3], rel=0.01)
    assert four_small == pytest.approx(old[2], rel=0.01)
    assert one_big > 1.8 * old[1]


def test_io_heavy_stage_shrinks_when_the_target_gives_each_task_more_bandwidth() -> None:
    # Measured on the big node, where 32 tasks shared 10 Gbps: tasks took 40 s, 2.5 s of it CPU.
    stages = (_io_stage(task_s=40.0),)
    pred = _replay(stages, ONE_BIG, NETWORK_TARGETS, 1100.0)
    old = _old_replay(stages, ONE_BIG, NETWORK_TARGETS, 1100.0)
    assert pred[1] == pytest.approx(1100.0)
    assert old[2] == pytest.approx(1100.0, rel=0.01)  # same slots: the old replay sees no change
    assert pred[2] < 0.6 * old[2]  # four small nodes: a quarter of the tasks per NIC
    assert pred[0] < 0.6 * old[0]


def test_more_nic_than_the_storage_stream_takes_buys_nothing() -> None:
    pred = _replay((_io_stage(),), SOURCE, [SOURCE, FAST_NIC], 300.0)
    assert pred[1] == pytest.approx(pred[0])


def test_shuffle_reads_and_writes_share_the_node_like_the_network() -> None:
    one_small = _node("m5d.2xlarge", 8, 4, 1, 10.0)
    targets = [SOURCE, FOUR_SMALL, one_small, ONE_BIG, EIGHT_TINY]
    pred = _replay((_shuffle_stage(),), SOURCE, targets, 100.0)
    old = _old_replay((_shuffle_stage(),), SOURCE, targets, 100.0)
    # Same vCPUs per 10 Gbps as the source: the reads, local on one node, cost as much per task.
    np.testing.assert_allclose(pred[:3], old[:3])
    # A single big node reads and writes its shuffle through one node's worth of bandwidth.
    assert pred[3] > 2.0 * old[3]
    assert pred[3] < pred[2]  # still 4x the slots of one small node
    # Twice the bandwidth per task on 4-vCPU nodes: faster than slots alone say.
    assert pred[4] < 0.8 * old[4]


def test_cpu_only_stage_and_unknown_bandwidth_replay_as_before() -> None:
    cpu = (_cpu_stage(tasks=800, task_s=6.0),)
    np.testing.assert_array_equal(_replay(cpu, SOURCE, NETWORK_TARGETS, 300.0),
                                  _old_replay(cpu, SOURCE, NETWORK_TARGETS, 300.0))
    # An I/O stage with the source's or a target's bandwidth unknown is replayed by slots alone.
    io = (_io_stage(),)
    old = _old_replay(io, SOURCE, NETWORK_TARGETS, 300.0)
    np.testing.assert_array_equal(_replay(io, replace(SOURCE, network_gbps=None), NETWORK_TARGETS, 300.0), old)
    mixed = [ONE_BIG, replace(ONE_BIG, network_gbps=None)]
    assert _replay(io, SOURCE, mixed, 300.0)[1] == pytest.approx(old[1])
    assert _replay(io, SOURCE, mixed, 300.0)[0] > 1.8 * old[1]
    # Without CPU time (no agent metrics) compute cannot be told from transfers: slots alone.
    no_cpu = (replace(_io_stage(), cpu_time_s=0.0),)
    np.testing.assert_array_equal(_replay(no_cpu, SOURCE, NETWORK_TARGETS, 300.0),
                                  _old_replay(no_cpu, SOURCE, NETWORK_TARGETS, 300.0))


def test_without_bandwidth_the_replay_is_unchanged() -> None:
    """Golden values of the replay before it knew about network bandwidth (commit aa1f66e)."""
    cands = [_node("m.2xl", 8, 4, 8, None), _node("r.8xl", 32, 8, 1, None), _node("m.8xl", 32, 4, 2, None),
             _node("m.xl", 4, 4, 16, None), _node("c.9xl", 36, 2, 1, None), _node("r.xl", 4, 8, 4, None)]
    stages = (StageObs(800, 800 * 12.0, 11.0, 14.0, 20.0, input_bytes=800 * 1.2e9, cpu_time_s=800 * 2.5,
                       gc_time_s=40.0),
              StageObs(200, 200 * 8.0, 7.5, 9.0, 30.0, shuffle_read_bytes=200 * 0.3e9, shuffle_write_bytes=1e10,
                       spill_bytes=2e10, gc_time_s=120.0, cpu_time_s=200 * 5.0),
              StageObs(50, 50 * 3.0, 3.0, 3.2, 3.5, cpu_time_s=50 * 3.0))
    pred = _replay(stages, cands[0], cands, 1500.0)
    np.testing.assert_allclose(pred, [1500.0, 1667.668905, 1500.0, 1500.0, 1661.27854, 2013.3503], rtol=1e-9)


def test_after_one_io_heavy_run_the_big_node_is_not_recommended() -> None:
    cands = [SOURCE, ONE_BIG, FOUR_SMALL, EIGHT_TINY]
    run = Observation(SOURCE.config_id, 300.0, True, stages=(_io_stage(),), recommendation_applied=False)
    pred = dict(zip([c.config_id for c in cands], replay_runtimes(run, SOURCE, cands), strict=True))
    sla = 600.0
    assert pred[ONE_BIG.config_id] > sla > max(pred[c.config_id] for c in cands if c is not ONE_BIG)
    d = decide(cands, [run], Settings(sla_s=sla))
    assert np.isfinite(d.predicted_runtime_s)
    assert d.best is not None and d.best.config_id != ONE_BIG.config_id


# ------------------------------------------------------------------ spill onset


def test_a_stage_that_did_not_spill_spills_where_its_largest_task_no_longer_fits() -> None:
    # A sort's reduce stage on 4 GiB per vCPU: 400 tasks, no spill, no GC to speak of; the largest
    # task's peak execution memory was 0.9 GiB, which the source's ~1.6 GiB slots held.
    stage = StageObs(400, 400 * 15.0, 14.0, 17.0, 22.0, shuffle_read_bytes=400 * 0.6e9, cpu_time_s=400 * 7.0,
                     gc_time_s=400 * 0.3, peak_memory_bytes=0.9 * 1024**3)
    source = _node("m5d.2xlarge", 8, 4, 8, None)
    same_slots_less_memory = _node("c5d.xlarge", 4, 2, 16, None)  # ~0.55 GiB per slot: the task spills
    same_slots_more_memory = _node("r5d.xlarge", 4, 8, 16, None)
    pred = _replay((stage,), source, [source, same_slots_less_memory, same_slots_more_memory], 400.0)
    assert pred[0] == pytest.approx(400.0)
    # Without the onset the c5d target differs only by its GC time (2 % of the task time) scaled by
    # the memory ratio; spilling about 40 % of each task's data costs it ~20 % more task time, i.e.
    # ~19 s of a stage that takes ~94 s on 64 slots.
    no_peak = _replay((replace(stage, peak_memory_bytes=0.0),), source, [source, same_slots_less_memory], 400.0)
    assert pred[1] - no_peak[1] > 0.15 * 400 * 15.0 / 64
    # More memory per slot than the task needed: nothing to spill, nothing added.
    assert pred[2] <= pred[0]
    # A stage that already spilled on the source is scaled by its measured spill, not by the onset.
    spilled = replace(stage, spill_bytes=1e10)
    np.testing.assert_allclose(_replay((spilled,), source, [source, same_slots_less_memory], 400.0),
                               _replay((replace(spilled, peak_memory_bytes=0.0),), source,
                                       [source, same_slots_less_memory], 400.0))


def test_running_out_of_memory_is_the_configurations_fault_even_when_spot_nodes_were_lost() -> None:
    """A failed run labelled both spot_loss and out_of_memory was explained away as a spot loss: its
    configuration, and every one with no more memory per core, stayed in the running."""
    job = Job()
    cands = grid()
    rng = np.random.default_rng(5)
    clean = [job.run(cands[i], rng) for i in (1, 9, 13)]
    both = Observation(cands[4].config_id, 30.0, False, anomalies=("spot_loss", "failure", OUT_OF_MEMORY))
    floor = cands[4].memory_per_core_gib
    settings = Settings(sla_s=3.0 * job.mean_runtime(cands[13]))
    for n in range(3):
        d = decide(cands, [*clean, both, *[job.run(cands[13], rng) for _ in range(n)]], settings, seed=n)
        assert d.candidate.memory_per_core_gib > floor
        assert d.best is not None and d.best.memory_per_core_gib > floor
    # A spot loss alone stays explained: its configuration is not avoided for it.
    lost = Observation(cands[4].config_id, 30.0, False, anomalies=("spot_loss", "failure"))
    from models.changes import screen
    known = {c.config_id: c for c in cands}
    assert cands[4].config_id not in screen([*clean, lost], known, 0.05, 1.0).failed_configs
    assert cands[4].config_id in screen([*clean, both], known, 0.05, 1.0).failed_configs
