"""The replay of stages that read a cached dataset: memory reads cost no transfer, what does not fit
in the target's storage memory is read from local disk (and what the source read from disk is not
read there on a target where it fits)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.observation import Observation, StageObs
from models.replay import cached_dataset_bytes, replay_runtimes, storage_memory_bytes
from models.space import Candidate


def _node(node_type: str, vcpus: int, gib_per_vcpu: float, nodes: int, gbps: float | None = 10.0) -> Candidate:
    return Candidate(f"{node_type}x{nodes}", node_type, float(vcpus), float(vcpus * gib_per_vcpu), nodes,
                     1.0 * nodes, network_gbps=gbps)


# 128 task slots each, 10 Gbps per node. Storage memory (heap ~ 0.75 RAM - 2 GiB, 30 % of what is
# above 300 MiB): r5d.4xlarge ~28 GiB a node, r5d.8xlarge ~57, c5d.4xlarge ~6.5, m5d.8xlarge ~28.
RICH = _node("r5d.4xlarge", 16, 8, 8)  # ~225 GiB of storage memory: the 120 GB table fits
RICH_BIG = _node("r5d.8xlarge", 32, 8, 4)  # fits too, but half the bandwidth per task
LEAN = _node("c5d.4xlarge", 16, 2, 8)  # ~52 GiB: about half the table is read back from disk
TARGETS = [RICH, RICH_BIG, LEAN]
TABLE = 120e9
RUNTIME = 600.0


def _scan() -> StageObs:
    """Reads the 100 GB Parquet table from storage and caches it (120 GB in memory)."""
    return StageObs(800, 800 * 8.0, 8.0, 8.5, 9.0, input_bytes=100e9, cpu_time_s=800 * 5.0, gc_time_s=800 * 0.1)


def _iteration(task_s: float = 1.1, cached: bool = True) -> StageObs:
    """A gradient pass over the cached table: 800 tasks, 1 s of CPU each; Spark reports the table as input."""
    return StageObs(800, 800 * task_s, task_s, task_s * 1.05, task_s * 1.2, input_bytes=TABLE,
                    cpu_time_s=800 * 1.0, gc_time_s=800 * 0.02, input_from_cache=cached)


def _run(source: Candidate, stages: tuple[StageObs, ...], runtime_s: float = RUNTIME) -> Observation:
    return Observation(source.config_id, runtime_s, True, stages=stages)


def test_sizes() -> None:
    run = _run(RICH, (_scan(), _iteration(), replace(_iteration(), input_bytes=TABLE / 2)))
    assert cached_dataset_bytes(run) == TABLE  # the largest stage that read the cached table
    assert cached_dataset_bytes(_run(RICH, (_scan(),))) == 0.0
    gib = storage_memory_bytes(TARGETS) / 1024**3
    np.testing.assert_allclose(gib, [8 * 93.7 * 0.3, 4 * 189.7 * 0.3, 8 * 21.7 * 0.3], rtol=1e-9)


def test_reading_a_cached_table_in_memory_is_not_a_storage_read() -> None:
    iterations = tuple(_iteration() for _ in range(10))
    pred = replay_runtimes(_run(RICH, (_scan(), *iterations)), RICH, TARGETS)
    assert pred[0] == pytest.approx(RUNTIME)
    # Same slots, half the bandwidth per task: only the scan's storage reads stretch; the
    # iterations read memory on both.
    as_storage = replay_runtimes(_run(RICH, (_scan(), *(replace(s, input_from_cache=False) for s in iterations))),
                                 RICH, TARGETS)
    scan_only = replay_runtimes(_run(RICH, (_scan(),), RUNTIME - 10 * 800 * 1.1 / 128), RICH, TARGETS)
    assert pred[1] - RUNTIME == pytest.approx(scan_only[1] - scan_only[0], rel=1e-6)
    # Taken for storage reads, 10 x 120 GB at half the per-task bandwidth would add minutes.
    assert as_storage[1] - pred[1] > 60.0


def test_where_the_table_does_not_fit_the_rest_is_read_from_disk() -> None:
    iterations = tuple(_iteration() for _ in range(10))
    pred = replay_runtimes(_run(RICH, (_scan(), *iterations)), RICH, TARGETS)
    # LEAN has RICH's slots and bandwidth per task but holds ~56 GB of the 120 GB: each pass reads
    # ~64 GB back from disk at ~0.07 GB/s per task, ~7 s of 128 slots, ~70 s over ten passes.
    share = 1.0 - storage_memory_bytes([LEAN])[0] / TABLE
    per_task = 10.0 / 8 * 0.9 / 16
    expected = 10 * share * TABLE / 1e9 / per_task / 128
    assert 60.0 < expected < 80.0
    # A little more: the longer tasks lengthen each pass's tail, and LEAN's GC time grows.
    assert expected < pred[2] - pred[0] < 1.2 * expected


def test_a_run_that_read_from_disk_is_faster_where_the_table_fits() -> None:
    # Measured on LEAN: each pass read about half the table from disk, which the tasks waited for.
    share = 1.0 - storage_memory_bytes([LEAN])[0] / TABLE
    disk_task_s = share * TABLE / 1e9 / (10.0 / 8 * 0.9 / 16) / 800
    iterations = tuple(_iteration(task_s=1.1 + disk_task_s) for _ in range(10))
    runtime = 700.0
    pred = replay_runtimes(_run(LEAN, (_scan(), *iterations), runtime), LEAN, TARGETS)
    assert pred[2] == pytest.approx(runtime)  # calibrated on its own configuration
    saved = 10 * disk_task_s * 800 / 128
    assert saved < runtime - pred[0] < 1.2 * saved  # and shorter tails, less GC
    # The exposed disk time is capped by the time the tasks were not computing.
    hidden = tuple(replace(s, task_time_total_s=800 * 1.1) for s in iterations)
    pred_hidden = replay_runtimes(_run(LEAN, (_scan(), *hidden), runtime), LEAN, TARGETS)
    assert runtime - pred_hidden[0] < 0.15 * saved


def test_without_bandwidth_or_cpu_time_cached_reads_replay_by_slots_alone() -> None:
    iterations = tuple(_iteration() for _ in range(10))
    stages = (_scan(), *iterations)
    unknown = [replace(c, network_gbps=None) for c in TARGETS]
    flagged = replay_runtimes(_run(RICH, stages), unknown[0], unknown)
    plain = replay_runtimes(_run(RICH, tuple(replace(s, input_from_cache=False) for s in stages)), unknown[0], unknown)
    np.testing.assert_array_equal(flagged, plain)
    no_cpu = tuple(replace(s, cpu_time_s=0.0) for s in stages)
    np.testing.assert_array_equal(
        replay_runtimes(_run(RICH, no_cpu), RICH, TARGETS),
        replay_runtimes(_run(RICH, tuple(replace(s, input_from_cache=False) for s in no_cpu)), RICH, TARGETS))
