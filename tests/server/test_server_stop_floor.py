"""`RunningServer.stop`: the ingest writer gets time to finish however much of the grace the
in-flight calls used, and a store the server owns is not closed under a thread still using it.

Before, the writer got only what the gRPC server's stop left of the grace: a call that used it
all left ``close(0)``, which answered UNAVAILABLE to batches it was writing on a healthy database;
and the store was closed under a writer (or collector) still running.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from server.domain import AgentInfo, IngestBatch, IngestEvent, Stage
from tests.server.conftest import Harness, event_batch


class _GatedIngest:
    """The real ingest repository, held at the door until the test opens it."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def prepare(self, batch):
        return self._inner.prepare(batch)

    def write(self, batches):
        self.entered.set()
        assert self.release.wait(30)
        return self._inner.write(batches)


def _direct(harness: Harness, out: list[object]) -> threading.Thread:
    """A batch submitted to the server's writer, queued behind the held one."""
    batch = IngestBatch(batch_id="direct", agent=AgentInfo(agent_id="agent-2"), events=(
        IngestEvent("app-2", "stage/0/0", "stage_completed", Stage("app-2", 0)),))

    def run() -> None:
        try:
            out.append(harness.running._writer.submit(batch))  # noqa: SLF001
        except Exception as exc:  # noqa: BLE001 - what the caller saw
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_the_writer_finishes_its_batches_after_a_call_used_the_whole_grace(harness: Harness) -> None:
    gate = _GatedIngest(harness.store.ingest)
    harness.store.ingest = gate  # type: ignore[assignment]
    in_flight = harness.ingest.SendBatch.future(event_batch("b1", 25), metadata=harness.agent)
    assert gate.entered.wait(30)
    out: list[object] = []
    direct = _direct(harness, out)
    deadline = time.monotonic() + 10
    while harness.running._writer._queue.qsize() < 1 and time.monotonic() < deadline:  # noqa: SLF001
        time.sleep(0.01)
    started = time.monotonic()
    # The call holds the whole grace (1 s); the write it waits on ends 0.5 s after that.
    threading.Timer(1.5, gate.release.set).start()
    harness.running.stop(1.0)
    took = time.monotonic() - started
    direct.join(10)
    in_flight.cancel()
    assert out and not isinstance(out[0], Exception), out  # stored, not "server is shutting down"
    assert out[0].stored_events == 1  # type: ignore[union-attr]
    assert harness.store.applications.event_count() == 26
    assert 1.4 < took < 3.0  # grace, then at most the floor (the grace itself here, 1 s)


def test_an_owned_store_is_not_closed_under_a_writer_still_running(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    gate = _GatedIngest(harness.store.ingest)
    harness.store.ingest = gate  # type: ignore[assignment]
    harness.running._owns_store = True  # noqa: SLF001 - as `trimtab server start` opens it
    writer_thread = harness.running._writer._thread  # noqa: SLF001
    closed_while_running: list[bool] = []
    close = harness.store.close

    def recording_close() -> None:
        closed_while_running.append(writer_thread.is_alive())
        close()

    harness.store.close = recording_close  # type: ignore[method-assign]
    in_flight = harness.ingest.SendBatch.future(event_batch("b1", 25), metadata=harness.agent)
    assert gate.entered.wait(30)
    started = time.monotonic()
    try:
        with caplog.at_level(logging.ERROR, logger="server.serve"):
            harness.running.stop(0.3)  # the write never ends within it
        assert time.monotonic() - started < 2.0
        assert closed_while_running == []
        assert "the ingest writer still busy past the grace" in caplog.text
    finally:
        gate.release.set()
        in_flight.cancel()
        writer_thread.join(10)
