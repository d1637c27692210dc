"""Spark facts the parser relies on: JSON field paths of task metrics, accumulator names,
removal-reason texts (spark-eventlog.md §6), and the quantile method for distributions."""

from __future__ import annotations

from array import array

from agent.events import Distribution, Removal

# TaskEnd "Task Metrics" paths in METRIC_NAMES order.
TASK_PATHS: tuple[tuple[str, ...], ...] = (
    ("Executor Run Time",),
    ("Executor CPU Time",),
    ("Executor Deserialize Time",),
    ("Executor Deserialize CPU Time",),
    ("JVM GC Time",),
    ("Result Serialization Time",),
    ("Result Size",),
    ("Input Metrics", "Bytes Read"),
    ("Input Metrics", "Records Read"),
    ("Output Metrics", "Bytes Written"),
    ("Output Metrics", "Records Written"),
    ("Shuffle Read Metrics", "Remote Bytes Read"),
    ("Shuffle Read Metrics", "Local Bytes Read"),
    ("Shuffle Read Metrics", "Remote Bytes Read To Disk"),
    ("Shuffle Read Metrics", "Total Records Read"),
    ("Shuffle Read Metrics", "Fetch Wait Time"),
    ("Shuffle Write Metrics", "Shuffle Bytes Written"),
    ("Shuffle Write Metrics", "Shuffle Records Written"),
    ("Shuffle Write Metrics", "Shuffle Write Time"),
    ("Memory Bytes Spilled",),
    ("Disk Bytes Spilled",),
    ("Peak Execution Memory",),
)
# The same metrics as stage accumulables (used only when a stage has no TaskEnd lines).
ACCUM_NAMES = {
    "internal.metrics." + n: i
    for i, n in enumerate(
        (
            "executorRunTime", "executorCpuTime", "executorDeserializeTime", "executorDeserializeCpuTime",
            "jvmGCTime", "resultSerializationTime", "resultSize", "input.bytesRead", "input.recordsRead",
            "output.bytesWritten", "output.recordsWritten", "shuffle.read.remoteBytesRead",
            "shuffle.read.localBytesRead", "shuffle.read.remoteBytesReadToDisk", "shuffle.read.recordsRead",
            "shuffle.read.fetchWaitTime", "shuffle.write.bytesWritten", "shuffle.write.recordsWritten",
            "shuffle.write.writeTime", "memoryBytesSpilled", "diskBytesSpilled", "peakExecutionMemory",
        )
    )
}


def classify_removal(text: str | None) -> Removal:
    """Map Spark's free-text ``Removed Reason`` to a class (spark-eventlog.md §6.4)."""
    if not text:
        return Removal.UNSPECIFIED
    if text.startswith("Executor killed by driver"):
        return Removal.KILLED_BY_DRIVER
    if text.startswith("Executor decommission") or "Finished decommissioning" in text:
        return Removal.DECOMMISSION
    if "Remote RPC client disassociated" in text or "spot" in text.lower():
        return Removal.LOST
    if text.startswith("Executor heartbeat timed out"):
        return Removal.HEARTBEAT_TIMEOUT
    return Removal.EXITED


def _quantile(sorted_values: list[float] | array, q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    n = len(sorted_values)
    pos = (n - 1) * q
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def distribution(values: list[float] | array) -> Distribution:
    if not values:
        return Distribution(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    s = sorted(values)
    qs = [_quantile(s, q) for q in (0.25, 0.5, 0.75, 0.9, 0.95, 0.99)]
    return Distribution(len(s), float(s[0]), *qs, max=float(s[-1]), sum=float(sum(s)))
