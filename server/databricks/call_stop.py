"""Databricks calls that end when their thread's owner stops (the collector, at server shutdown).

A thread inside `calls_end_on(stop)` has its Databricks calls end with `CallStopped` once ``stop``
is set: a wait between two tries (the SDK's and the gateway's own) wakes within `STOP_SLICE_S`, no
new request is sent, and a GET waiting for its answer has its connection shut when ``stop`` is a
`CallStop` (`server.databricks.stoppable_http`). A POST already sent is left to its answer or its
timeout: what it changed in the workspace must be known. Without this a server stopped during a
Databricks outage waited its whole grace on the collector's retries and logged that the collector
was still busy, leaving the database open.

Standard library only: the collector imports it, and databricks-sdk loads only with a gateway.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from server.clock import Clock

# How often a wait between tries looks at the stop: the longest a stop waits for it.
STOP_SLICE_S = 0.1

_CURRENT = threading.local()


class CallStopped(BaseException):  # noqa: N818 (not an error: the thread's owner asked it to stop)
    """This thread's Databricks call ended without an answer because its owner stops.

    A BaseException, as KeyboardInterrupt is: the handlers that take a failed call for the
    workspace's trouble (marking it unreachable) or log it with a traceback catch Exception, and a
    stop is neither. Context managers and ``finally`` blocks still run on the way out."""


class CallStop(threading.Event):
    """An Event whose `set` also shuts the connections of the GETs waiting on it (`tracking`)."""

    def __init__(self) -> None:
        super().__init__()
        self._guard = threading.Lock()
        self._waiting: set[socket.socket] = set()

    def set(self) -> None:
        super().set()
        with self._guard:
            waiting = list(self._waiting)
        for sock in waiting:
            _shut(sock)

    @contextlib.contextmanager
    def tracking(self, sock: socket.socket) -> Iterator[None]:
        """Within the block, `set` shuts ``sock`` (a read on it then ends at once)."""
        with self._guard:
            self._waiting.add(sock)
        try:
            if self.is_set():  # set just before: its shutting missed this socket
                _shut(sock)
            yield
        finally:
            with self._guard:
                self._waiting.discard(sock)


def _shut(sock: socket.socket) -> None:
    # shutdown, not close: it wakes a read blocked in another thread, and the socket's owner
    # (urllib3) still closes it.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def calls_end_on(stop: threading.Event | None) -> Iterator[None]:
    """Within the block, this thread's Databricks calls end with `CallStopped` once ``stop`` is set
    (None: they run to their answer or deadline, `calls_run_through`)."""
    before = getattr(_CURRENT, "stop", None)
    _CURRENT.stop = stop
    try:
        yield
    finally:
        _CURRENT.stop = before


def calls_run_through() -> contextlib.AbstractContextManager[None]:
    """Within the block, this thread's Databricks calls run to their answer or deadline, whatever its
    stop: for a plan and its auto-apply (the reads before the write, the write, its check). A stop
    there ended the apply between storing the recommendation and writing it, and nothing applied it
    later (no failure was recorded to retry, and the run had its plan): the next run used the old
    cluster with nothing said (review owndiff). The collector stops after it, at its next clean point."""
    return calls_end_on(None)


def current_stop() -> threading.Event | None:
    """The stop this thread's calls end on (None: they run to their answer or their deadline)."""
    stop: threading.Event | None = getattr(_CURRENT, "stop", None)
    return stop


def raise_if_stopped() -> None:
    stop = current_stop()
    if stop is not None and stop.is_set():
        raise CallStopped("the Databricks call ended: stopping")


def stoppable_sleep(clock: Clock, seconds: float) -> None:
    """``clock.sleep(seconds)``, in slices that end early with `CallStopped` once this thread's stop
    is set. On the injected clock, so a FakeClock still advances at once."""
    stop = current_stop()
    if stop is None:
        clock.sleep(seconds)
        return
    end = clock.monotonic() + seconds
    while True:
        raise_if_stopped()
        left = end - clock.monotonic()
        if left <= 0:
            return
        clock.sleep(min(STOP_SLICE_S, left))
