"""Ingest: one writer thread that group-commits concurrent batches.

Many agents call `IngestWriter.submit` at once from gRPC handler threads.
Each call queues its batch and waits; the single writer thread takes
whatever is queued (up to ``group_batches``) and stores it in ONE
transaction with `store.ingest.write`, then wakes every caller with its own
result. One writer means SQLite never sees competing writers (no lock
thrash) and one commit — one fsync — serves many agents; callers are
answered only after the commit, so an acknowledgement is never false.

If a group fails for a reason other than the database being unavailable,
its batches are retried one by one so that one bad batch cannot fail the
others. If the queue is full, `submit` fails at once with `Unavailable`
(back-pressure: the agent retries later) rather than buffering in memory.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from server.domain import IngestBatch, IngestResult
from server.errors import Unavailable
from server.store import PreparedBatch, Store

log = logging.getLogger(__name__)

_STOP = object()


# What `submit` takes: a batch, its rows, or a function that makes its rows (run on the writer thread).
Submission = IngestBatch | PreparedBatch | Callable[[], PreparedBatch]


@dataclass
class _Pending:
    batch: Submission
    future: Future[IngestResult]


class IngestWriter:
    def __init__(self, store: Store, *, group_batches: int = 64, queue_batches: int = 1024,
                 retry_after_ms: int = 200) -> None:
        self._store = store
        self._group = max(1, group_batches)
        self._queue: queue.Queue[_Pending | object] = queue.Queue(maxsize=max(1, queue_batches))
        self._retry_after_ms = retry_after_ms
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trimtab-ingest-writer", daemon=True)
        self._thread.start()

    def prepare(self, batch: IngestBatch) -> PreparedBatch:
        """Build `batch`'s rows on the caller's thread (see `submit`)."""
        return self._store.ingest.prepare(batch)

    def submit(self, batch: Submission, timeout: float | None = None) -> IngestResult:
        """Store `batch`; returns once it is committed. Raises `Unavailable` when
        the database cannot take it now (the caller should retry), or whatever
        a rows-making function raises (e.g. `InvalidArgument`), for that batch only.

        A function is called on the writer thread. That is on purpose for the
        gRPC path: making rows is pure Python, and Python threads making rows
        next to the writer contend for the GIL (each row the database inserts
        hands the GIL over), which measured slower the more agents sent at once."""
        if self._closed.is_set():
            raise Unavailable("server is shutting down", retry_after_ms=self._retry_after_ms)
        pending = _Pending(batch, Future())
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            raise Unavailable("ingest queue is full", retry_after_ms=self._retry_after_ms) from None
        try:
            return pending.future.result(timeout=timeout)
        except TimeoutError:
            # Still queued or being written: it may yet commit, and a resend is de-duplicated.
            raise Unavailable("timed out waiting for the database",
                              retry_after_ms=self._retry_after_ms) from None

    def close(self, timeout: float | None = None) -> None:
        """Store what is queued, then stop the writer thread."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            stop = False
            # Take whatever else is already waiting: that is the group commit.
            while len(group) < self._group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                group.append(item)
            self._write([g for g in group if isinstance(g, _Pending)])
            if stop:
                return

    def _write(self, group: list[_Pending]) -> None:
        group = [p for p in group if self._rows_made(p)]
        if not group:
            return
        try:
            results = self._store.ingest.write([p.batch for p in group])
        except Unavailable as exc:
            for p in group:
                p.future.set_exception(exc)
            return
        except Exception as exc:
            if len(group) == 1:
                batch = group[0].batch
                batch_id = batch.batch.batch_id if isinstance(batch, PreparedBatch) else batch.batch_id
                log.exception("ingest of batch %s failed", batch_id)
                group[0].future.set_exception(exc)
                return
            for p in group:
                self._write([p])
            return
        for p, result in zip(group, results, strict=True):
            p.future.set_result(result)

    @staticmethod
    def _rows_made(p: _Pending) -> bool:
        """Make the rows of a batch submitted as a function; False (and the caller told) if that fails."""
        if callable(p.batch):
            try:
                p.batch = p.batch()
            except Exception as exc:  # bad input: only this batch fails
                p.future.set_exception(exc)
                return False
        return True
