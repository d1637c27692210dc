"""Plain events → ``trimtab.v1`` protobuf messages. Pure: no I/O, no clock.

An integer a field cannot hold (a summed metric past int64, a core count past int32: an event log
with garbage numbers) is saturated at the field's limit rather than failing the encoding: a
failure lost the event and every later one of the same read (`encode_event`). The parser never
makes a NaN or an infinity: orjson refuses ``NaN``, ``Infinity`` and ``1e400``, and task durations
are whole milliseconds (``agent.spark_fields.distribution``), so every double sent is finite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from agent import events as ev
from protos.trimtab.v1 import common_pb2, ingest_pb2

# gRPC's default receive limit is 4 MiB; stay well under it even after framing.
MAX_BATCH_BYTES = 1024 * 1024


def _distribution(d: ev.Distribution) -> common_pb2.Distribution:
    return common_pb2.Distribution(count=d.count, min=d.min, p25=d.p25, p50=d.p50, p75=d.p75, p90=d.p90,
                                   p95=d.p95, p99=d.p99, max=d.max, sum=d.sum)


def _metrics(values: list[int]) -> common_pb2.TaskMetrics:
    return common_pb2.TaskMetrics(**dict(zip(ev.METRIC_NAMES, values, strict=True)))


_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_LIMITS = {FieldDescriptor.CPPTYPE_INT32: _INT32, FieldDescriptor.CPPTYPE_INT64: _INT64,
           FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1), FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1)}
# The message each body is encoded as (its fields carry the same names, see agent.events).
_MESSAGES: dict[type, Descriptor] = {
    ev.AppStarted: ingest_pb2.ApplicationStart.DESCRIPTOR, ev.AppEnded: ingest_pb2.ApplicationEnd.DESCRIPTOR,
    ev.ExecutorAdded: ingest_pb2.ExecutorAdded.DESCRIPTOR, ev.ExecutorRemoved: ingest_pb2.ExecutorRemoved.DESCRIPTOR,
    ev.StageCompleted: ingest_pb2.StageCompleted.DESCRIPTOR, ev.JobCompleted: ingest_pb2.JobCompleted.DESCRIPTOR,
    ev.SqlExecution: ingest_pb2.SqlExecution.DESCRIPTOR, ev.ExecutorGauges: ingest_pb2.ExecutorGauges.DESCRIPTOR,
    ev.DriverPeaks: ingest_pb2.DriverPeaks.DESCRIPTOR,
}


def _fit(value: Any, limits: tuple[int, int]) -> Any:
    """``value`` with every integer in it (lists, dict values, nested) saturated at ``limits``."""
    if isinstance(value, bool) or not isinstance(value, int | list | dict):
        return value
    if isinstance(value, list):
        return [_fit(v, limits) for v in value]
    if isinstance(value, dict):
        return {k: _fit(v, limits) for k, v in value.items()}
    return min(max(value, limits[0]), limits[1])


def fit_body(body: ev.Body) -> ev.Body:
    """``body`` with each integer saturated at its proto field's range. Integers nested in a message
    field (the stage's metrics, the executors' peaks) and map values are all int64 in the protos."""
    fields = _MESSAGES[type(body)].fields_by_name
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(body):
        value = getattr(body, f.name)
        field = fields.get(f.name)
        if field is None or field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            limits = _INT64
        else:
            limits = _LIMITS.get(field.cpp_type, _INT64)
        fitted = _fit(value, limits)
        if fitted != value:
            changes[f.name] = fitted
    return dataclasses.replace(body, **changes) if changes else body


def encode_event(e: ev.PlainEvent) -> ingest_pb2.Event:
    """The event as sent. An integer out of its field's range (protobuf's ValueError) is saturated
    at the limit (`fit_body`): only then, so the usual event pays nothing for it."""
    try:
        return _encode(e, e.body)
    except ValueError:
        fitted = fit_body(e.body)
        if fitted is e.body:
            raise  # not an integer out of range: a bug, not the log's numbers
        return _encode(e, fitted)


def _encode(e: ev.PlainEvent, b: ev.Body) -> ingest_pb2.Event:
    out = ingest_pb2.Event(key=e.key, application_id=e.application_id)
    if isinstance(b, ev.AppStarted):
        out.application_start.CopyFrom(ingest_pb2.ApplicationStart(**vars(b)))
    elif isinstance(b, ev.AppEnded):
        out.application_end.CopyFrom(ingest_pb2.ApplicationEnd(**vars(b)))
    elif isinstance(b, ev.ExecutorAdded):
        out.executor_added.CopyFrom(ingest_pb2.ExecutorAdded(**vars(b)))
    elif isinstance(b, ev.ExecutorRemoved):
        out.executor_removed.CopyFrom(ingest_pb2.ExecutorRemoved(
            executor_id=b.executor_id, time_ms=b.time_ms, reason=int(b.reason), reason_text=b.reason_text))
    elif isinstance(b, ev.StageCompleted):
        out.stage_completed.CopyFrom(ingest_pb2.StageCompleted(
            stage_id=b.stage_id, attempt_id=b.attempt_id, name=b.name, num_tasks=b.num_tasks,
            parent_ids=b.parent_ids, submission_time_ms=b.submission_time_ms,
            completion_time_ms=b.completion_time_ms, failure_reason=b.failure_reason,
            metrics=_metrics(b.metrics), task_duration_ms=_distribution(b.task_duration_ms),
            tasks_succeeded=b.tasks_succeeded, tasks_failed=b.tasks_failed, tasks_killed=b.tasks_killed,
            executor_peaks=[ingest_pb2.ExecutorStagePeak(executor_id=k, metrics=v)
                            for k, v in sorted(b.executor_peaks.items())],
            input_from_cache=b.input_from_cache))
    elif isinstance(b, ev.JobCompleted):
        out.job_completed.CopyFrom(ingest_pb2.JobCompleted(**vars(b)))
    elif isinstance(b, ev.SqlExecution):
        out.sql_execution.CopyFrom(ingest_pb2.SqlExecution(**vars(b)))
    elif isinstance(b, ev.ExecutorGauges):
        out.executor_gauges.CopyFrom(ingest_pb2.ExecutorGauges(**vars(b)))
    elif isinstance(b, ev.DriverPeaks):
        out.driver_peaks.CopyFrom(ingest_pb2.DriverPeaks(metrics=b.metrics))
    else:  # pragma: no cover - the Body union is closed
        raise TypeError(f"unknown event body {type(b).__name__}")
    return out


def shrink(e: ingest_pb2.Event, limit: int) -> ingest_pb2.Event:
    """Make one event fit ``limit`` bytes by dropping what can be lost (conf, peaks, long texts)."""
    if e.ByteSize() <= limit:
        return e
    e = ingest_pb2.Event.FromString(e.SerializeToString())
    if e.HasField("application_start"):
        e.application_start.conf.clear()
    elif e.HasField("stage_completed"):
        del e.stage_completed.executor_peaks[:]
        e.stage_completed.failure_reason = e.stage_completed.failure_reason[:4096]
        e.stage_completed.name = e.stage_completed.name[:1024]
    elif e.HasField("sql_execution"):
        e.sql_execution.description = e.sql_execution.description[:4096]
        e.sql_execution.error = e.sql_execution.error[:4096]
    elif e.HasField("executor_removed"):
        e.executor_removed.reason_text = e.executor_removed.reason_text[:4096]
    return e


def group_events(encoded: Iterable[ingest_pb2.Event], max_events: int,
                 max_bytes: int = MAX_BATCH_BYTES) -> Iterator[list[ingest_pb2.Event]]:
    """Split events into groups of at most ``max_events`` and about ``max_bytes`` serialized."""
    group: list[ingest_pb2.Event] = []
    size = 0
    for e in encoded:
        e = shrink(e, max_bytes // 2)
        n = e.ByteSize() + 8  # field tag + length prefix
        if group and (len(group) >= max_events or size + n > max_bytes):
            yield group
            group, size = [], 0
        group.append(e)
        size += n
    if group:
        yield group


def make_batch(batch_id: str, events: list[ingest_pb2.Event]) -> ingest_pb2.EventBatch:
    """A batch as spooled: agent info and counters are filled in when it is sent."""
    return ingest_pb2.EventBatch(batch_id=batch_id, events=events)
