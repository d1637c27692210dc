"""Single-run extrapolation: replay a run's stages on another configuration's task slots.

A Spark stage's wall time on S slots is bounded below by both its longest task and its total task
time divided by S; list scheduling (Graham) adds at most one task length to the even share. We use
the even share plus half a large (p90) task as the expected tail, floored by the longest task, so
uniform CPU-bound stages scale ~1/S while skewed stages (long max task) stop improving early.

Memory pressure: the time a stage lost to GC and spilling shrinks when the target has more memory
per slot and grows when it has less. A stage that did not spill on the source has no such time to
scale, yet it spills on a target whose task slots hold less execution memory than its largest task
needed (Spark's ``peakExecutionMemory``, the largest task's: uncapped when nothing spilled). Execution
memory per slot is Spark's unified memory (`_UNIFIED_SHARE` of the heap above the 300 MiB reserved)
of a heap of about `_HEAP_SHARE` of the node's RAM less `_HEAP_OVERHEAD_GIB`, over its vCPUs; it is
scaled so that the source's slots held the need it measured. The share of the task's data that does
not fit is taken to spill, costing the same time per spilled share as a measured spill. The largest
task stands for all of them, so a skewed stage's onset comes early (only its big tasks spill).

Network and disk: a node's network bandwidth is shared by all the tasks running on it at once (one
per vCPU), so a task's transfers take longer on a node with less bandwidth per vCPU, however many
slots the cluster has: one 32-vCPU node with 10 Gbps gives each task a quarter of what four 8-vCPU
nodes with 10 Gbps each give. Over the network a task reads from and writes to cloud storage
(``input_bytes``, ``output_bytes``), each request capped per connection (`_STORAGE_STREAM_GBS`, so
a task with more bandwidth than that reads no faster), and fetches the shuffle blocks of other
nodes. The blocks on its own node it reads from the local disk, and it writes its shuffle files
there (``shuffle_write_time_s``, measured). The catalog has no disk throughput, so a node's disk is
taken to be shared like its network and about as fast: local and remote shuffle reads are charged
alike, and the write time scales with the per-task bandwidth. That is close for EBS-backed nodes
(EBS bandwidth is fixed per node much like the NIC's) and pessimistic for big nodes with NVMe
instance stores, whose disks grow with the node; it keeps the replay from thinking a shuffle on a
single node is free.

The agent measures bytes, not transfer times, so the transfer part of a stage's task time is
estimated: the task time not spent computing or writing shuffle files (task time - CPU time - GC
time - shuffle write time, all measured), but no more than moving the stage's bytes at the
source's per-task rates would take. That part stretches by the ratio of the bytes' transfer times
at the target's and the source's per-task rates (more when the target gives each task less
bandwidth, less when it gives more), and a stage's task time is never below the target's transfer
time alone. A stage without CPU time (no agent metrics), or a configuration whose bandwidth is
unknown (``Candidate.network_gbps`` None), is replayed by slots and memory only, as before.

Cached datasets: a stage that reads the blocks of a dataset an earlier stage cached
(``StageObs.input_from_cache``) reads them from executor memory, which costs no transfer at all,
or, for the share that did not fit in the cluster's storage memory, from the local disk
(``DataFrame.cache()`` is MEMORY_AND_DISK: the blocks that do not fit are written there once and
read back by every later stage). Spark counts both as input bytes, so those bytes are not storage
reads over the network. The cached dataset's size is estimated by the largest such stage's input
(a stage that reads it whole; Spark counts each block at the size it was stored at, so on a source
where much of it was read back from disk, serialized, the in-memory size may be underestimated and
the targets' disk share with it); the storage memory of a cluster is its nodes times the unified
memory's protected storage share (``spark.memory.storageFraction``, which execution cannot evict)
of each executor. The share of the dataset beyond that is read from disk at the per-task disk rate
(taken like the network's, see above) on the source and on each target; the difference is what the
target gains or loses. When the source read from disk, only the part of that time the tasks were
not computing is taken as exposed, and the target's disk time is scaled by the same share; when
everything fit on the source there is nothing measured to scale and the target's disk time counts
whole. A dataset persisted MEMORY_ONLY is recomputed rather than read from disk where it does not
fit; that is not modelled (the agent does not send the storage level), nor is the CPU time of
deserializing blocks read from disk.

Time outside the stages (driver work, scheduling, startup) is treated as fixed. Stages are assumed
sequential; the replay is calibrated so that replaying the run on its own configuration returns the
measured runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.observation import Observation, StageObs
from models.space import Candidate

# Fraction of the spilled stages' task time assumed lost to spilling per spilled byte share; the
# agent measures bytes, not spill time, so this is a deliberately modest guess.
_SPILL_TIME_SHARE = 0.5
# How strongly pressure time reacts to memory per slot (superlinear: spill stops entirely once a
# partition fits).
_PRESSURE_EXPONENT = 1.5
# Executor heap of a worker: Databricks gives Spark most of the node's RAM and keeps some for the OS
# and its services (about three quarters less a couple of GiB on the common node types).
_HEAP_SHARE = 0.75
_HEAP_OVERHEAD_GIB = 2.0
# spark.memory.fraction (default 0.6) of the heap above the 300 MiB Spark reserves.
_UNIFIED_SHARE = 0.6
_RESERVED_GIB = 0.3
_GIB = 1024.0**3
# Share of a node's quoted bandwidth that carries data (TCP/IP and TLS/HTTP framing, many flows).
_NETWORK_EFFICIENCY = 0.9
# What one request to S3/ADLS delivers, GB/s: AWS's S3 performance guidelines size parallelism at
# "one concurrent request for each 85-90 MB/s of desired network throughput".
_STORAGE_STREAM_GBS = 0.09
_GB = 1e9
# spark.memory.storageFraction (default 0.5): the share of unified memory cached blocks keep even
# when execution needs memory (they may borrow more while execution does not, but can lose it).
_STORAGE_SHARE = 0.5


@dataclass(frozen=True)
class NetworkShare:
    """Per-task network throughput (GB/s) of configurations (one entry each)."""

    per_task_gbs: np.ndarray

    @staticmethod
    def of(configs: Sequence[Candidate]) -> NetworkShare | None:
        """The configurations' shares (NaN where the bandwidth is unknown); None if none is known."""
        if not any(c.network_gbps for c in configs):
            return None
        gbps = np.array([float(c.network_gbps) if c.network_gbps else np.nan for c in configs])
        vcpus = np.array([max(c.vcpus, 1.0) for c in configs])
        return NetworkShare(gbps / 8.0 * _NETWORK_EFFICIENCY / vcpus)


