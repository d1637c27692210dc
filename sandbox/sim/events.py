"""Spark listener events as JSON objects, field for field as Spark's ``JsonProtocol`` writes them.

Field names, nesting and JSON types follow a log written by PySpark 4.x (checked by
``tests/sandbox_sim/test_sim_eventlog_schema.py`` against a log generated on the spot).
Internal task metrics are JSON numbers; zero-valued accumulator updates are left out of a task's
``Accumulables`` as Spark does.
"""

from __future__ import annotations

from typing import Any

from sandbox.sim.model import RECORD_BYTES, TaskCost

SQL_EVENT_PREFIX = "org.apache.spark.sql.execution.ui."

# Internal metric accumulators of a stage, in Spark's ID order (InternalAccumulator).
INTERNAL_METRICS: tuple[str, ...] = (
    "executorDeserializeTime", "executorDeserializeCpuTime", "executorRunTime", "executorCpuTime",
    "resultSize", "jvmGCTime", "resultSerializationTime", "memoryBytesSpilled", "diskBytesSpilled",
    "peakExecutionMemory", "peakOnHeapExecutionMemory",
    "shuffle.read.remoteBlocksFetched", "shuffle.read.localBlocksFetched", "shuffle.read.remoteBytesRead",
    "shuffle.read.remoteBytesReadToDisk", "shuffle.read.localBytesRead", "shuffle.read.fetchWaitTime",
    "shuffle.read.recordsRead", "shuffle.read.remoteReqsDuration",
    "shuffle.write.bytesWritten", "shuffle.write.recordsWritten", "shuffle.write.writeTime",
    "input.bytesRead", "input.recordsRead", "output.bytesWritten", "output.recordsWritten",
)
_EXECUTOR_METRIC_KEYS: tuple[str, ...] = (
    "JVMHeapMemory", "JVMOffHeapMemory", "OnHeapExecutionMemory", "OffHeapExecutionMemory",
    "OnHeapStorageMemory", "OffHeapStorageMemory", "OnHeapUnifiedMemory", "OffHeapUnifiedMemory",
    "DirectPoolMemory", "MappedPoolMemory", "ProcessTreeJVMVMemory", "ProcessTreeJVMRSSMemory",
    "ProcessTreePythonVMemory", "ProcessTreePythonRSSMemory", "ProcessTreeOtherVMemory",
    "ProcessTreeOtherRSSMemory", "MinorGCCount", "MinorGCTime", "MajorGCCount", "MajorGCTime",
    "TotalGCTime", "ConcurrentGCCount", "ConcurrentGCTime",
)
_PUSH_KEYS: tuple[str, ...] = (
    "Corrupt Merged Block Chunks", "Merged Fetch Fallback Count", "Merged Remote Blocks Fetched",
    "Merged Local Blocks Fetched", "Merged Remote Chunks Fetched", "Merged Local Chunks Fetched",
    "Merged Remote Bytes Read", "Merged Local Bytes Read", "Merged Remote Requests Duration",
)
SHUFFLE_BLOCK_BYTES = 4 * 1024 * 1024  # typical size of one shuffle block fetched


def _frame(cls: str, method: str, file: str, line: int) -> dict[str, Any]:
    return {"Declaring Class": cls, "Method Name": method, "File Name": file, "Line Number": line}


OOM_STACK = [
    _frame("java.util.Arrays", "copyOf", "Arrays.java", 3537),
    _frame("org.apache.spark.unsafe.map.BytesToBytesMap", "growAndRehash", "BytesToBytesMap.java", 903),
    _frame("org.apache.spark.executor.Executor$TaskRunner", "run", "Executor.scala", 620),
]
DAG_STACK = [
    _frame("org.apache.spark.scheduler.DAGScheduler", "failJobAndIndependentStages", "DAGScheduler.scala", 2898),
    _frame("org.apache.spark.scheduler.DAGScheduler", "abortStage", "DAGScheduler.scala", 2834),
]


def oom_failure() -> dict[str, Any]:
    """Task End Reason of an attempt killed by java.lang.OutOfMemoryError (ExceptionFailure)."""
    full = "java.lang.OutOfMemoryError: Java heap space\n" + "".join(
        f"\tat {f['Declaring Class']}.{f['Method Name']}({f['File Name']}:{f['Line Number']})\n" for f in OOM_STACK)
    return {"Reason": "ExceptionFailure", "Class Name": "java.lang.OutOfMemoryError", "Description": "Java heap space",
            "Stack Trace": OOM_STACK, "Full Stack Trace": full, "Accumulator Updates": []}


