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

`stalled` says when batches have waited long without a commit (a database
that stopped answering: the server's health then says NOT_SERVING), `commits`
counts the writer's commits (health says SERVING again only after one, or
after the database answers a check: `server.serve._StallWatcher`), and
`close` gives up after its timeout, answering every batch still waiting with
`Unavailable`, so a stuck database cannot hold the server's shutdown.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
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
        self._current: list[_Pending] = []  # the group being written
        # For `stalled`, under _state: batches submitted and not answered yet; since when batches
        # have waited without the writer making progress (None: nothing waits, or the last answer
        # was progress); when the last one was answered without progress (an unavailable database:
        # agents resending continue the same wait); and where that wait resumed after a quiet
        # period, as (when, how long it was quiet), the quiet periods strictly shorter the later
        # they are, so the latest one at least as long as `stalled`'s threshold is found (a quiet
        # period that long ends the wait: the next batch starts a new one).
        self._state = threading.Lock()
        self._outstanding = 0
        self._waiting_since: float | None = None
        self._idle_since: float | None = None
        self._resumed: list[tuple[float, float]] = []
        self._commits = 0  # groups committed (`commits`)
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
        self._submitted()
        # Counted before it is queued and until it is answered, however (the writer, `close`, or a
        # full queue below): a batch the writer has not taken yet is waiting too.
        pending.future.add_done_callback(self._answered)
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            full = Unavailable("ingest queue is full", retry_after_ms=self._retry_after_ms)
            _settle(pending.future, error=full)
            raise full from None
        try:
            return pending.future.result(timeout=timeout)
        except TimeoutError:
            # Still queued or being written: it may yet commit, and a resend is de-duplicated.
            raise Unavailable("timed out waiting for the database",
                              retry_after_ms=self._retry_after_ms) from None

    def stalled(self, seconds: float) -> bool:
        """True when batches have waited ``seconds`` without the writer making progress (a commit,
        or a batch refused for its own content), while batches are still queued, being written or
        sent. Failures because the database is unavailable are no progress: agents resending into
        a database that refuses them are a stalled ingest too."""
        now = time.monotonic()
        with self._state:
            since = self._waiting_since
            if since is None:
                return False
            if self._outstanding == 0 and self._idle_since is not None and now - self._idle_since >= seconds:
                return False  # agents stopped resending: nothing waits
            for resumed, quiet in reversed(self._resumed):  # latest first
                if quiet >= seconds:
                    since = resumed  # what waited before that quiet period is another wait
                    break
        return now - since >= seconds

    def commits(self) -> int:
        """How many groups the writer has committed so far. `stalled` turning False is no proof that
        the database answers again (it also turns False when agents stop resending into an outage);
        a count that moved is."""
        with self._state:
            return self._commits

    # Bound on `_resumed` (it only grows while each quiet period is shorter than the one before).
    _MAX_RESUMED = 64

    def _submitted(self) -> None:
        now = time.monotonic()
        with self._state:
            self._outstanding += 1
            if self._outstanding > 1:
                return
            if self._waiting_since is None:
                self._waiting_since = now
            elif self._idle_since is not None:
                quiet = now - self._idle_since
                while self._resumed and self._resumed[-1][1] <= quiet:
                    self._resumed.pop()
                if len(self._resumed) >= self._MAX_RESUMED:
                    self._resumed.pop()
                self._resumed.append((now, quiet))
            self._idle_since = None

    def _answered(self, future: Future[IngestResult]) -> None:
        """A batch was answered: progress (stored, or refused for its own content) or not (the
        database unavailable, or the server shutting down)."""
        error = None if future.cancelled() else future.exception()
        now = time.monotonic()
        with self._state:
            self._outstanding -= 1
            if not isinstance(error, Unavailable):
                self._waiting_since = now if self._outstanding else None
                self._resumed.clear()
                self._idle_since = None
            elif self._outstanding == 0:
                self._idle_since = now

    def close(self, timeout: float | None = None) -> bool:
        """Store what is queued, then stop the writer thread; False when that took longer than
        ``timeout`` (the database not answering): every batch still waiting is then answered
        `Unavailable` (not acknowledged: its agent resends it), and the thread is left behind."""
        if self._closed.is_set():
            return not self._thread.is_alive()
        self._closed.set()
        with contextlib.suppress(queue.Full):  # then the writer stops once the queue is empty (`_run`)
            self._queue.put_nowait(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive() and not self._current:
            # Not writing, only not scheduled yet since the stop (a timeout of 0): it ends at once.
            self._thread.join(1.0)
        done = not self._thread.is_alive()
        # Batches submitted as it stopped, and when it did not finish, those it holds.
        left = [*self._current, *self._drain()] if not done else self._drain()
        if not done:
            log.error("ingest writer did not finish within %.1fs (database not answering?): %d batches not "
                      "stored and not acknowledged; their agents resend them", timeout or 0.0, len(left))
        shutting = Unavailable("server is shutting down", retry_after_ms=self._retry_after_ms)
        for p in left:
            _settle(p.future, error=shutting)
        return done

    def _drain(self) -> list[_Pending]:
        out: list[_Pending] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return out
            if isinstance(item, _Pending):
                out.append(item)

    def _run(self) -> None:
        while True:
            try:
                # Bounded wait: once closed, a queue that was too full for the stop marker ends here.
                first = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self._closed.is_set():
                    return
                continue
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
            pending = [g for g in group if isinstance(g, _Pending)]
            self._current = pending
            try:
                self._write(pending)
            finally:
                self._current = []
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
                _settle(p.future, error=exc)
            return
        except Exception as exc:
            if len(group) == 1:
                batch = group[0].batch
                batch_id = batch.batch.batch_id if isinstance(batch, PreparedBatch) else batch.batch_id
                log.exception("ingest of batch %s failed", batch_id)
                _settle(group[0].future, error=exc)
                return
            for p in group:
                self._write([p])
            return
        with self._state:
            self._commits += 1
        for p, result in zip(group, results, strict=True):
            _settle(p.future, result=result)

    def _rows_made(self, p: _Pending) -> bool:
        """Make the rows of a batch submitted as a function; False (and the caller told) if that fails."""
        if callable(p.batch):
            try:
                p.batch = p.batch()
            except Exception as exc:  # bad input: only this batch fails
                _settle(p.future, error=exc)
                return False
        return True


def _settle(future: Future[IngestResult], result: IngestResult | None = None,
            error: BaseException | None = None) -> None:
    """Answer a caller once: `close` may have answered it already (shutting down)."""
    with contextlib.suppress(InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]
