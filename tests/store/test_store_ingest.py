"""The ingest write path on both engines: once-only storage and materialization."""

from __future__ import annotations

from dataclasses import replace

from server.clock import FakeClock
from server.domain import (
    TASK_METRIC_NAMES,
    UNKNOWN_EVENT_KIND,
    AgentCounters,
    AgentInfo,
    Application,
    ApplicationEnd,
    Distribution,
    DriverPeaks,
    Executor,
    ExecutorGauges,
    ExecutorStagePeak,
    IngestBatch,
    IngestEvent,
    IngestResult,
    Job,
    SqlExecution,
    Stage,
)
from server.store import Store

APP = "ctx-123"


def _batch(batch_id: str, *events: IngestEvent, agent: str = "agent-1", sent: int = 0) -> IngestBatch:
    return IngestBatch(batch_id=batch_id, agent=AgentInfo(agent_id=agent, version="0.1", cluster_id="c-1"),
                       events=events, counters=AgentCounters(events_sent=sent, spark_dropped_events={"q": 2}))


def _ev(key: str, body: object, app: str = APP) -> IngestEvent:
    return IngestEvent(application_id=app, key=key, kind=type(body).__name__, body=body, payload=key.encode())


def _stage(i: int, attempt: int = 0) -> Stage:
    return Stage(application_id=APP, stage_id=i, attempt_id=attempt, name=f"s{i}", num_tasks=10,
                 parent_ids=(i - 1,) if i else (), submission_time_ms=1000, completion_time_ms=4000,
                 metrics={**dict.fromkeys(TASK_METRIC_NAMES, 0), "input_bytes": 100 * i,
                          "peak_execution_memory_bytes": 2**40},
                 task_duration_ms=Distribution(count=10, p50=5.0, max=9.0),
                 executor_peaks=(ExecutorStagePeak("1", {"JVMHeapMemory": 2**33}),))


def test_a_later_batch_partly_stored_before_stores_and_materializes_only_the_new_events(store: Store) -> None:
    assert store.ingest.write([_batch("b1", _ev("stage/0/0", _stage(0)), _ev("stage/1/0", _stage(1)))]) == [
        IngestResult("b1", 2, 0)]
    # The resend carries a changed copy of stage 1: the stored event wins, only stage 2 is new.
    changed = Stage(application_id=APP, stage_id=1, name="changed")
    assert store.ingest.write([_batch("b2", _ev("stage/1/0", changed), _ev("stage/2/0", _stage(2)),
                                      _ev("stage/0/0", _stage(0)))]) == [IngestResult("b2", 1, 2)]
    assert store.applications.event_count(APP) == 3
    assert [s.name for s in store.applications.stages(APP)] == ["s0", "s1", "s2"]


def test_events_are_stored_once_however_often_they_come(store: Store) -> None:
    b1 = _batch("b1", _ev("stage/0/0", _stage(0)), _ev("stage/1/0", _stage(1)))
    b2 = _batch("b2", _ev("stage/1/0", _stage(1)), _ev("stage/2/0", _stage(2)))
    # b2 overlaps b1, and b1 is resent in the same transaction.
    assert store.ingest.write([b1, b2, b1]) == [IngestResult("b1", 2, 0), IngestResult("b2", 1, 1),
                                                 IngestResult("b1", 0, 2)]
    for _ in range(3):
        assert store.ingest.write([b2]) == [IngestResult("b2", 0, 2)]
    assert store.applications.event_count(APP) == 3
    stages = store.applications.stages(APP)
    assert [s.stage_id for s in stages] == [0, 1, 2]
    assert stages[1] == _stage(1)
    [agent] = store.ingest.agents()
    # Two batches, however often each came (deliveries are the batch rows' business).
    assert agent.batches_received == 2 and agent.counters.spark_dropped_events == {"q": 2}
    assert [key for key, _, _ in store.ingest.events(APP)] == ["stage/0/0", "stage/1/0", "stage/2/0"]
    assert store.ingest.events(APP)[0][2] == b"stage/0/0"


