from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ClusterConfig(_message.Message):
    __slots__ = ("node_type_id", "driver_node_type_id", "num_workers", "autoscale_min", "autoscale_max", "availability", "first_on_demand", "ebs_volume_type", "ebs_volume_count", "ebs_volume_size_gb", "spark_version", "spec_json")
    NODE_TYPE_ID_FIELD_NUMBER: _ClassVar[int]
    DRIVER_NODE_TYPE_ID_FIELD_NUMBER: _ClassVar[int]
    NUM_WORKERS_FIELD_NUMBER: _ClassVar[int]
    AUTOSCALE_MIN_FIELD_NUMBER: _ClassVar[int]
    AUTOSCALE_MAX_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    FIRST_ON_DEMAND_FIELD_NUMBER: _ClassVar[int]
    EBS_VOLUME_TYPE_FIELD_NUMBER: _ClassVar[int]
    EBS_VOLUME_COUNT_FIELD_NUMBER: _ClassVar[int]
    EBS_VOLUME_SIZE_GB_FIELD_NUMBER: _ClassVar[int]
    SPARK_VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    node_type_id: str
    driver_node_type_id: str
    num_workers: int
    autoscale_min: int
    autoscale_max: int
    availability: str
    first_on_demand: int
    ebs_volume_type: str
    ebs_volume_count: int
    ebs_volume_size_gb: int
    spark_version: str
    spec_json: str
    def __init__(self, node_type_id: _Optional[str] = ..., driver_node_type_id: _Optional[str] = ..., num_workers: _Optional[int] = ..., autoscale_min: _Optional[int] = ..., autoscale_max: _Optional[int] = ..., availability: _Optional[str] = ..., first_on_demand: _Optional[int] = ..., ebs_volume_type: _Optional[str] = ..., ebs_volume_count: _Optional[int] = ..., ebs_volume_size_gb: _Optional[int] = ..., spark_version: _Optional[str] = ..., spec_json: _Optional[str] = ...) -> None: ...