def metric_values(cost: TaskCost) -> dict[str, int]:
    """The internal metrics of one task attempt, keyed as in INTERNAL_METRICS."""
    remote_blocks = -(-cost.shuffle_remote_bytes // SHUFFLE_BLOCK_BYTES)
    local_blocks = -(-cost.shuffle_local_bytes // SHUFFLE_BLOCK_BYTES)
    shuffle_read = cost.shuffle_remote_bytes + cost.shuffle_local_bytes
    return {
        "executorDeserializeTime": cost.deserialize_ms,
        "executorDeserializeCpuTime": cost.deserialize_cpu_ns,
        "executorRunTime": cost.run_ms,
        "executorCpuTime": cost.cpu_ns,
        "resultSize": cost.result_size,
        "jvmGCTime": cost.gc_ms,
        "resultSerializationTime": cost.result_serialize_ms,
        "memoryBytesSpilled": cost.memory_spilled,
        "diskBytesSpilled": cost.disk_spilled,
        "peakExecutionMemory": cost.peak_execution_memory,
        "peakOnHeapExecutionMemory": cost.peak_execution_memory,
        "shuffle.read.remoteBlocksFetched": remote_blocks,
        "shuffle.read.localBlocksFetched": local_blocks,
        "shuffle.read.remoteBytesRead": cost.shuffle_remote_bytes,
        "shuffle.read.remoteBytesReadToDisk": 0,
        "shuffle.read.localBytesRead": cost.shuffle_local_bytes,
        "shuffle.read.fetchWaitTime": cost.fetch_wait_ms,
        "shuffle.read.recordsRead": shuffle_read // RECORD_BYTES,
        "shuffle.read.remoteReqsDuration": cost.fetch_wait_ms * 2 if remote_blocks else 0,
        "shuffle.write.bytesWritten": cost.shuffle_write_bytes,
        "shuffle.write.recordsWritten": cost.shuffle_write_bytes // RECORD_BYTES,
        "shuffle.write.writeTime": cost.shuffle_write_ns,
        "input.bytesRead": cost.reported_input_bytes,
        "input.recordsRead": cost.reported_input_bytes // RECORD_BYTES,
        "output.bytesWritten": cost.output_bytes,
        "output.recordsWritten": cost.output_bytes // RECORD_BYTES,
    }


def task_metrics_json(m: dict[str, int]) -> dict[str, Any]:
    return {
        "Executor Deserialize Time": m["executorDeserializeTime"],
        "Executor Deserialize CPU Time": m["executorDeserializeCpuTime"],
        "Executor Run Time": m["executorRunTime"],
        "Executor CPU Time": m["executorCpuTime"],
        "Peak Execution Memory": m["peakExecutionMemory"],
        "Peak On Heap Execution Memory": m["peakOnHeapExecutionMemory"],
        "Peak Off Heap Execution Memory": 0,
        "Result Size": m["resultSize"],
        "JVM GC Time": m["jvmGCTime"],
        "Result Serialization Time": m["resultSerializationTime"],
        "Memory Bytes Spilled": m["memoryBytesSpilled"],
        "Disk Bytes Spilled": m["diskBytesSpilled"],
        "Shuffle Read Metrics": {
            "Remote Blocks Fetched": m["shuffle.read.remoteBlocksFetched"],
            "Local Blocks Fetched": m["shuffle.read.localBlocksFetched"],
            "Fetch Wait Time": m["shuffle.read.fetchWaitTime"],
            "Remote Bytes Read": m["shuffle.read.remoteBytesRead"],
            "Remote Bytes Read To Disk": m["shuffle.read.remoteBytesReadToDisk"],
            "Local Bytes Read": m["shuffle.read.localBytesRead"],
            "Total Records Read": m["shuffle.read.recordsRead"],
            "Remote Requests Duration": m["shuffle.read.remoteReqsDuration"],
            "Push Based Shuffle": dict.fromkeys(_PUSH_KEYS, 0),
        },
        "Shuffle Write Metrics": {
            "Shuffle Bytes Written": m["shuffle.write.bytesWritten"],
            "Shuffle Write Time": m["shuffle.write.writeTime"],
            "Shuffle Records Written": m["shuffle.write.recordsWritten"],
        },
        "Input Metrics": {"Bytes Read": m["input.bytesRead"], "Records Read": m["input.recordsRead"]},
        "Output Metrics": {
            "Bytes Written": m["output.bytesWritten"],
            "Records Written": m["output.recordsWritten"],
        },
        "Updated Blocks": [],
    }


def sql_metric_id(stage_id: int) -> int:
    """Accumulator ID of a stage's SQL "number of output rows" metric (below its internal metrics)."""
    return 1000 + stage_id * 100


def internal_base_id(stage_id: int) -> int:
    return sql_metric_id(stage_id) + 10


def accumulables(stage_id: int, values: dict[str, int], *, with_update: bool,
                 output_rows: int | None = None) -> list[dict[str, Any]]:
    """A stage's accumulators sorted by ID: its SQL row count (a string, as SQL metrics are) and the
    internal metrics. A task's updates (``with_update``) skip zeros; stage totals keep them."""
    out: list[dict[str, Any]] = []
    if output_rows is not None:
        sql: dict[str, Any] = {"ID": sql_metric_id(stage_id), "Name": "number of output rows"}
        if with_update:
            sql["Update"] = str(output_rows)
        sql.update({"Value": str(output_rows), "Internal": True, "Count Failed Values": True, "Metadata": "sql"})
        out.append(sql)
    base_id = internal_base_id(stage_id)
    for offset, name in enumerate(INTERNAL_METRICS):
        value = values.get(name, 0)
        if with_update and value == 0:
            continue
        acc: dict[str, Any] = {"ID": base_id + offset, "Name": f"internal.metrics.{name}"}
        if with_update:
            acc["Update"] = value
        acc.update({"Value": value, "Internal": True, "Count Failed Values": True})
        out.append(acc)
    return out


def output_rows(values: dict[str, int]) -> int:
    return values.get("input.recordsRead", 0) + values.get("shuffle.read.recordsRead", 0)


def executor_metrics(values: dict[str, int] | None = None) -> dict[str, int]:
    values = values or {}
    return {k: int(values.get(k, 0)) for k in _EXECUTOR_METRIC_KEYS}


def task_info(*, task_id: int, index: int, attempt: int, launch_ms: int, executor_id: str, host: str,
              locality: str, finish_ms: int = 0, failed: bool = False, killed: bool = False,
              accums: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "Task ID": task_id, "Index": index, "Attempt": attempt, "Partition ID": index,
        "Launch Time": launch_ms, "Executor ID": executor_id, "Host": host, "Locality": locality,
        "Speculative": False, "Getting Result Time": 0, "Finish Time": finish_ms, "Failed": failed,
        "Killed": killed, "Accumulables": accums or [],
    }


def rdd_info(rdd_id: int, name: str, num_partitions: int, *, cached: bool, codegen_id: int,
             rdd_name: str = "MapPartitionsRDD", parent_ids: list[int] | None = None) -> dict[str, Any]:
    return {
        "RDD ID": rdd_id,
        "Name": rdd_name,
        "Scope": f'{{"id":"{rdd_id}","name":"WholeStageCodegen ({codegen_id})"}}',
        "Callsite": name,
        "Parent IDs": parent_ids or [],
        "Storage Level": {"Use Disk": cached, "Use Memory": cached, "Use Off Heap": False,
                          "Deserialized": cached, "Replication": 1},
        "Barrier": False,
        "DeterministicLevel": "DETERMINATE",
        "Number of Partitions": num_partitions,
        "Number of Cached Partitions": 0,
        "Memory Size": 0,
        "Disk Size": 0,
    }


def stage_info(*, stage_id: int, name: str, num_tasks: int, parent_ids: list[int], rdds: list[dict[str, Any]],
               submit_ms: int | None = None, complete_ms: int | None = None, failure_reason: str | None = None,
               accums: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "Stage ID": stage_id, "Stage Attempt ID": 0, "Stage Name": name, "Number of Tasks": num_tasks,
        "RDD Info": rdds, "Parent IDs": parent_ids,
        "Details": f"org.apache.spark.sql.Dataset.{name.split(' at ')[0]}(Dataset.scala:4334)",
    }
    if submit_ms is not None:
        info["Submission Time"] = submit_ms
    if complete_ms is not None:
        info["Completion Time"] = complete_ms
    if failure_reason is not None:
        info["Failure Reason"] = failure_reason
    info.update({"Accumulables": accums or [], "Resource Profile Id": 0, "Shuffle Push Enabled": False,
                 "Shuffle Push Mergers Count": 0})
    return info


def sql_plan(stage_ids: list[int]) -> dict[str, Any]:
    """A small physical plan tree (one node per stage, each with its row-count metric)."""
    node: dict[str, Any] | None = None
    for stage_id in stage_ids:
        name, simple = ("Exchange", "Exchange hashpartitioning(key#1, 200)") if node else (
            "Scan parquet", "FileScan parquet")
        node = {"nodeName": name, "simpleString": simple, "children": [node] if node else [], "metadata": {},
                "metrics": [{"name": "number of output rows", "accumulatorId": sql_metric_id(stage_id),
                             "metricType": "sum"}]}
    return {"nodeName": "AdaptiveSparkPlan", "simpleString": "AdaptiveSparkPlan isFinalPlan=true",
            "children": [node] if node else [], "metadata": {}, "metrics": []}
