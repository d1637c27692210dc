"""The ingest writer says when it is stalled, and its close gives up in time (SQLite, a held write).

A write held at the door stands for a database that stopped answering (test_serve_db_stall.py
does it with a real one on PostgreSQL).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from server.domain import AgentInfo, IngestBatch, IngestEvent, Stage
from server.errors import InvalidArgument, Unavailable
from server.ingest import IngestWriter
from server.store import Store, open_store


def _batch(batch_id: str, first: int = 0) -> IngestBatch:
    return IngestBatch(batch_id=batch_id, agent=AgentInfo(agent_id="agent-1"), events=(
        IngestEvent("app", f"stage/{first}/0", "stage_completed", Stage("app", first)),))


class _Held:
    """The store's real ingest, held until released."""

    def __init__(self, store: Store) -> None:
        self._write = store.ingest.write
        self.entered = threading.Event()
        self.release = threading.Event()
        store.ingest.write = self.write  # type: ignore[method-assign]

    def write(self, batches):
        self.entered.set()
        assert self.release.wait(30)
        return self._write(batches)


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(f"sqlite:///{tmp_path / 't.db'}")
    yield s
    s.close()


def _submit(writer: IngestWriter, batch: object, out: list[object]) -> threading.Thread:
    def run() -> None:
        try:
            out.append(writer.submit(batch))  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - what the caller saw
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_stalled_while_a_write_hangs_and_not_once_it_commits(store: Store) -> None:
    held = _Held(store)
    writer = IngestWriter(store)
    assert not writer.stalled(0.2)
    out: list[object] = []
    t = _submit(writer, _batch("b1"), out)
    assert held.entered.wait(10)
    assert not writer.stalled(0.5)  # not yet that long
    time.sleep(0.6)
    assert writer.stalled(0.5)
    held.release.set()
    t.join(10)
    assert out[0].stored_events == 1  # type: ignore[union-attr]
    assert not writer.stalled(0.5)
    writer.close()


def test_batches_refused_for_their_content_are_progress_not_a_stall(store: Store) -> None:
    writer = IngestWriter(store)

    def bad() -> None:
        raise InvalidArgument("events[0].key: must not be empty")

    deadline = time.monotonic() + 0.8
    while time.monotonic() < deadline:
        with pytest.raises(InvalidArgument):
            writer.submit(bad)
        assert not writer.stalled(0.3)
        time.sleep(0.05)
    writer.close()


def test_an_unavailable_database_with_agents_resending_is_a_stall(store: Store) -> None:
    def down(batches):
        raise Unavailable("database unavailable: connection refused")

    store.ingest.write = down  # type: ignore[method-assign]
    writer = IngestWriter(store)
    deadline = time.monotonic() + 0.8
    while time.monotonic() < deadline:
        with pytest.raises(Unavailable):
            writer.submit(_batch("b1"))
        time.sleep(0.05)
    assert writer.stalled(0.5)
    time.sleep(0.6)  # agents stopped resending: nothing waits, nothing to report
    assert not writer.stalled(0.5)
    writer.close()


def test_close_gives_up_after_its_timeout_and_answers_every_waiting_batch(store: Store) -> None:
    held = _Held(store)
    writer = IngestWriter(store, queue_batches=4)
    out: list[object] = []
    threads = [_submit(writer, _batch("b0"), out)]
    assert held.entered.wait(10)
    threads += [_submit(writer, _batch(f"b{i}", i), out) for i in range(1, 5)]  # queued behind it
    deadline = time.monotonic() + 10
    while writer._queue.qsize() < 4 and time.monotonic() < deadline:  # noqa: SLF001
        time.sleep(0.01)
    started = time.monotonic()
    assert writer.close(timeout=0.3) is False  # the queue was full: closing once hung on it too
    assert time.monotonic() - started < 1.0
    for t in threads:
        t.join(5)
        assert not t.is_alive(), "a caller still waits on a closed writer"
    assert len(out) == 5 and all(isinstance(r, Unavailable) for r in out), out
    assert all(str(r) == "server is shutting down" for r in out)
    with pytest.raises(Unavailable, match="shutting down"):
        writer.submit(_batch("late"))
    held.release.set()  # the held write may still commit (the batch was not acknowledged; a resend de-duplicates)