class CostBreakdown(_message.Message):
    __slots__ = ("dbu_cost", "compute_cost", "storage_cost", "total", "dbus", "currency", "source", "billed_cloud_cost", "cost_per_input_gb", "used_by_models", "note")
    DBU_COST_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_COST_FIELD_NUMBER: _ClassVar[int]
    STORAGE_COST_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DBUS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    BILLED_CLOUD_COST_FIELD_NUMBER: _ClassVar[int]
    COST_PER_INPUT_GB_FIELD_NUMBER: _ClassVar[int]
    USED_BY_MODELS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    dbu_cost: float
    compute_cost: float
    storage_cost: float
    total: float
    dbus: float
    currency: str
    source: str
    billed_cloud_cost: float
    cost_per_input_gb: float
    used_by_models: str
    note: str
    def __init__(self, dbu_cost: _Optional[float] = ..., compute_cost: _Optional[float] = ..., storage_cost: _Optional[float] = ..., total: _Optional[float] = ..., dbus: _Optional[float] = ..., currency: _Optional[str] = ..., source: _Optional[str] = ..., billed_cloud_cost: _Optional[float] = ..., cost_per_input_gb: _Optional[float] = ..., used_by_models: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class Distribution(_message.Message):
    __slots__ = ("count", "min", "p25", "p50", "p75", "p90", "p95", "p99", "max", "sum")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    P25_FIELD_NUMBER: _ClassVar[int]
    P50_FIELD_NUMBER: _ClassVar[int]
    P75_FIELD_NUMBER: _ClassVar[int]
    P90_FIELD_NUMBER: _ClassVar[int]
    P95_FIELD_NUMBER: _ClassVar[int]
    P99_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
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
    def __init__(self, count: _Optional[int] = ..., min: _Optional[float] = ..., p25: _Optional[float] = ..., p50: _Optional[float] = ..., p75: _Optional[float] = ..., p90: _Optional[float] = ..., p95: _Optional[float] = ..., p99: _Optional[float] = ..., max: _Optional[float] = ..., sum: _Optional[float] = ...) -> None: ...

class TaskMetrics(_message.Message):
    __slots__ = ("executor_run_time_ms", "executor_cpu_time_ns", "executor_deserialize_time_ms", "executor_deserialize_cpu_time_ns", "jvm_gc_time_ms", "result_serialization_time_ms", "result_size_bytes", "input_bytes", "input_records", "output_bytes", "output_records", "shuffle_remote_bytes_read", "shuffle_local_bytes_read", "shuffle_remote_bytes_read_to_disk", "shuffle_records_read", "shuffle_fetch_wait_time_ms", "shuffle_bytes_written", "shuffle_records_written", "shuffle_write_time_ns", "memory_bytes_spilled", "disk_bytes_spilled", "peak_execution_memory_bytes")
    EXECUTOR_RUN_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_CPU_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_DESERIALIZE_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_DESERIALIZE_CPU_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    JVM_GC_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    RESULT_SERIALIZATION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    RESULT_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    INPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    INPUT_RECORDS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_RECORDS_FIELD_NUMBER: _ClassVar[int]
    SHUFFLE_REMOTE_BYTES_READ_FIELD_NUMBER: _ClassVar[int]
    SHUFFLE_LOCAL_BYTES_READ_FIELD_NUMBER: _ClassVar[int]
    SHUFFLE_REMOTE_BYTES_READ_TO_DISK_FIELD_NUMBER: _ClassVar[int]
    SHUFFLE_RECORDS_READ_FIELD_NUMBER: _ClassVar[int]
    SHUFFLE_FETCH_WAIT_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    SHUFFLE_BYTES_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    SHUFFLE_RECORDS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    SHUFFLE_WRITE_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_SPILLED_FIELD_NUMBER: _ClassVar[int]
    DISK_BYTES_SPILLED_FIELD_NUMBER: _ClassVar[int]
    PEAK_EXECUTION_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    executor_run_time_ms: int
    executor_cpu_time_ns: int
    executor_deserialize_time_ms: int
    executor_deserialize_cpu_time_ns: int
    jvm_gc_time_ms: int
    result_serialization_time_ms: int
    result_size_bytes: int
    input_bytes: int
    input_records: int
    output_bytes: int
    output_records: int
    shuffle_remote_bytes_read: int
    shuffle_local_bytes_read: int
    shuffle_remote_bytes_read_to_disk: int
    shuffle_records_read: int
    shuffle_fetch_wait_time_ms: int
    shuffle_bytes_written: int
    shuffle_records_written: int
    shuffle_write_time_ns: int
    memory_bytes_spilled: int
    disk_bytes_spilled: int
    peak_execution_memory_bytes: int
    def __init__(self, executor_run_time_ms: _Optional[int] = ..., executor_cpu_time_ns: _Optional[int] = ..., executor_deserialize_time_ms: _Optional[int] = ..., executor_deserialize_cpu_time_ns: _Optional[int] = ..., jvm_gc_time_ms: _Optional[int] = ..., result_serialization_time_ms: _Optional[int] = ..., result_size_bytes: _Optional[int] = ..., input_bytes: _Optional[int] = ..., input_records: _Optional[int] = ..., output_bytes: _Optional[int] = ..., output_records: _Optional[int] = ..., shuffle_remote_bytes_read: _Optional[int] = ..., shuffle_local_bytes_read: _Optional[int] = ..., shuffle_remote_bytes_read_to_disk: _Optional[int] = ..., shuffle_records_read: _Optional[int] = ..., shuffle_fetch_wait_time_ms: _Optional[int] = ..., shuffle_bytes_written: _Optional[int] = ..., shuffle_records_written: _Optional[int] = ..., shuffle_write_time_ns: _Optional[int] = ..., memory_bytes_spilled: _Optional[int] = ..., disk_bytes_spilled: _Optional[int] = ..., peak_execution_memory_bytes: _Optional[int] = ...) -> None: ...
