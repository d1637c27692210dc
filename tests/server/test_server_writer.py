"""The group-committing writer and the proto -> domain translation, without gRPC."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from protos.trimtab.v1 import common_pb2, ingest_pb2
from server import translate
from server.domain import AgentInfo, Application, Distribution, Executor, IngestBatch, IngestEvent, Stage
from server.errors import InvalidArgument, Unavailable
from server.ingest import IngestWriter
from server.store import open_store


def _batch(batch_id: str, first: int, n: int, input_bytes: int = 1) -> IngestBatch:
    return IngestBatch(batch_id=batch_id, agent=AgentInfo(agent_id=f"agent-{batch_id}"), events=tuple(
        IngestEvent("app", f"stage/{i}/0", "stage_completed",
                    Stage("app", i, metrics={"input_bytes": input_bytes})) for i in range(first, first + n)))


def test_concurrent_submits_each_get_their_own_result(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    writer = IngestWriter(store, group_batches=8)
    results: dict[str, tuple[int, int]] = {}
    start = threading.Barrier(12)

    def agent(k: int) -> None:
        start.wait()
        # Batches k and k+1 overlap by 5 events: exactly one of each pair of copies is stored.
        r = writer.submit(writer.prepare(_batch(f"b{k}", k * 5, 10)))
        results[r.batch_id] = (r.stored_events, r.duplicate_events)

    threads = [threading.Thread(target=agent, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    assert sum(s for s, _ in results.values()) == store.applications.event_count() == 65
    assert sum(s + d for s, d in results.values()) == 120
    store.close()


def test_one_bad_batch_does_not_fail_the_others_in_its_group(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    gate, entered = threading.Event(), threading.Event()
    inner_write = store.ingest.write
    calls: list[int] = []

    def slow_first(batches):  # hold the writer so the next submissions queue up into one group
        calls.append(len(batches))
        if len(calls) == 1:
            entered.set()
            gate.wait(30)
        return inner_write(batches)

    store.ingest.write = slow_first  # type: ignore[method-assign]
    writer = IngestWriter(store, group_batches=16)
    outcomes: dict[str, object] = {}

    def send(batch: IngestBatch) -> None:
        try:
            outcomes[batch.batch_id] = writer.submit(batch).stored_events
        except Exception as exc:  # noqa: BLE001 - the test records what each caller saw
            outcomes[batch.batch_id] = type(exc).__name__

    first = threading.Thread(target=send, args=(_batch("first", 0, 1),))
    first.start()
    assert entered.wait(30)  # the writer is busy with the first batch
    others = [threading.Thread(target=send, args=(b,)) for b in
              (_batch("ok1", 10, 3), _batch("bad", 20, 3, input_bytes=2**70), _batch("ok2", 30, 3))]
    for t in others:
        t.start()
    # No event says "queued": wait (bounded) until all three are, so they form one group.
    deadline = time.monotonic() + 30
    while writer._queue.qsize() < 3 and time.monotonic() < deadline:  # noqa: SLF001
        time.sleep(0.005)
    gate.set()
    for t in (first, *others):
        t.join(30)
    writer.close()
    assert outcomes == {"first": 1, "ok1": 3, "ok2": 3, "bad": "OverflowError"}
    assert calls[1] == 3  # the three were tried as one group, then one by one
    assert store.applications.event_count() == 7
    store.close()


def test_submit_after_close_is_unavailable(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    writer = IngestWriter(store)
    writer.close()
    with pytest.raises(Unavailable):
        writer.submit(_batch("late", 0, 1))
    store.close()


def test_translate_maps_every_event_kind() -> None:
    msg = ingest_pb2.EventBatch(batch_id="b", agent=ingest_pb2.AgentInfo(agent_id="a", hostname="h"), events=[
        ingest_pb2.Event(key="start", application_id="ctx", application_start=ingest_pb2.ApplicationStart(
            application_id="ctx", spark_app_id="app-1", run_id="77", conf={"k": "v"}, start_time_ms=5)),
        ingest_pb2.Event(key="rm/3", application_id="ctx", executor_removed=ingest_pb2.ExecutorRemoved(
            executor_id="3", time_ms=9, reason=ingest_pb2.REMOVAL_REASON_LOST, reason_text="spot")),
        ingest_pb2.Event(key="stage/1/0", application_id="ctx", stage_completed=ingest_pb2.StageCompleted(
            stage_id=1, metrics=common_pb2.TaskMetrics(input_bytes=10, disk_bytes_spilled=3),
            task_duration_ms=common_pb2.Distribution(count=4, p50=2.0, max=7.0),
            executor_peaks=[ingest_pb2.ExecutorStagePeak(executor_id="3", metrics={"OnHeapExecutionMemory": 8})])),
    ], counters=ingest_pb2.AgentCounters(events_read=3, lines_corrupt=1))
    batch = translate.batch_from_proto(msg, 10)
    start, removed, stage = (e.body for e in batch.events)
    assert isinstance(start, Application) and (start.databricks_run_id, start.conf) == ("77", {"k": "v"})
    assert removed == Executor("ctx", "3", removed_ms=9, removal_reason="lost", removal_text="spot")
    assert isinstance(stage, Stage) and stage.metrics == {"input_bytes": 10, "disk_bytes_spilled": 3}
    assert stage.task_duration_ms == Distribution(count=4, p50=2.0, max=7.0)
    assert stage.executor_peaks[0].metrics == {"OnHeapExecutionMemory": 8}
    assert batch.counters is not None and batch.counters.lines_corrupt == 1
    assert ingest_pb2.Event.FromString(batch.events[2].payload) == msg.events[2]
    roundtrip = translate.metrics_from_proto(translate.metrics_to_proto(stage.metrics))
    assert roundtrip == stage.metrics


def test_rows_made_on_the_writer_thread_fail_only_their_own_batch(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    writer = IngestWriter(store, group_batches=8)
    gate = threading.Event()
    threads_seen: set[str] = set()

    def rows(k: int):  # a batch submitted as a function: run by the writer, in one group with the others
        def make():
            gate.wait(5)
            threads_seen.add(threading.current_thread().name)
            if k == 2:
                raise InvalidArgument("events[0].key: must not be empty")
            return writer.prepare(_batch(f"b{k}", k * 10, 10))
        return make

    outcomes: dict[int, object] = {}

    def agent(k: int) -> None:
        try:
            outcomes[k] = writer.submit(rows(k)).stored_events
        except InvalidArgument as exc:
            outcomes[k] = exc

    threads = [threading.Thread(target=agent, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join()
    writer.close()
    assert threads_seen == {"trimtab-ingest-writer"}
    assert [outcomes[k] for k in (0, 1, 3)] == [10, 10, 10]
    assert isinstance(outcomes[2], InvalidArgument)
    assert store.applications.event_count() == 30
    store.close()
