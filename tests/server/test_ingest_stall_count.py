"""`IngestWriter.stalled` counts the batches waiting (SQLite; a held write stands for a database
that stopped answering).

Before, the wait's start was set by `submit` before the batch was queued and cleared by the writer
whenever its queue looked empty: a writer finishing a batch in between cleared it, and the next
batch hanging was never reported. And after a batch failed UNAVAILABLE, the start stayed where it
was through a quiet period, so the next batch read as stalled at once.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from server.domain import AgentInfo, IngestBatch, IngestEvent, Stage
from server.errors import Unavailable
from server.ingest import IngestWriter
from server.store import Store, open_store


def _batch(batch_id: str, first: int = 0) -> IngestBatch:
    return IngestBatch(batch_id=batch_id, agent=AgentInfo(agent_id="agent-1"), events=(
        IngestEvent("app", f"stage/{first}/0", "stage_completed", Stage("app", first)),))


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(f"sqlite:///{tmp_path / 't.db'}")
    yield s
    s.close()


def _submit(writer: IngestWriter, batch: IngestBatch, out: list[object]) -> threading.Thread:
    def run() -> None:
        try:
            out.append(writer.submit(batch))
        except Exception as exc:  # noqa: BLE001 - what the caller saw
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_a_batch_queued_as_the_writer_finishes_another_is_still_waited_for(store: Store) -> None:
    real = store.ingest.write
    b2_queuing, release = threading.Event(), threading.Event()
    hung = threading.Event()

    def write(batches):
        if batches[0].batch_id == "b1":
            assert b2_queuing.wait(10)  # b1 is written while b2 is being submitted
            return real(batches)
        hung.set()
        assert release.wait(30)  # b2's write hangs (a database that stopped answering)
        return real(batches)

    store.ingest.write = write  # type: ignore[method-assign]
    writer = IngestWriter(store)
    first: list[object] = []
    second: list[object] = []
    queue_put = writer._queue.put_nowait  # noqa: SLF001

    def put(item: object) -> None:
        if getattr(getattr(item, "batch", None), "batch_id", None) == "b2":
            b2_queuing.set()
            deadline = time.monotonic() + 10
            while not first and time.monotonic() < deadline:  # the writer answers b1 first
                time.sleep(0.005)
        queue_put(item)

    writer._queue.put_nowait = put  # type: ignore[method-assign]  # noqa: SLF001
    t1 = _submit(writer, _batch("b1"), first)
    time.sleep(0.05)
    t2 = _submit(writer, _batch("b2", 1), second)
    assert hung.wait(10)
    assert first and first[0].stored_events == 1  # type: ignore[union-attr]
    time.sleep(0.6)
    try:
        assert writer.stalled(0.5)  # b2 has waited 0.6 s on a write that does not end
    finally:
        release.set()
        t1.join(10)
        t2.join(10)
    assert not writer.stalled(0.5)
    writer.close()


def test_after_an_unavailable_batch_and_a_quiet_period_the_next_batch_starts_a_new_wait(store: Store) -> None:
    real = store.ingest.write
    calls: list[int] = []
    entered, release = threading.Event(), threading.Event()

    def write(batches):
        calls.append(len(batches))
        if len(calls) == 1:
            raise Unavailable("database unavailable: connection refused")
        entered.set()
        assert release.wait(30)
        return real(batches)

    store.ingest.write = write  # type: ignore[method-assign]
    writer = IngestWriter(store)
    with pytest.raises(Unavailable):
        writer.submit(_batch("b1"))
    time.sleep(0.5)  # quiet: nothing sent
    assert not writer.stalled(0.3)
    out: list[object] = []
    t = _submit(writer, _batch("b2"), out)
    try:
        assert entered.wait(10)
        assert not writer.stalled(0.3)  # it has waited for moments, not since b1
        time.sleep(0.4)
        assert writer.stalled(0.3)
    finally:
        release.set()
        t.join(10)
    assert out[0].stored_events == 1  # type: ignore[union-attr]
    assert not writer.stalled(0.3)
    writer.close()


def test_a_full_queue_answers_at_once_and_leaves_nothing_counted(store: Store) -> None:
    entered, release = threading.Event(), threading.Event()
    real = store.ingest.write

    def write(batches):
        entered.set()
        assert release.wait(30)
        return real(batches)

    store.ingest.write = write  # type: ignore[method-assign]
    writer = IngestWriter(store, queue_batches=1)
    out: list[object] = []
    threads = [_submit(writer, _batch("b0"), out)]
    assert entered.wait(10)
    threads.append(_submit(writer, _batch("b1", 1), out))  # queued behind it
    deadline = time.monotonic() + 10
    while writer._queue.qsize() < 1 and time.monotonic() < deadline:  # noqa: SLF001
        time.sleep(0.01)
    with pytest.raises(Unavailable, match="ingest queue is full"):
        writer.submit(_batch("b2", 2))
    release.set()
    for t in threads:
        t.join(10)
    assert writer._outstanding == 0  # noqa: SLF001
    assert not writer.stalled(0)
    writer.close()
