from protos.trimtab.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RemovalReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REMOVAL_REASON_UNSPECIFIED: _ClassVar[RemovalReason]
    REMOVAL_REASON_KILLED_BY_DRIVER: _ClassVar[RemovalReason]
    REMOVAL_REASON_DECOMMISSION: _ClassVar[RemovalReason]
    REMOVAL_REASON_LOST: _ClassVar[RemovalReason]
    REMOVAL_REASON_HEARTBEAT_TIMEOUT: _ClassVar[RemovalReason]
    REMOVAL_REASON_EXITED: _ClassVar[RemovalReason]
REMOVAL_REASON_UNSPECIFIED: RemovalReason
REMOVAL_REASON_KILLED_BY_DRIVER: RemovalReason
REMOVAL_REASON_DECOMMISSION: RemovalReason
REMOVAL_REASON_LOST: RemovalReason
REMOVAL_REASON_HEARTBEAT_TIMEOUT: RemovalReason
REMOVAL_REASON_EXITED: RemovalReason

class EventBatch(_message.Message):
    __slots__ = ("batch_id", "agent", "events", "counters")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    agent: AgentInfo
    events: _containers.RepeatedCompositeFieldContainer[Event]
    counters: AgentCounters
    def __init__(self, batch_id: _Optional[str] = ..., agent: _Optional[_Union[AgentInfo, _Mapping]] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., counters: _Optional[_Union[AgentCounters, _Mapping]] = ...) -> None: ...

