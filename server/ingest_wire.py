"""Pure: an agent's protobuf batch -> the rows it adds, validated. The ingest hot path.

`prepare_batch` checks what `server.translate.batch_from_proto` checks (it
calls the same `check_batch`/`check_event`, so a bad batch envelope gets the
same error naming the same field, before anything is stored, and a bad event
is left out the same way, counted in `PreparedBatch.dropped_events`), and returns the same
`PreparedBatch` the store builds from domain objects — without building them:
making a frozen dataclass per event, per stage distribution and per peak, only
to take it apart into a row again, was about two thirds of the server's CPU
per event (see benchmarks/ingest.py). tests/server/test_ingest_wire.py holds
both paths to identical rows for every kind of event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from protos.trimtab.v1 import common_pb2, ingest_pb2
from server import translate
from server.domain import TASK_METRIC_NAMES, UNKNOWN_EVENT_KIND, IngestBatch, outside_heap_bytes
from server.errors import InvalidArgument
from server.store import PreparedBatch
from server.store.convert import TD_COLUMNS, ZERO_METRICS
from server.store.repos.fastsql import json_text
from server.store.repos.ingest_rows import Materialized, PreparedEvent, json_value, text

# The proto's TaskMetrics are the domain's metric names, so a set field needs no filtering.
assert {f.name for f in common_pb2.TaskMetrics.DESCRIPTOR.fields} == set(TASK_METRIC_NAMES)

log = logging.getLogger(__name__)


def prepare_batch(msg: ingest_pb2.EventBatch, max_events: int) -> PreparedBatch:
    """The rows of `msg`'s valid events, or `InvalidArgument`/`ResourceExhausted` naming the first
    bad field of the batch envelope. An event `check_event` refuses is left out, counted, and
    named in one warning per batch (see `translate.Drops`): the batch's other events are stored."""
    translate.check_batch(msg, max_events)
    agent, counters = translate.agent_from_proto(msg)
    agent_id = agent.agent_id
    check = translate.check_event
    events: list[PreparedEvent] = []
    ended: list[str] = []
    dropped: list[str] = []
    invalid = translate.Drops()
    for i, ev in enumerate(msg.events):
        app = ev.application_id
        try:
            kind = check(ev, i)
        except InvalidArgument as exc:
            invalid.add(exc, app)
            continue
        body = getattr(ev, kind) if kind != UNKNOWN_EVENT_KIND else None
        events.append(((app, ev.key), kind, ev.SerializeToString(), _ROWS[kind](body, app, agent_id)))
        if kind == "application_end":
            ended.append(app)
        elif kind == "stage_completed":
            bad = translate.nonfinite_field(body.task_duration_ms)
            if bad is not None:
                dropped.append(f"events[{i}].stage_completed.task_duration_ms.{bad}")
    if dropped:
        # Stored without that distribution, not refused (see `translate.EMPTY_DISTRIBUTION`): one
        # line per batch, naming the first value, so a person can find the agent that sent it.
        log.warning("batch %s of agent %s: %d stage task-duration distribution(s) with a NaN or infinite value "
                    "stored as unknown (count 0), the rest of the batch as sent; first: %s", msg.batch_id,
                    agent_id, len(dropped), dropped[0])
    invalid.warn(msg.batch_id, agent_id, len(events))
    return PreparedBatch(IngestBatch(msg.batch_id, agent, (), counters), tuple(events), tuple(dict.fromkeys(ended)),
                         dropped_events=invalid.count, drop_reason=invalid.first_reason)


def _stage(s: ingest_pb2.StageCompleted, app: str, agent_id: str) -> Materialized:
    d = s.task_duration_ms
    row = {
        "application_id": app, "stage_id": s.stage_id, "attempt_id": s.attempt_id, "name": text(s.name),
        "num_tasks": s.num_tasks, "parent_ids": json_text(list(s.parent_ids)),
        "submission_time_ms": s.submission_time_ms, "completion_time_ms": s.completion_time_ms,
        "failure_reason": text(s.failure_reason), "tasks_succeeded": s.tasks_succeeded,
        "tasks_failed": s.tasks_failed, "tasks_killed": s.tasks_killed, "input_from_cache": s.input_from_cache,
        **ZERO_METRICS, **{f.name: v for f, v in s.metrics.ListFields()},
        **dict(zip(TD_COLUMNS, translate.task_durations(d), strict=True)),
    }
    return (("stages", row), *(("peaks", {"application_id": app, "stage_id": s.stage_id, "attempt_id": s.attempt_id,
                                          "executor_id": p.executor_id, "metrics": json_value({k: p.metrics[k] for k in p.metrics})})
                               for p in s.executor_peaks))