def test_materialized_application_in_any_order(store: Store) -> None:
    # The executor's removal and the application's end arrive before its start.
    late = _batch("late", _ev("exec-removed/7", Executor(APP, "7", removed_ms=9000, removal_reason="lost",
                                                         removal_text="spot")),
                  _ev("app-end", ApplicationEnd(end_time_ms=10_000, stages_completed=1)))
    early = _batch("early", _ev("app-start", Application(application_id=APP, spark_app_id="app-1", app_name="etl",
                                                         cluster_id="c-1", conf={"spark.executor.cores": "4"},
                                                         start_time_ms=1000)),
                   _ev("exec-added/7", Executor(APP, "7", host="10.0.0.7", total_cores=4, added_ms=1500)),
                   _ev("job/0", Job(APP, 0, stage_ids=(0, 1), succeeded=False)),
                   _ev("sql/3", SqlExecution(APP, 3, description="insert", start_time_ms=1, end_time_ms=2)),
                   _ev("gauge/7/5", ExecutorGauges(APP, "7", time_ms=5, memory_used_bytes=2**35)),
                   _ev("stage/0/1", _stage(0, attempt=1)))
    store.ingest.write([late])
    assert store.applications.get(APP).ended
    store.ingest.write([early])
    app = store.applications.get(APP)
    assert (app.spark_app_id, app.app_name, app.conf, app.start_time_ms, app.end_time_ms, app.ended) == (
        "app-1", "etl", {"spark.executor.cores": "4"}, 1000, 10_000, True)
    assert (app.stage_count, app.executor_count, app.job_count, app.run_id) == (1, 1, 1, None)
    [executor] = store.applications.executors(APP)
    assert executor == Executor(APP, "7", host="10.0.0.7", total_cores=4, added_ms=1500, removed_ms=9000,
                                removal_reason="lost", removal_text="spot")
    assert store.applications.jobs(APP)[0].stage_ids == (0, 1)
    assert store.applications.sql_executions(APP)[0].description == "insert"
    assert store.applications.gauges(APP)[0].memory_used_bytes == 2**35
    assert store.applications.stages(APP)[0].executor_peaks[0].metrics == {"JVMHeapMemory": 2**33}
    assert [a.application_id for a in store.applications.list(cluster_id="c-1")] == [APP]
    assert store.applications.list(cluster_id="other") == []


def test_driver_peaks_are_stored_once_per_sample_and_read_in_the_order_they_grew(store: Store) -> None:
    gib = 2**30
    first = DriverPeaks(APP, {"JVMHeapMemory": 2 * gib, "TotalGCTime": 900, "JVMOffHeapMemory": gib})
    later = DriverPeaks(APP, {"JVMHeapMemory": 6 * gib, "TotalGCTime": 4000, "JVMOffHeapMemory": gib})
    python = DriverPeaks(APP, {**later.metrics, "ProcessTreePythonRSSMemory": 3 * gib})  # only Python grew
    store.ingest.write([_batch("b1", _ev(f"driver/{2 * gib}/900/0", first))])
    # A resend after an agent restart (same key), then the next samples.
    store.ingest.write([_batch("b2", _ev(f"driver/{2 * gib}/900/0", first), _ev(f"driver/{6 * gib}/4000/0", later),
                               _ev(f"driver/{6 * gib}/4000/{3 * gib}", python))])
    assert store.applications.driver_peaks(APP) == [first, later, python]
    assert python.outside_heap_bytes == 3 * gib
    assert store.applications.driver_peaks("other") == []
    assert [p.jvm_heap_bytes for p in store.applications.driver_peaks(APP)] == [2 * gib, 6 * gib, 6 * gib]  # > 2**31


def test_many_applications_and_agents_in_one_write(store: Store) -> None:
    batches = [_batch(f"b{a}", *(_ev(f"stage/{i}/0", _stage(i), app=f"app-{a}") for i in range(300)),
                      agent=f"agent-{a % 2}") for a in range(4)]
    results = store.ingest.write(batches)
    assert [r.stored_events for r in results] == [300] * 4
    assert store.applications.event_count() == 1200
    assert {a.agent_id: a.batches_received for a in store.ingest.agents()} == {"agent-0": 2, "agent-1": 2}
    assert sorted(a.application_id for a in store.applications.list(unassigned=True)) == [
        "app-0", "app-1", "app-2", "app-3"]


def test_a_stage_keeps_whether_it_read_a_cached_rdd(store: Store) -> None:
    cached = replace(_stage(1), input_from_cache=True)
    store.ingest.write([_batch("b", _ev("stage/0/0", _stage(0)), _ev("stage/1/0", cached))])
    assert store.applications.stages(APP) == [_stage(0), cached]


def test_old_events_lose_their_stored_copy_and_nothing_else(store: Store, clock: FakeClock) -> None:
    """`trimtab db compact-events`: copies of old events go, their keys and what they became stay."""
    unknown = IngestEvent(application_id=APP, key="future/1", kind=UNKNOWN_EVENT_KIND, body=None, payload=b"new-agent")
    store.ingest.write([_batch("b1", *(_ev(f"stage/{i}/0", _stage(i)) for i in range(5)), unknown)])
    clock.advance(40 * 86_400)
    store.ingest.write([_batch("b2", _ev("stage/5/0", _stage(5)))])
    cutoff = clock.now_ms() - 30 * 86_400 * 1000
    # Batches of two: the pass goes on along the key until no old copy is left.
    assert store.ingest.compact_event_payloads(cutoff, batch=2) == (5, len(b"stage/0/0") * 5)
    payloads = {key: payload for key, _, payload in store.ingest.events(APP)}
    assert payloads == {**{f"stage/{i}/0": b"" for i in range(5)}, "future/1": b"new-agent", "stage/5/0": b"stage/5/0"}
    assert store.applications.stages(APP) == [_stage(i) for i in range(6)]
    # A re-sent old event is still a duplicate, and a second pass finds nothing to do.
    assert store.ingest.write([_batch("b3", _ev("stage/0/0", _stage(0)))]) == [IngestResult("b3", 0, 1)]
    assert store.ingest.compact_event_payloads(cutoff) == (0, 0)