def _pressure_time(stage: StageObs) -> float:
    """Seconds of task time lost to GC and spill in this stage (estimate)."""
    moved = max(stage.input_bytes + stage.shuffle_read_bytes, 1.0)
    spill_share = min(0.5, stage.spill_bytes / moved) * _SPILL_TIME_SHARE
    lost = stage.gc_time_s + spill_share * stage.task_time_total_s
    return float(min(lost, 0.9 * stage.task_time_total_s))


def _unified_memory_bytes(configs: Sequence[Candidate]) -> np.ndarray:
    """Bytes of Spark unified memory (execution and storage) of one executor per node (estimate)."""
    heap = np.array([max(1.0, _HEAP_SHARE * c.memory_gib - _HEAP_OVERHEAD_GIB) for c in configs])
    return (heap - _RESERVED_GIB) * _UNIFIED_SHARE * _GIB


def execution_memory_per_slot(configs: Sequence[Candidate]) -> np.ndarray:
    """Bytes of Spark unified (execution) memory one task slot of each configuration can use (estimate)."""
    vcpus = np.array([max(c.vcpus, 1.0) for c in configs])
    return _unified_memory_bytes(configs) / vcpus


def _spill_onset_time(stage: StageObs, source_slot: float, target_slot: np.ndarray | None) -> np.ndarray | float:
    """Task-seconds a stage that did not spill on the source loses to spilling on each target.

    The largest task's peak execution memory is what it needed (nothing spilled, so nothing was
    capped). The slot estimates are scaled so that the source's slot held that need, which keeps
    the replay of the run on its own configuration exact whatever the estimate's error.
    """
    need = stage.peak_memory_bytes
    if target_slot is None or stage.spill_bytes > 0 or need <= 0 or source_slot <= 0:
        return 0.0
    held = target_slot * max(1.0, need / source_slot)
    short = np.clip(1.0 - held / need, 0.0, 0.5)  # share of the task's data that does not fit
    return short * _SPILL_TIME_SHARE * stage.task_time_total_s


def storage_memory_bytes(configs: Sequence[Candidate]) -> np.ndarray:
    """Bytes of cached blocks each configuration's executors keep in memory, all nodes together (estimate)."""
    nodes = np.array([max(c.nodes, 1) for c in configs], dtype=float)
    return nodes * _unified_memory_bytes(configs) * _STORAGE_SHARE