class AgentInfo(_message.Message):
    __slots__ = ("agent_id", "version", "hostname", "cluster_id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    version: str
    hostname: str
    cluster_id: str
    def __init__(self, agent_id: _Optional[str] = ..., version: _Optional[str] = ..., hostname: _Optional[str] = ..., cluster_id: _Optional[str] = ...) -> None: ...

class AgentCounters(_message.Message):
    __slots__ = ("events_read", "events_sent", "events_dropped_spool_full", "batches_dropped_spool_full", "lines_corrupt", "lines_oversized", "batches_rejected", "spark_dropped_events", "file_bytes_unread_at_stop")
    class SparkDroppedEventsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    EVENTS_READ_FIELD_NUMBER: _ClassVar[int]
    EVENTS_SENT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_DROPPED_SPOOL_FULL_FIELD_NUMBER: _ClassVar[int]
    BATCHES_DROPPED_SPOOL_FULL_FIELD_NUMBER: _ClassVar[int]
    LINES_CORRUPT_FIELD_NUMBER: _ClassVar[int]
    LINES_OVERSIZED_FIELD_NUMBER: _ClassVar[int]
    BATCHES_REJECTED_FIELD_NUMBER: _ClassVar[int]
    SPARK_DROPPED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    FILE_BYTES_UNREAD_AT_STOP_FIELD_NUMBER: _ClassVar[int]
    events_read: int
    events_sent: int
    events_dropped_spool_full: int
    batches_dropped_spool_full: int
    lines_corrupt: int
    lines_oversized: int
    batches_rejected: int
    spark_dropped_events: _containers.ScalarMap[str, int]
    file_bytes_unread_at_stop: int
    def __init__(self, events_read: _Optional[int] = ..., events_sent: _Optional[int] = ..., events_dropped_spool_full: _Optional[int] = ..., batches_dropped_spool_full: _Optional[int] = ..., lines_corrupt: _Optional[int] = ..., lines_oversized: _Optional[int] = ..., batches_rejected: _Optional[int] = ..., spark_dropped_events: _Optional[_Mapping[str, int]] = ..., file_bytes_unread_at_stop: _Optional[int] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("key", "application_id", "application_start", "application_end", "executor_added", "executor_removed", "stage_completed", "job_completed", "sql_execution", "executor_gauges", "driver_peaks")
    KEY_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_START_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_END_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ADDED_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_REMOVED_FIELD_NUMBER: _ClassVar[int]
    STAGE_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    JOB_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    SQL_EXECUTION_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_GAUGES_FIELD_NUMBER: _ClassVar[int]
    DRIVER_PEAKS_FIELD_NUMBER: _ClassVar[int]
    key: str
    application_id: str
    application_start: ApplicationStart
    application_end: ApplicationEnd
    executor_added: ExecutorAdded
    executor_removed: ExecutorRemoved
    stage_completed: StageCompleted
    job_completed: JobCompleted
    sql_execution: SqlExecution
    executor_gauges: ExecutorGauges
    driver_peaks: DriverPeaks
    def __init__(self, key: _Optional[str] = ..., application_id: _Optional[str] = ..., application_start: _Optional[_Union[ApplicationStart, _Mapping]] = ..., application_end: _Optional[_Union[ApplicationEnd, _Mapping]] = ..., executor_added: _Optional[_Union[ExecutorAdded, _Mapping]] = ..., executor_removed: _Optional[_Union[ExecutorRemoved, _Mapping]] = ..., stage_completed: _Optional[_Union[StageCompleted, _Mapping]] = ..., job_completed: _Optional[_Union[JobCompleted, _Mapping]] = ..., sql_execution: _Optional[_Union[SqlExecution, _Mapping]] = ..., executor_gauges: _Optional[_Union[ExecutorGauges, _Mapping]] = ..., driver_peaks: _Optional[_Union[DriverPeaks, _Mapping]] = ...) -> None: ...

class ApplicationStart(_message.Message):
    __slots__ = ("application_id", "spark_app_id", "attempt_id", "spark_context_id", "app_name", "spark_version", "start_time_ms", "user", "cluster_id", "cluster_name", "job_id", "run_id", "conf", "event_log_path")
    class ConfEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    SPARK_APP_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    SPARK_CONTEXT_ID_FIELD_NUMBER: _ClassVar[int]
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    SPARK_VERSION_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_NAME_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CONF_FIELD_NUMBER: _ClassVar[int]
    EVENT_LOG_PATH_FIELD_NUMBER: _ClassVar[int]
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
    conf: _containers.ScalarMap[str, str]
    event_log_path: str
    def __init__(self, application_id: _Optional[str] = ..., spark_app_id: _Optional[str] = ..., attempt_id: _Optional[str] = ..., spark_context_id: _Optional[str] = ..., app_name: _Optional[str] = ..., spark_version: _Optional[str] = ..., start_time_ms: _Optional[int] = ..., user: _Optional[str] = ..., cluster_id: _Optional[str] = ..., cluster_name: _Optional[str] = ..., job_id: _Optional[str] = ..., run_id: _Optional[str] = ..., conf: _Optional[_Mapping[str, str]] = ..., event_log_path: _Optional[str] = ...) -> None: ...

class ApplicationEnd(_message.Message):
    __slots__ = ("end_time_ms", "stages_completed", "jobs_completed", "executors_added")
    END_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    STAGES_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    JOBS_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    EXECUTORS_ADDED_FIELD_NUMBER: _ClassVar[int]
    end_time_ms: int
    stages_completed: int
    jobs_completed: int
    executors_added: int
    def __init__(self, end_time_ms: _Optional[int] = ..., stages_completed: _Optional[int] = ..., jobs_completed: _Optional[int] = ..., executors_added: _Optional[int] = ...) -> None: ...

class ExecutorAdded(_message.Message):
    __slots__ = ("executor_id", "host", "total_cores", "time_ms", "resource_profile_id")
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CORES_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    host: str
    total_cores: int
    time_ms: int
    resource_profile_id: int
    def __init__(self, executor_id: _Optional[str] = ..., host: _Optional[str] = ..., total_cores: _Optional[int] = ..., time_ms: _Optional[int] = ..., resource_profile_id: _Optional[int] = ...) -> None: ...

class ExecutorRemoved(_message.Message):
    __slots__ = ("executor_id", "time_ms", "reason", "reason_text")
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REASON_TEXT_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    time_ms: int
    reason: RemovalReason
    reason_text: str
    def __init__(self, executor_id: _Optional[str] = ..., time_ms: _Optional[int] = ..., reason: _Optional[_Union[RemovalReason, str]] = ..., reason_text: _Optional[str] = ...) -> None: ...

class ExecutorStagePeak(_message.Message):
    __slots__ = ("executor_id", "metrics")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    executor_id: str
    metrics: _containers.ScalarMap[str, int]
    def __init__(self, executor_id: _Optional[str] = ..., metrics: _Optional[_Mapping[str, int]] = ...) -> None: ...

class StageCompleted(_message.Message):
    __slots__ = ("stage_id", "attempt_id", "name", "num_tasks", "parent_ids", "submission_time_ms", "completion_time_ms", "failure_reason", "metrics", "task_duration_ms", "tasks_succeeded", "tasks_failed", "tasks_killed", "executor_peaks", "input_from_cache")
    STAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUM_TASKS_FIELD_NUMBER: _ClassVar[int]
    PARENT_IDS_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TASK_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    TASKS_SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    TASKS_FAILED_FIELD_NUMBER: _ClassVar[int]
    TASKS_KILLED_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_PEAKS_FIELD_NUMBER: _ClassVar[int]
    INPUT_FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    stage_id: int
    attempt_id: int
    name: str
    num_tasks: int
    parent_ids: _containers.RepeatedScalarFieldContainer[int]
    submission_time_ms: int
    completion_time_ms: int
    failure_reason: str
    metrics: _common_pb2.TaskMetrics
    task_duration_ms: _common_pb2.Distribution
    tasks_succeeded: int
    tasks_failed: int
    tasks_killed: int
    executor_peaks: _containers.RepeatedCompositeFieldContainer[ExecutorStagePeak]
    input_from_cache: bool
    def __init__(self, stage_id: _Optional[int] = ..., attempt_id: _Optional[int] = ..., name: _Optional[str] = ..., num_tasks: _Optional[int] = ..., parent_ids: _Optional[_Iterable[int]] = ..., submission_time_ms: _Optional[int] = ..., completion_time_ms: _Optional[int] = ..., failure_reason: _Optional[str] = ..., metrics: _Optional[_Union[_common_pb2.TaskMetrics, _Mapping]] = ..., task_duration_ms: _Optional[_Union[_common_pb2.Distribution, _Mapping]] = ..., tasks_succeeded: _Optional[int] = ..., tasks_failed: _Optional[int] = ..., tasks_killed: _Optional[int] = ..., executor_peaks: _Optional[_Iterable[_Union[ExecutorStagePeak, _Mapping]]] = ..., input_from_cache: _Optional[bool] = ...) -> None: ...

class JobCompleted(_message.Message):
    __slots__ = ("job_id", "submission_time_ms", "completion_time_ms", "stage_ids", "succeeded", "sql_execution_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    STAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    SQL_EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    submission_time_ms: int
    completion_time_ms: int
    stage_ids: _containers.RepeatedScalarFieldContainer[int]
    succeeded: bool
    sql_execution_id: str
    def __init__(self, job_id: _Optional[int] = ..., submission_time_ms: _Optional[int] = ..., completion_time_ms: _Optional[int] = ..., stage_ids: _Optional[_Iterable[int]] = ..., succeeded: _Optional[bool] = ..., sql_execution_id: _Optional[str] = ...) -> None: ...

class SqlExecution(_message.Message):
    __slots__ = ("execution_id", "description", "start_time_ms", "end_time_ms", "error")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    execution_id: int
    description: str
    start_time_ms: int
    end_time_ms: int
    error: str
    def __init__(self, execution_id: _Optional[int] = ..., description: _Optional[str] = ..., start_time_ms: _Optional[int] = ..., end_time_ms: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class ExecutorGauges(_message.Message):
    __slots__ = ("time_ms", "executor_id", "memory_used_bytes", "max_memory_bytes", "active_tasks", "total_gc_time_ms", "disk_used_bytes")
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TASKS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_GC_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    DISK_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    time_ms: int
    executor_id: str
    memory_used_bytes: int
    max_memory_bytes: int
    active_tasks: int
    total_gc_time_ms: int
    disk_used_bytes: int
    def __init__(self, time_ms: _Optional[int] = ..., executor_id: _Optional[str] = ..., memory_used_bytes: _Optional[int] = ..., max_memory_bytes: _Optional[int] = ..., active_tasks: _Optional[int] = ..., total_gc_time_ms: _Optional[int] = ..., disk_used_bytes: _Optional[int] = ...) -> None: ...

class DriverPeaks(_message.Message):
    __slots__ = ("metrics",)
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.ScalarMap[str, int]
    def __init__(self, metrics: _Optional[_Mapping[str, int]] = ...) -> None: ...

class BatchAck(_message.Message):
    __slots__ = ("batch_id", "stored_events", "duplicate_events", "dropped_events", "drop_reason", "refused_applications")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    DROP_REASON_FIELD_NUMBER: _ClassVar[int]
    REFUSED_APPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    stored_events: int
    duplicate_events: int
    dropped_events: int
    drop_reason: str
    refused_applications: _containers.RepeatedCompositeFieldContainer[RefusedApplication]
    def __init__(self, batch_id: _Optional[str] = ..., stored_events: _Optional[int] = ..., duplicate_events: _Optional[int] = ..., dropped_events: _Optional[int] = ..., drop_reason: _Optional[str] = ..., refused_applications: _Optional[_Iterable[_Union[RefusedApplication, _Mapping]]] = ...) -> None: ...

class RefusedApplication(_message.Message):
    __slots__ = ("application_id", "events", "reason")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    events: int
    reason: str
    def __init__(self, application_id: _Optional[str] = ..., events: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...