def _gauges(g: ingest_pb2.ExecutorGauges, app: str, agent_id: str) -> Materialized:
    return (("gauges", {"application_id": app, "executor_id": g.executor_id, "time_ms": g.time_ms,
                        "memory_used_bytes": g.memory_used_bytes, "max_memory_bytes": g.max_memory_bytes,
                        "active_tasks": g.active_tasks, "total_gc_time_ms": g.total_gc_time_ms,
                        "disk_used_bytes": g.disk_used_bytes}),)


def _driver(d: ingest_pb2.DriverPeaks, app: str, agent_id: str) -> Materialized:
    m = d.metrics
    return (("drivers", {"application_id": app, "jvm_heap_bytes": m.get("JVMHeapMemory", 0),
                         "total_gc_ms": m.get("TotalGCTime", 0),
                         "outside_heap_bytes": outside_heap_bytes(m),
                         "metrics": json_value({k: m[k] for k in m})}),)


def _added(a: ingest_pb2.ExecutorAdded, app: str, agent_id: str) -> Materialized:
    return (("added", {"application_id": app, "executor_id": a.executor_id, "host": text(a.host),
                       "total_cores": a.total_cores, "added_ms": a.time_ms,
                       "resource_profile_id": a.resource_profile_id}),)


def _removed(r: ingest_pb2.ExecutorRemoved, app: str, agent_id: str) -> Materialized:
    return (("removed", {"application_id": app, "executor_id": r.executor_id, "removed_ms": r.time_ms,
                         "removal_reason": translate.REMOVAL_REASONS.get(r.reason, ""),
                         "removal_text": text(r.reason_text)}),)


def _job(j: ingest_pb2.JobCompleted, app: str, agent_id: str) -> Materialized:
    return (("jobs", {"application_id": app, "job_id": j.job_id, "submission_time_ms": j.submission_time_ms,
                      "completion_time_ms": j.completion_time_ms, "stage_ids": json_text(list(j.stage_ids)),
                      "succeeded": j.succeeded, "sql_execution_id": text(j.sql_execution_id)}),)


def _sql(s: ingest_pb2.SqlExecution, app: str, agent_id: str) -> Materialized:
    return (("sqls", {"application_id": app, "execution_id": s.execution_id, "description": text(s.description),
                      "start_time_ms": s.start_time_ms, "end_time_ms": s.end_time_ms, "error": text(s.error)}),)


def _start(a: ingest_pb2.ApplicationStart, app: str, agent_id: str) -> Materialized:
    return (("starts", {"application_id": app, "spark_app_id": text(a.spark_app_id),
                        "attempt_id": text(a.attempt_id), "spark_context_id": text(a.spark_context_id),
                        "app_name": text(a.app_name), "spark_version": text(a.spark_version),
                        "user": text(a.user), "cluster_id": text(a.cluster_id),
                        "cluster_name": text(a.cluster_name), "job_id": text(a.job_id),
                        "databricks_run_id": text(a.run_id), "conf": json_value(dict(a.conf)),
                        "event_log_path": text(a.event_log_path),
                        "start_time_ms": a.start_time_ms, "agent_id": agent_id}),)


def _end(e: ingest_pb2.ApplicationEnd, app: str, agent_id: str) -> Materialized:
    return (("ends", {"application_id": app, "end_time_ms": e.end_time_ms, "ended": True,
                      "expected_stages": e.stages_completed, "expected_jobs": e.jobs_completed,
                      "expected_executors": e.executors_added}),)


# Every body of the Event oneof (a new one without a row builder fails here, at import), and
# bodies a newer agent sends that this server does not know (kept as payload, no rows).
_ROWS: dict[str, Callable[[Any, str, str], Materialized]] = {
    "application_start": _start, "application_end": _end, "executor_added": _added,
    "executor_removed": _removed, "stage_completed": _stage, "job_completed": _job,
    "sql_execution": _sql, "executor_gauges": _gauges, "driver_peaks": _driver,
}
assert set(_ROWS) == {f.name for f in ingest_pb2.Event.DESCRIPTOR.oneofs_by_name["body"].fields}
_ROWS[UNKNOWN_EVENT_KIND] = lambda body, app, agent_id: ()
