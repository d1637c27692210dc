"""One invalid event no longer refuses its whole batch.

The server answered INVALID_ARGUMENT for a batch with one bad event (an executor removal without a
time, an executor added without an id, a time of -5 or 1e17 ms), and the agent parked the whole
batch, valid events with it; on a job cluster a parked batch dies with the driver, so those events
never arrived. Now the valid events are stored, the invalid ones dropped and counted, the ack says
how many and why, and the server logs one warning per batch. A bad batch envelope is still refused.
Through a real gRPC server on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging

import grpc
import pytest

from protos.trimtab.v1 import ingest_pb2
from server import ingest_wire, translate
from server.errors import InvalidArgument
from server.store.repos.ingest_rows import prepare
from tests.server.conftest import StartHarness

APP = "app-drop"


def _ev(key: str, **body: object) -> ingest_pb2.Event:
    return ingest_pb2.Event(key=key, application_id=APP, **body)  # type: ignore[arg-type]


def _batch(batch_id: str = "b-drop") -> ingest_pb2.EventBatch:
    """Five valid events and four invalid ones between them."""
    events = [
        _ev("start", application_start=ingest_pb2.ApplicationStart(application_id=APP, start_time_ms=1000,
                                                                     app_name="nightly")),
        _ev("executor-added/1", executor_added=ingest_pb2.ExecutorAdded(executor_id="1", total_cores=4,
                                                                         time_ms=1100)),
        # An executor removal without a time (0: it would read as the executor's addition).
        _ev("executor-removed/1", executor_removed=ingest_pb2.ExecutorRemoved(executor_id="1")),
        _ev("stage/1/0", stage_completed=ingest_pb2.StageCompleted(stage_id=1, num_tasks=2,
                                                                    submission_time_ms=1200,
                                                                    completion_time_ms=1900)),
        # An executor added without an executor id.
        _ev("executor-added/", executor_added=ingest_pb2.ExecutorAdded(total_cores=4, time_ms=1150)),
        _ev("job/1", job_completed=ingest_pb2.JobCompleted(job_id=1, submission_time_ms=1150,
                                                           completion_time_ms=1950, stage_ids=[1],
                                                           succeeded=True)),
        # A negative time and one past the year 3000 (a unit slip).
        _ev("stage/2/0", stage_completed=ingest_pb2.StageCompleted(stage_id=2, submission_time_ms=-5,
                                                                    completion_time_ms=1900)),
        _ev("sql/1", sql_execution=ingest_pb2.SqlExecution(execution_id=1, start_time_ms=int(1e17),
                                                           end_time_ms=int(1e17) + 5)),
        _ev("end", application_end=ingest_pb2.ApplicationEnd(end_time_ms=2000, stages_completed=1,
                                                             jobs_completed=1, executors_added=1)),
    ]
    return ingest_pb2.EventBatch(batch_id=batch_id, agent=ingest_pb2.AgentInfo(agent_id="agent-drop"),
                                 events=events)


FIRST_REASON = "events[2].executor_removed.time_ms: must be positive"


def test_both_row_builders_drop_the_same_events() -> None:
    msg = _batch()
    wire = ingest_wire.prepare_batch(msg, 100)
    assert wire.events == prepare(translate.batch_from_proto(msg, 100)).events
    assert [key for (_, key), *_ in wire.events] == ["start", "executor-added/1", "stage/1/0", "job/1", "end"]
    assert (wire.dropped_events, wire.drop_reason) == (4, FIRST_REASON)
    assert wire.ended_applications == (APP,)
    # One event checked alone is still refused naming its field.
    with pytest.raises(InvalidArgument, match=r"^events\[4\]\.executor_added\.executor_id: must not be empty"):
        translate.check_event(msg.events[4], 4)


def test_a_batch_with_invalid_events_stores_the_valid_ones_on_both_engines(
        migrated_db_url: str, start_harness: StartHarness, caplog: pytest.LogCaptureFixture) -> None:
    h = start_harness(url=migrated_db_url)
    with caplog.at_level(logging.WARNING):
        ack = h.ingest.SendBatch(_batch(), metadata=h.agent, timeout=30)
    # Before: INVALID_ARGUMENT for the whole batch, nothing stored.
    assert (ack.batch_id, ack.stored_events, ack.duplicate_events) == ("b-drop", 5, 0)
    assert (ack.dropped_events, ack.drop_reason) == (4, FIRST_REASON)
    app = h.store.applications.get(APP)
    assert (app.app_name, app.start_time_ms, app.end_time_ms) == ("nightly", 1000, 2000)
    assert [(e.executor_id, e.added_ms, e.removed_ms) for e in h.store.applications.executors(APP)] == [
        ("1", 1100, 0)]
    assert [s.stage_id for s in h.store.applications.stages(APP)] == [1]
    assert [j.job_id for j in h.store.applications.jobs(APP)] == [1]
    assert h.store.applications.sql_executions(APP) == []
    assert h.store.applications.event_count(APP) == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    (line,) = [r.getMessage() for r in warnings if "invalid event" in r.getMessage()]
    assert line == (f"batch b-drop of agent agent-drop: 4 invalid event(s) dropped, the other 5 stored; "
                    f"first: {FIRST_REASON} (application '{APP}')")

    # A resend stores nothing twice and reports the same drops.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = h.ingest.SendBatch(_batch(), metadata=h.agent, timeout=30)
    assert (again.stored_events, again.duplicate_events, again.dropped_events, again.drop_reason) == (
        0, 5, 4, FIRST_REASON)
    assert h.store.applications.event_count(APP) == 5
    assert len([r for r in caplog.records if "invalid event" in r.getMessage()]) == 1


def test_a_batch_of_only_invalid_events_is_acknowledged_with_nothing_stored(
        migrated_db_url: str, start_harness: StartHarness) -> None:
    h = start_harness(url=migrated_db_url)
    msg = ingest_pb2.EventBatch(batch_id="b-bad", agent=ingest_pb2.AgentInfo(agent_id="agent-drop"), events=[
        _ev("executor-removed/1", executor_removed=ingest_pb2.ExecutorRemoved(executor_id="1")),
        ingest_pb2.Event(key="no-body", application_id=APP)])
    ack = h.ingest.SendBatch(msg, metadata=h.agent, timeout=30)
    assert (ack.stored_events, ack.duplicate_events, ack.dropped_events) == (0, 0, 2)
    assert ack.drop_reason == FIRST_REASON.replace("[2]", "[0]")
    assert h.store.applications.event_count(APP) == 0


def test_a_clean_batch_reports_no_drops(migrated_db_url: str, start_harness: StartHarness) -> None:
    h = start_harness(url=migrated_db_url)
    msg = _batch("b-clean")
    for index in (7, 6, 4, 2):
        del msg.events[index]
    ack = h.ingest.SendBatch(msg, metadata=h.agent, timeout=30)
    assert (ack.stored_events, ack.dropped_events, ack.drop_reason) == (5, 0, "")


def test_a_long_reason_is_bounded_in_the_ack() -> None:
    msg = _batch()
    msg.events[0].application_start.application_id = "x" * 10_000  # differs from the event's: quoted
    wire = ingest_wire.prepare_batch(msg, 100)
    assert wire.drop_reason.startswith("events[0].application_start.application_id: 'xxx")
    assert len(wire.drop_reason) == translate.MAX_DROP_REASON + 3


@pytest.mark.parametrize(("mutate", "code", "says"), [
    (lambda b: b.ClearField("batch_id"), grpc.StatusCode.INVALID_ARGUMENT, "batch_id: must not be empty"),
    (lambda b: b.ClearField("agent"), grpc.StatusCode.INVALID_ARGUMENT, "agent: missing"),
    (lambda b: setattr(b.counters, "events_sent", -1), grpc.StatusCode.INVALID_ARGUMENT,
     "counters.events_sent: must not be negative"),
    (lambda b: b.events.extend([_ev(f"g/{i}", executor_gauges=ingest_pb2.ExecutorGauges(executor_id="1"))
                                for i in range(20_000)]),
     grpc.StatusCode.RESOURCE_EXHAUSTED, "events: "),
], ids=["batch-id", "agent", "counters", "too-many-events"])
def test_a_bad_envelope_still_refuses_the_batch(migrated_db_url: str, start_harness: StartHarness, mutate: object,
                                                code: grpc.StatusCode, says: str) -> None:
    h = start_harness(url=migrated_db_url)
    msg = _batch()
    mutate(msg)  # type: ignore[operator]
    with pytest.raises(grpc.RpcError) as err:
        h.ingest.SendBatch(msg, metadata=h.agent, timeout=30)
    assert err.value.code() == code  # type: ignore[attr-defined]
    assert err.value.details().startswith(says), err.value.details()  # type: ignore[attr-defined]
    assert h.store.applications.event_count() == 0
