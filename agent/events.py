"""Plain event objects: what the parser extracts from an event log, before protobuf.

They are deliberately dumb dataclasses so ``parse`` and ``encode`` stay pure and
easy to test. Field meanings follow ``protos/trimtab/v1/ingest.proto``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Removal(IntEnum):
    """Mirrors ``trimtab.v1.RemovalReason`` without importing protobuf here."""

    UNSPECIFIED = 0
    KILLED_BY_DRIVER = 1
    DECOMMISSION = 2
    LOST = 3
    HEARTBEAT_TIMEOUT = 4
    EXITED = 5


# Order and names of the summed task metrics; index i is field i+1 of trimtab.v1.TaskMetrics
# except the last entry, which is a peak (max), not a sum.
METRIC_NAMES: tuple[str, ...] = (
    "executor_run_time_ms",
    "executor_cpu_time_ns",
    "executor_deserialize_time_ms",
    "executor_deserialize_cpu_time_ns",
    "jvm_gc_time_ms",
    "result_serialization_time_ms",
    "result_size_bytes",
    "input_bytes",
    "input_records",
    "output_bytes",
    "output_records",
    "shuffle_remote_bytes_read",
    "shuffle_local_bytes_read",
    "shuffle_remote_bytes_read_to_disk",
    "shuffle_records_read",
    "shuffle_fetch_wait_time_ms",
    "shuffle_bytes_written",
    "shuffle_records_written",
    "shuffle_write_time_ns",
    "memory_bytes_spilled",
    "disk_bytes_spilled",
    "peak_execution_memory_bytes",
)
PEAK_INDEX = len(METRIC_NAMES) - 1


@dataclass
class AppStarted:
    application_id: str
    spark_app_id: str
    attempt_id: str
    spark_context_id: str
    app_name: str
    spark_version: str
    start_time_ms: int
    user: str
    cluster_id: str
    cluster_name: str
    job_id: str
    run_id: str
    conf: dict[str, str]
    event_log_path: str


@dataclass
class AppEnded:
    end_time_ms: int
    stages_completed: int
    jobs_completed: int
    executors_added: int


@dataclass
class ExecutorAdded:
    executor_id: str
    host: str
    total_cores: int
    time_ms: int
    resource_profile_id: int


@dataclass
class ExecutorRemoved:
    executor_id: str
    time_ms: int
    reason: Removal
    reason_text: str


@dataclass
class Distribution:
    count: int
    min: float
    p25: float
    p50: float
    p75: float
    p90: float
    p95: float
    p99: float
    max: float
    sum: float


@dataclass
class StageCompleted:
    stage_id: int
    attempt_id: int
    name: str
    num_tasks: int
    parent_ids: list[int]
    submission_time_ms: int
    completion_time_ms: int
    failure_reason: str
    metrics: list[int]  # in METRIC_NAMES order
    task_duration_ms: Distribution
    tasks_succeeded: int
    tasks_failed: int
    tasks_killed: int
    executor_peaks: dict[str, dict[str, int]] = field(default_factory=dict)
    # Read (some of) its input from an RDD an earlier stage cached (see AppParser._reads_cache).
    input_from_cache: bool = False


@dataclass
class JobCompleted:
    job_id: int
    submission_time_ms: int
    completion_time_ms: int
    stage_ids: list[int]
    succeeded: bool
    sql_execution_id: str


@dataclass
class SqlExecution:
    execution_id: int
    description: str
    start_time_ms: int
    end_time_ms: int
    error: str


@dataclass
class ExecutorGauges:
    time_ms: int
    executor_id: str
    memory_used_bytes: int
    max_memory_bytes: int
    active_tasks: int
    total_gc_time_ms: int
    disk_used_bytes: int


@dataclass
class DriverPeaks:
    """The driver JVM's running peak metrics (cumulative counters: latest value), by Spark's names."""

    metrics: dict[str, int]


Body = (
    AppStarted
    | AppEnded
    | ExecutorAdded
    | ExecutorRemoved
    | StageCompleted
    | JobCompleted
    | SqlExecution
    | ExecutorGauges
    | DriverPeaks
)


@dataclass
class PlainEvent:
    """One event for one application, with its idempotency key (see ``keys``)."""

    key: str
    application_id: str
    body: Body