def cached_dataset_bytes(run: Observation) -> float:
    """Size of the run's cached dataset: the input of its largest stage that read it (0 if none did)."""
    return max((s.input_bytes for s in run.stages if s.input_from_cache), default=0.0)


def network_task_seconds(stage: StageObs, share: NetworkShare) -> np.ndarray:
    """Task-seconds the stage's reads and writes take at each configuration's per-task rates.

    Storage traffic is capped per request (`_STORAGE_STREAM_GBS`); shuffle blocks, remote or local,
    move at the node's per-task share (see the module docstring for why local reads count too).
    Input read from a cached dataset is not storage traffic (`_cache_disk_time`).
    """
    storage = ((0.0 if stage.input_from_cache else stage.input_bytes) + stage.output_bytes) / _GB
    rate = np.maximum(share.per_task_gbs, 1e-9)  # NaN (unknown bandwidth) stays NaN
    return storage / np.minimum(rate, _STORAGE_STREAM_GBS) + stage.shuffle_read_bytes / _GB / rate


def _io_stretch(
    stage: StageObs, source: NetworkShare | None, target: NetworkShare | None
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """(task-seconds the stage gains on each target from its I/O, floor of its task-seconds).

    The floor is the target's transfer time alone. Zero gain and no floor when the replay cannot
    tell I/O time from compute time, or does not know the bandwidths.
    """
    if source is None or target is None or stage.cpu_time_s <= 0:
        return 0.0, 0.0
    at_source = float(network_task_seconds(stage, source)[0])
    if not np.isfinite(at_source):  # the source's bandwidth is unknown
        return 0.0, 0.0
    # A target of unknown bandwidth is replayed as before (ratio 1, no floor).
    known = np.isfinite(target.per_task_gbs)
    node_ratio = np.where(known, source.per_task_gbs[0] / target.per_task_gbs, 1.0)
    # Shuffle files are written to the local disk, measured directly; its time scales like the rest.
    gain = stage.shuffle_write_time_s * (node_ratio - 1.0)
    if at_source <= 0:
        return gain, 0.0
    ratio = np.where(known, network_task_seconds(stage, target) / at_source, 1.0)
    compute = stage.cpu_time_s + stage.gc_time_s
    not_computing = max(stage.task_time_total_s - compute - stage.shuffle_write_time_s, 0.0)
    # Transfers longer than the tasks themselves mean the modelled rates are too low for this job:
    # the measured task time wins (so the floor stays at or below it on the source).
    moved = min(at_source, stage.task_time_total_s)
    exposed = min(not_computing, moved)
    return gain + exposed * (ratio - 1.0), np.where(known, moved * ratio, 0.0)


@dataclass(frozen=True)
class CacheFit:
    """The run's cached dataset (bytes) and the storage memory of the source (one entry) and the targets."""

    dataset_bytes: float
    source_bytes: np.ndarray
    target_bytes: np.ndarray


def _cache_disk_time(
    stage: StageObs, cache: CacheFit | None, source: NetworkShare | None, target: NetworkShare | None
) -> np.ndarray | float:
    """Task-seconds a stage that read a cached dataset gains on each target from reading less or more
    of it from local disk (see the module docstring). Zero without the bandwidths or the sizes."""
    if (cache is None or not stage.input_from_cache or cache.dataset_bytes <= 0 or stage.input_bytes <= 0
            or source is None or target is None or stage.cpu_time_s <= 0):
        return 0.0
    src_rate = float(source.per_task_gbs[0])
    if not np.isfinite(src_rate) or src_rate <= 0:
        return 0.0
    known = np.isfinite(target.per_task_gbs)
    tgt_rate = np.where(known, np.maximum(target.per_task_gbs, 1e-9), src_rate)

    def on_disk(storage: np.ndarray) -> np.ndarray:  # share of the stage's cached input read from disk
        return np.clip(1.0 - storage / cache.dataset_bytes, 0.0, 1.0)

    at_source = float(on_disk(cache.source_bytes)[0]) * stage.input_bytes / _GB / src_rate
    at_target = np.where(known, on_disk(cache.target_bytes) * stage.input_bytes / _GB / tgt_rate, at_source)
    if at_source <= 0:
        return at_target
    compute = stage.cpu_time_s + stage.gc_time_s
    not_computing = max(stage.task_time_total_s - compute - stage.shuffle_write_time_s, 0.0)
    exposed = min(at_source, not_computing) / at_source
    return exposed * (at_target - at_source)


def stage_wall_time(
    stage: StageObs,
    slots: np.ndarray,
    memory_ratio: np.ndarray | float = 1.0,
    source_network: NetworkShare | None = None,
    target_network: NetworkShare | None = None,
    source_slot_memory: float = 0.0,
    target_slot_memory: np.ndarray | None = None,
    cache: CacheFit | None = None,
) -> np.ndarray:
    """Expected wall time of ``stage`` on each slot count in ``slots``.

    ``memory_ratio`` = target memory per slot / source memory per slot (one per slot entry or scalar).
    ``source_network`` (one entry) and ``target_network`` (one per slot entry) share each node's
    bandwidth among its tasks; without both, network time scales with slots like everything else.
    ``source_slot_memory`` (bytes) and ``target_slot_memory`` (one per slot entry) let a stage that
    did not spill on the source spill where its largest task no longer fits; without them it cannot.
    ``cache`` (with both networks) lets a stage that read a cached dataset read more or less of it
    from local disk where the target's storage memory holds less or more of it.
    """
    slots = np.maximum(np.asarray(slots, dtype=float), 1.0)
    ratio = np.maximum(np.asarray(memory_ratio, dtype=float), 1e-3)
    lost = _pressure_time(stage)
    scale = np.minimum(ratio ** (-_PRESSURE_EXPONENT), 4.0)
    total = stage.task_time_total_s - lost + lost * scale
    total = total + _spill_onset_time(stage, source_slot_memory, target_slot_memory)
    gain, floor = _io_stretch(stage, source_network, target_network)
    gain = gain + _cache_disk_time(stage, cache, source_network, target_network)
    total = np.maximum(total + gain, floor)
    # Task lengths stretch with the same factor as the stage's total task time.
    stretch = total / max(stage.task_time_total_s, 1e-9)
    t_max = stage.task_max_s * stretch
    t_p90 = stage.task_p90_s * stretch
    tasks = max(stage.num_tasks, 1.0)
    tail = np.where(tasks > slots, 0.5 * t_p90 * (1.0 - 1.0 / slots), 0.0)
    return np.maximum(t_max, total / np.minimum(slots, tasks) + tail)


def replay_runtimes(run: Observation, source: Candidate, targets: Sequence[Candidate]) -> np.ndarray:
    """Predicted runtime (s) of ``run``'s stages on each target configuration.

    Raises ValueError if the run has no stages.
    """
    if not run.stages:
        raise ValueError("run has no stage metrics to replay")
    slots = np.array([t.cores for t in targets], dtype=float)
    mem_ratio = np.array([t.memory_per_core_gib / source.memory_per_core_gib for t in targets])
    own_slots = np.array([source.cores])
    source_net = NetworkShare.of([source])
    target_net = NetworkShare.of(targets) if source_net is not None else None
    source_slot = float(execution_memory_per_slot([source])[0])
    target_slot = execution_memory_per_slot(targets)
    cached = cached_dataset_bytes(run)
    cache = (CacheFit(cached, storage_memory_bytes([source]), storage_memory_bytes(targets))
             if cached > 0 else None)
    staged_target = np.zeros(len(targets))
    staged_source = 0.0
    for stage in run.stages:
        staged_target += stage_wall_time(stage, slots, mem_ratio, source_net, target_net, source_slot, target_slot,
                                         cache)
        staged_source += float(stage_wall_time(stage, own_slots)[0])
    fixed = max(run.runtime_s - staged_source, 0.0)
    # Calibrate: if stages overlapped (sum of stage times > runtime), shrink the staged part.
    calib = min(1.0, run.runtime_s / max(staged_source, 1e-9)) if staged_source > 0 else 1.0
    return fixed + calib * staged_target


def replay_log_shape(
    runs: Sequence[tuple[Observation, Candidate]], targets: Sequence[Candidate]
) -> np.ndarray | None:
    """Average log runtime shape over runs with stages, each relative to its own source runtime.

    Returns log(predicted runtime / the source run's runtime) averaged over the runs, which the
    runtime model uses as an offset (its intercept absorbs the level). None when no run has stages.
    """
    shapes = []
    for run, source in runs:
        if run.stages and run.runtime_s > 0:
            shapes.append(np.log(replay_runtimes(run, source, targets) / run.runtime_s))
    if not shapes:
        return None
    return np.mean(shapes, axis=0)
