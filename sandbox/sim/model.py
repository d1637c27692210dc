"""The cost of one Spark task on one node type: the performance model's core (pure functions).

A task processes some bytes: read from storage, read from shuffle (remote share over the node
network, the rest from local disk), and/or read from the executor's cache. It burns CPU in
proportion to the bytes (scaled by the node's per-vCPU speed), writes shuffle to local disk and
output to storage, and needs execution memory in proportion to its bytes. When that need exceeds
the executor's execution memory per slot, it spills (serialize, write, read back) and spends more
time in GC. CPU and I/O overlap partly. All concurrent tasks on a node share its network and
disk bandwidth equally.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sandbox.nodes import NodeType

GB = 1e9
GIB = 1024.0**3
RECORD_BYTES = 100  # bytes per row, for record counts in task metrics
STORAGE_READ_STREAM_GBPS = 0.12  # GB/s one task can pull from S3/ADLS
STORAGE_WRITE_STREAM_GBPS = 0.08  # GB/s one task can push to S3/ADLS
NETWORK_EFFICIENCY = 0.8  # usable share of the quoted NIC bandwidth
IO_CPU_OVERLAP = 0.7  # share of the shorter of CPU and I/O time hidden under the longer
CACHE_FOOTPRINT = 1.2  # bytes a cached dataset takes in executor memory per byte of its input


def executor_heap_gib(node: NodeType) -> float:
    """spark.executor.memory Databricks gives a worker: most of RAM minus OS/daemons/overhead."""
    return max(1.0, node.memory_gib * 0.75 - 2.0)


def execution_memory_per_slot(node: NodeType) -> float:
    """Bytes of unified (execution + storage) memory one task slot can use."""
    unified_gib = (executor_heap_gib(node) - 0.3) * 0.6  # spark.memory.fraction, 300 MiB reserved
    return unified_gib * GIB / node.vcpus


def storage_memory_bytes(node: NodeType) -> float:
    """Bytes an executor can keep cached (spark.memory.storageFraction of unified memory)."""
    return (executor_heap_gib(node) - 0.3) * 0.6 * 0.5 * GIB


def outside_heap_per_slot(node: NodeType) -> float:
    """Bytes of the node's memory outside the executor heap (1 GiB kept for the OS and Databricks'
    daemons) that one task slot's Python worker can use before the OS kills the executor."""
    return max(0.0, node.memory_gib - executor_heap_gib(node) - 1.0) * GIB / node.vcpus


def disk_gbps(node: NodeType) -> float:
    """Local disk throughput of a node for shuffle and spill (NVMe, else network block storage)."""
    if node.local_disk_gb > 0:
        return min(3.0, 0.4 + node.local_disk_gb / 1000.0 * 0.7)
    return 0.25 if node.cloud == "aws" else 0.2


@dataclass(frozen=True)
class TaskWork:
    """What one task has to do, independent of where it runs."""

    input_bytes: float  # read from storage
    shuffle_read_bytes: float
    cached_bytes: float  # read from the executor's block cache
    cpu_s_per_gb: float
    shuffle_write_ratio: float
    output_ratio: float
    mem_ratio: float
    input_local: bool = False  # read from local disk (HDFS) rather than over the network
    stage_shuffle_bytes: float = 0.0  # shuffle bytes the whole stage writes and reads (page-cache pressure)
    oom_pressure: float | None = 8.0  # need/available memory beyond which the task dies of OutOfMemoryError
    # Bytes the task's Python worker (a pandas UDF's) holds per processed byte: outside the JVM heap,
    # so no spill or OutOfMemoryError bounds it (`outside_heap_per_slot`).
    python_mem_ratio: float = 0.0

    @property
    def processed_bytes(self) -> float:
        return self.input_bytes + self.shuffle_read_bytes + self.cached_bytes


@dataclass(frozen=True)
class TaskCost:
    """Durations (ms, CPU in ns as Spark reports it) and byte counts of one task attempt."""

    deserialize_ms: int
    run_ms: int
    result_serialize_ms: int
    cpu_ns: int
    deserialize_cpu_ns: int
    gc_ms: int
    input_bytes: int
    shuffle_remote_bytes: int
    shuffle_local_bytes: int
    fetch_wait_ms: int
    shuffle_write_bytes: int
    shuffle_write_ns: int
    output_bytes: int
    memory_spilled: int
    disk_spilled: int
    peak_execution_memory: int
    result_size: int
    oom: bool = False  # the attempt dies with java.lang.OutOfMemoryError partway through
    # Its Python worker outgrew the node's memory outside the heap: the OS kills the whole executor
    # (exit code 137), every attempt on it fails with ExecutorLostFailure.
    killed: bool = False
    cache_read_bytes: int = 0  # in-memory size of the cached blocks it read (no I/O time)

    @property
    def reported_input_bytes(self) -> int:
        """What Spark reports as the task's input (``inputMetrics.bytesRead``): it counts the cached
        blocks it read as input (``RDD.getOrCompute``), at their size where they were stored: in memory,
        their in-memory size; on disk (``input_bytes`` here), the bytes read back."""
        return self.input_bytes + self.cache_read_bytes

    @property
    def duration_ms(self) -> int:
        return self.deserialize_ms + self.run_ms + self.result_serialize_ms


