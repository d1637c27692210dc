"""Negative counts, sizes and durations, and ends before starts, are dropped like other invalid events.

grpcapi review (t_negstage.py): a StageCompleted with num_tasks -4, input_bytes -500 GB and its
completion before its submission was stored, and GetRun showed "tasks -4, input -500000000000".
Now such an event is dropped with a drop_reason naming the field, the batch's other events stored.
What real Spark logs hold is still accepted: times 0 (unknown), an end equal to its start, and an
executor peak of -1 (Spark's "not set yet"). Through a real gRPC server on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math

import pytest

from protos.trimtab.v1 import common_pb2, ingest_pb2
from server import ingest_wire, translate
from server.errors import InvalidArgument
from server.store.repos.ingest_rows import prepare
from tests.server.conftest import StartHarness

APP = "app-neg"
S, E, G, J, Q, END = (ingest_pb2.StageCompleted, ingest_pb2.ExecutorAdded, ingest_pb2.ExecutorGauges,
                      ingest_pb2.JobCompleted, ingest_pb2.SqlExecution, ingest_pb2.ApplicationEnd)


def _ev(key: str, **body: object) -> ingest_pb2.Event:
    return ingest_pb2.Event(key=key, application_id=APP, **body)  # type: ignore[arg-type]


def _stage(stage_id: int = 1, **fields: object) -> ingest_pb2.Event:
    values: dict[str, object] = {"stage_id": stage_id, "num_tasks": 4, "submission_time_ms": 1000,
                                 "completion_time_ms": 2000}
    values.update(fields)
    return _ev(f"stage/{stage_id}/0", stage_completed=S(**values))  # type: ignore[arg-type]


REFUSED: list[tuple[ingest_pb2.Event, str]] = [
    (_stage(num_tasks=-4), "stage_completed.num_tasks: must not be negative (got -4)"),
    (_stage(tasks_failed=-1), "stage_completed.tasks_failed: must not be negative (got -1)"),
    (_stage(metrics=common_pb2.TaskMetrics(input_bytes=-500_000_000_000)),
     "stage_completed.metrics.input_bytes: must not be negative (got -500000000000)"),
    (_stage(metrics=common_pb2.TaskMetrics(executor_run_time_ms=-100)),
     "stage_completed.metrics.executor_run_time_ms: must not be negative (got -100)"),
    (_stage(task_duration_ms=common_pb2.Distribution(count=3, min=-5.0, max=10.0, sum=12.0)),
     "stage_completed.task_duration_ms.min: must not be negative (got -5.0)"),
    (_stage(task_duration_ms=common_pb2.Distribution(count=-3)),
     "stage_completed.task_duration_ms.count: must not be negative (got -3)"),
    (_stage(submission_time_ms=2_000_000_000_000, completion_time_ms=1_000_000_000_000),
     "stage_completed.completion_time_ms: 1000000000000 is before submission_time_ms 2000000000000"),
    (_ev("job/1", job_completed=J(job_id=1, submission_time_ms=2000, completion_time_ms=1999)),
     "job_completed.completion_time_ms: 1999 is before submission_time_ms 2000"),
    (_ev("sql/1", sql_execution=Q(execution_id=1, start_time_ms=2000, end_time_ms=1000)),
     "sql_execution.end_time_ms: 1000 is before start_time_ms 2000"),
    (_ev("executor-added/1", executor_added=E(executor_id="1", total_cores=-8, time_ms=1000)),
     "executor_added.total_cores: must not be negative (got -8)"),
    (_ev("gauges/1/1", executor_gauges=G(executor_id="1", time_ms=1000, memory_used_bytes=-1)),
     "executor_gauges.memory_used_bytes: must not be negative (got -1)"),
    (_ev("end", application_end=END(end_time_ms=3000, stages_completed=-1)),
     "application_end.stages_completed: must not be negative (got -1)"),
]

ACCEPTED: list[ingest_pb2.Event] = [
    _stage(),
    _stage(submission_time_ms=0, completion_time_ms=2000),  # submission unknown
    _stage(submission_time_ms=1000, completion_time_ms=0),  # completion unknown
    _stage(submission_time_ms=1000, completion_time_ms=1000),
    _stage(metrics=common_pb2.TaskMetrics(input_bytes=0, executor_run_time_ms=5)),
    # Spark's ExecutorMetrics start at -1 ("not set yet"): a peak is not an amount checked here.
    _stage(executor_peaks=[ingest_pb2.ExecutorStagePeak(executor_id="1", metrics={"JVMHeapMemory": -1})]),
    # A NaN is stored as an unknown distribution (test_ingest_nonfinite.py), not dropped.
    _stage(task_duration_ms=common_pb2.Distribution(count=2, min=-math.inf, sum=math.nan)),
    _ev("job/1", job_completed=J(job_id=1, submission_time_ms=0, completion_time_ms=5)),
    _ev("sql/1", sql_execution=Q(execution_id=1, start_time_ms=5, end_time_ms=0)),
]


@pytest.mark.parametrize(("event", "reason"), REFUSED, ids=[r for _, r in REFUSED])
def test_each_impossible_amount_is_refused_naming_its_field(event: ingest_pb2.Event, reason: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        translate.check_event(event, 3)
    assert str(err.value) == f"events[3].{reason}"


@pytest.mark.parametrize("event", ACCEPTED)
def test_what_spark_logs_hold_is_accepted(event: ingest_pb2.Event) -> None:
    assert translate.check_event(event, 0) == event.WhichOneof("body")


def _batch() -> ingest_pb2.EventBatch:
    """The reviewer's stage between two valid ones, then every other refused event."""
    events = [_stage(1), _stage(999, num_tasks=-4, submission_time_ms=2_000_000_000_000,
                                completion_time_ms=1_000_000_000_000,
                                metrics=common_pb2.TaskMetrics(input_bytes=-500_000_000_000,
                                                               executor_run_time_ms=-100)),
              _stage(2), *(e for e, _ in REFUSED)]
    return ingest_pb2.EventBatch(batch_id="b-neg", agent=ingest_pb2.AgentInfo(agent_id="agent-neg"), events=events)


def test_both_row_builders_drop_the_same_events() -> None:
    msg = _batch()
    wire = ingest_wire.prepare_batch(msg, 100)
    assert wire.events == prepare(translate.batch_from_proto(msg, 100)).events
    assert [key for (_, key), *_ in wire.events] == ["stage/1/0", "stage/2/0"]
    assert wire.dropped_events == 1 + len(REFUSED)


def test_a_stage_with_negative_metrics_is_dropped_and_the_batch_stored(
        migrated_db_url: str, start_harness: StartHarness) -> None:
    h = start_harness(url=migrated_db_url)
    ack = h.ingest.SendBatch(_batch(), metadata=h.agent, timeout=30)
    # Before: stored_events 3 + the others, dropped 0, and stage 999 stored with tasks -4.
    assert (ack.stored_events, ack.dropped_events) == (2, 1 + len(REFUSED))
    assert ack.drop_reason == "events[1].stage_completed.num_tasks: must not be negative (got -4)"
    stages = h.store.applications.stages(APP)
    assert [(s.stage_id, s.num_tasks) for s in stages] == [(1, 4), (2, 4)]
    assert h.store.applications.executors(APP) == []
    assert h.store.applications.event_count(APP) == 2
