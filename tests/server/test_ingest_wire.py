"""The hot path (protobuf -> rows) and the domain path (protobuf -> domain -> rows) agree.

The server stores agent batches through `server.ingest_wire`; tests and tools
store domain batches through the store's own `prepare`. Both must produce the
same rows and reject the same input with the same message, or data would
depend on which way it came in.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protos.trimtab.v1 import common_pb2, ingest_pb2
from server import ingest_wire, translate
from server.domain import UNKNOWN_EVENT_KIND
from server.errors import InvalidArgument, ResourceExhausted, TrimtabError
from server.store.repos.ingest_rows import prepare


def _every_kind() -> ingest_pb2.EventBatch:
    app = "app-1"
    events = [
        ingest_pb2.Event(key="s", application_id=app, application_start=ingest_pb2.ApplicationStart(
            application_id=app, spark_app_id="spark-1", attempt_id="1", spark_context_id="ctx", app_name="etl",
            spark_version="3.5.0", user="me", cluster_id="c-1", cluster_name="nightly", job_id="12", run_id="34",
            conf={"spark.executor.cores": "4", "spark.sql.shuffle.partitions": "200"},
            event_log_path="dbfs:/logs/x", start_time_ms=1000)),
        ingest_pb2.Event(key="a", application_id=app, executor_added=ingest_pb2.ExecutorAdded(
            executor_id="1", host="10.0.0.2", total_cores=8, time_ms=1100, resource_profile_id=0)),
        ingest_pb2.Event(key="st", application_id=app, stage_completed=ingest_pb2.StageCompleted(
            stage_id=3, attempt_id=1, name="map at x.py:1", num_tasks=200, parent_ids=[1, 2],
            submission_time_ms=1200, completion_time_ms=5200, failure_reason="",
            metrics=common_pb2.TaskMetrics(executor_run_time_ms=9000, input_bytes=1 << 30, disk_bytes_spilled=5,
                                           peak_execution_memory_bytes=1 << 20),
            task_duration_ms=common_pb2.Distribution(count=200, min=10, p25=20, p50=40, p75=60, p90=80, p95=90,
                                                     p99=99, max=120, sum=9000),
            tasks_succeeded=199, tasks_failed=1, tasks_killed=0, input_from_cache=True,
            executor_peaks=[ingest_pb2.ExecutorStagePeak(executor_id="1", metrics={"JVMHeapMemory": 7}),
                            ingest_pb2.ExecutorStagePeak(executor_id="2", metrics={})])),
        ingest_pb2.Event(key="st0", application_id=app, stage_completed=ingest_pb2.StageCompleted(stage_id=0)),
        ingest_pb2.Event(key="j", application_id=app, job_completed=ingest_pb2.JobCompleted(
            job_id=1, submission_time_ms=1150, completion_time_ms=5300, stage_ids=[3], succeeded=True,
            sql_execution_id="2")),
        ingest_pb2.Event(key="q", application_id=app, sql_execution=ingest_pb2.SqlExecution(
            execution_id=2, description="select 1", start_time_ms=1100, end_time_ms=5400, error="")),
        ingest_pb2.Event(key="g", application_id=app, executor_gauges=ingest_pb2.ExecutorGauges(
            executor_id="1", time_ms=3000, memory_used_bytes=5, max_memory_bytes=9, active_tasks=4,
            total_gc_time_ms=11, disk_used_bytes=2)),
        ingest_pb2.Event(key="r", application_id=app, executor_removed=ingest_pb2.ExecutorRemoved(
            executor_id="1", time_ms=6000, reason=ingest_pb2.REMOVAL_REASON_LOST, reason_text="spot")),
        ingest_pb2.Event(key="e", application_id=app, application_end=ingest_pb2.ApplicationEnd(
            end_time_ms=7000, stages_completed=2, jobs_completed=1, executors_added=1)),
        ingest_pb2.Event(key="d", application_id=app, driver_peaks=ingest_pb2.DriverPeaks(
            metrics={"JVMHeapMemory": 3 << 30, "TotalGCTime": 1200, "JVMOffHeapMemory": 5,
                     "ProcessTreePythonRSSMemory": 7, "ProcessTreeOtherRSSMemory": 2})),
        ingest_pb2.Event(key="e2", application_id="app-2", application_end=ingest_pb2.ApplicationEnd(end_time_ms=1)),
    ]
    return ingest_pb2.EventBatch(batch_id="b1", agent=ingest_pb2.AgentInfo(agent_id="agent-1", version="0.1",
                                                                           hostname="h", cluster_id="c-1"),
                                 events=events, counters=ingest_pb2.AgentCounters(events_read=10, events_sent=9))


def test_every_kind_of_event_becomes_the_same_rows_both_ways() -> None:
    msg = _every_kind()
    # The test covers every body of the oneof, so a new event kind cannot skip it.
    kinds = {ev.WhichOneof("body") for ev in msg.events}
    assert kinds == {f.name for f in ingest_pb2.Event.DESCRIPTOR.oneofs_by_name["body"].fields}
    wire = ingest_wire.prepare_batch(msg, 100)
    domain = prepare(translate.batch_from_proto(msg, 100))
    assert wire.events == domain.events
    assert wire.ended_applications == domain.ended_applications == ("app-1", "app-2")
    assert (wire.batch.batch_id, wire.batch.agent, wire.batch.counters) == (
        domain.batch.batch_id, domain.batch.agent, domain.batch.counters)
    # Each materialized row keeps the payload as received, byte for byte.
    assert [payload for _, _, payload, _ in wire.events] == [ev.SerializeToString() for ev in msg.events]
    driver = dict(wire.events[9][3])["drivers"]
    assert (driver["jvm_heap_bytes"], driver["total_gc_ms"], driver["outside_heap_bytes"]) == (3 << 30, 1200, 9)
    stage = dict(wire.events[2][3])["stages"]
    assert (stage["executor_run_time_ms"], stage["jvm_gc_time_ms"], stage["td_p50"]) == (9000, 0, 40)


_BAD: list[tuple[Callable[[ingest_pb2.EventBatch], object], str]] = [
    (lambda b: b.ClearField("batch_id"), "batch_id"),
    (lambda b: b.ClearField("agent"), "agent"),
    (lambda b: setattr(b.events[0], "key", ""), "events[0].key"),
    (lambda b: setattr(b.events[3], "application_id", "x" * 300), "events[3].application_id"),
    (lambda b: b.events[2].ClearField("stage_completed"), "events[2].body"),
    (lambda b: setattr(b.events[2].stage_completed, "stage_id", -1), "events[2].stage_completed.stage_id"),
    (lambda b: setattr(b.events[2].stage_completed.executor_peaks[1], "executor_id", ""),
     "events[2].stage_completed.executor_peaks[1].executor_id"),
    (lambda b: setattr(b.events[1].executor_added, "executor_id", ""), "events[1].executor_added.executor_id"),
    (lambda b: setattr(b.events[7].executor_removed, "time_ms", 0), "events[7].executor_removed.time_ms"),
    (lambda b: setattr(b.events[6].executor_gauges, "executor_id", ""), "events[6].executor_gauges.executor_id"),
    (lambda b: b.events[9].driver_peaks.metrics.__setitem__("TotalGCTime", -1),
     "events[9].driver_peaks.metrics['TotalGCTime']"),
    (lambda b: b.events[9].driver_peaks.metrics.__setitem__("", 1), "events[9].driver_peaks.metrics key"),
    (lambda b: setattr(b.events[0].application_start, "application_id", "other"),
     "events[0].application_start.application_id"),
    # Values in range: counters not negative, times between 0 (unknown) and the year 3000.
    (lambda b: setattr(b.counters, "events_sent", -1), "counters.events_sent"),
    (lambda b: b.counters.spark_dropped_events.__setitem__("appStatus", -2), "counters.spark_dropped_events['appStatus']"),
    (lambda b: setattr(b.events[2].stage_completed, "completion_time_ms", -5),
     "events[2].stage_completed.completion_time_ms"),
    (lambda b: setattr(b.events[0].application_start, "start_time_ms", translate.MAX_TIME_MS + 1),
     "events[0].application_start.start_time_ms"),
]


@pytest.mark.parametrize(("mutate", "field"), _BAD)
def test_bad_input_is_rejected_the_same_way_both_ways(mutate: Callable[[ingest_pb2.EventBatch], object],
                                                      field: str) -> None:
    """A bad envelope refuses the batch; a bad event is dropped, the same one both ways, and the
    rest of the batch kept (tests/server/test_ingest_invalid_events.py)."""
    msg = _every_kind()
    mutate(msg)
    if field.startswith("events["):
        wire = ingest_wire.prepare_batch(msg, 100)
        assert wire.dropped_events == 1
        assert wire.drop_reason.startswith(field + ":"), wire.drop_reason
        assert wire.events == prepare(translate.batch_from_proto(msg, 100)).events
        assert len(wire.events) == len(msg.events) - 1
        return
    errors: list[TrimtabError] = []
    for path in (lambda: ingest_wire.prepare_batch(msg, 100), lambda: translate.batch_from_proto(msg, 100)):
        with pytest.raises(InvalidArgument) as err:
            path()
        errors.append(err.value)
    assert str(errors[0]) == str(errors[1])
    assert str(errors[0]).startswith(field + ":"), errors[0]


def test_too_many_events_is_resource_exhausted_naming_the_count() -> None:
    with pytest.raises(ResourceExhausted, match="events: 11 events in one batch, at most 10"):
        ingest_wire.prepare_batch(_every_kind(), 10)


def test_an_unknown_body_is_the_same_payload_only_event_both_ways() -> None:
    msg = _every_kind()
    newer = ingest_pb2.Event(key="gpu/1", application_id="app-1").SerializeToString() + bytes([154, 6, 2, 8, 1])
    msg.events.append(ingest_pb2.Event.FromString(newer))
    wire = ingest_wire.prepare_batch(msg, 100)
    domain = prepare(translate.batch_from_proto(msg, 100))
    assert wire.events == domain.events
    assert wire.events[-1] == (("app-1", "gpu/1"), UNKNOWN_EVENT_KIND, newer, ())
    # No body at all (nor an unknown one) is still an error: that event is dropped.
    msg.events.append(ingest_pb2.Event(key="empty", application_id="app-1"))
    dropped = ingest_wire.prepare_batch(msg, 100)
    assert dropped.events == wire.events
    assert (dropped.dropped_events, dropped.drop_reason) == (1, "events[12].body: no event set")