def task_cost(work: TaskWork, node: NodeType, *, concurrency: int, workers: int, noise: float = 1.0) -> TaskCost:
    """Cost of ``work`` on ``node`` with ``concurrency`` tasks sharing it, in a ``workers``-node cluster.

    ``noise`` multiplies every duration (run-to-run and task-to-task variation).
    """
    concurrency = max(1, concurrency)
    net_share = node.network_gbps / 8.0 * NETWORK_EFFICIENCY / concurrency  # GB/s
    disk_share = disk_gbps(node) / concurrency
    processed_gb = work.processed_bytes / GB

    cpu_s = work.cpu_s_per_gb * processed_gb / node.core_speed
    # Memory: a task that needs more execution memory than its slot has spills, maybe repeatedly.
    need = work.mem_ratio * work.processed_bytes
    avail = execution_memory_per_slot(node)
    pressure = need / avail if avail > 0 else math.inf
    memory_spilled = disk_spilled = 0.0
    spill_io_s = 0.0
    if pressure > 1.0:
        memory_spilled = (need - avail) * (1.0 + math.log2(pressure))
        disk_spilled = memory_spilled * 0.35  # serialized and compressed
        spill_io_s = 2.0 * disk_spilled / GB / disk_share  # write, then read back to merge
        cpu_s += memory_spilled / GB * 3.0 / node.core_speed  # (de)serialization of spilled rows
    gc_fraction = 0.02 + 0.05 * min(pressure, 1.0) + 0.12 * min(max(pressure - 1.0, 0.0), 3.0)
    gc_s = cpu_s * gc_fraction

    remote_share = (workers - 1) / workers if workers > 1 else 0.0
    shuffle_remote = work.shuffle_read_bytes * remote_share
    shuffle_local = work.shuffle_read_bytes - shuffle_remote
    # Shuffle files that fit in the OS page cache (RAM outside the executor heap) barely touch disk.
    per_node = work.stage_shuffle_bytes / max(workers, 1)
    cache = max(0.0, node.memory_gib - executor_heap_gib(node) - 1.0) * GIB
    disk_factor = 1.0 - 0.9 * min(1.0, cache / per_node) if per_node > 0 else 0.1
    fetch_s = shuffle_remote / GB / net_share + shuffle_local / GB / disk_share * disk_factor
    input_bw = disk_share if work.input_local else min(STORAGE_READ_STREAM_GBPS, net_share)
    input_s = work.input_bytes / GB / input_bw
    shuffle_write = work.processed_bytes * work.shuffle_write_ratio
    write_s = shuffle_write / GB / disk_share * disk_factor
    output = work.processed_bytes * work.output_ratio
    output_s = output / GB / min(STORAGE_WRITE_STREAM_GBPS, net_share)

    io_s = fetch_s + input_s + write_s + output_s + spill_io_s
    compute_s = cpu_s + gc_s
    run_s = (max(compute_s, io_s) + (1.0 - IO_CPU_OVERLAP) * min(compute_s, io_s)) * noise
    run_s = max(run_s, 0.005)
    deser_ms = max(1, round(18 * noise))
    return TaskCost(
        deserialize_ms=deser_ms,
        run_ms=max(1, round(run_s * 1000)),
        result_serialize_ms=1,
        cpu_ns=round(cpu_s * noise * 1e9),
        deserialize_cpu_ns=round(deser_ms * 0.6e6),
        gc_ms=round(gc_s * noise * 1000),
        input_bytes=round(work.input_bytes),
        shuffle_remote_bytes=round(shuffle_remote),
        shuffle_local_bytes=round(shuffle_local),
        fetch_wait_ms=round(fetch_s * 0.5 * noise * 1000),
        shuffle_write_bytes=round(shuffle_write),
        shuffle_write_ns=round(write_s * noise * 1e9),
        output_bytes=round(output),
        memory_spilled=round(memory_spilled),
        disk_spilled=round(disk_spilled),
        peak_execution_memory=round(min(need, avail)),
        result_size=2400 + (0 if shuffle_write else 1600),
        oom=work.oom_pressure is not None and pressure > work.oom_pressure,
        killed=work.python_mem_ratio * work.processed_bytes > outside_heap_per_slot(node),
        cache_read_bytes=round(work.cached_bytes * CACHE_FOOTPRINT),
    )
