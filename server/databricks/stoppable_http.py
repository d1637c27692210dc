"""urllib3 connections whose GET waiting for its answer ends when the calling thread's stop is set.

A host that took the connection and never answers (or a slow answer) held the read for the request's
whole HTTP timeout, up to 30 s, after the server was asked to stop. The read is where a thread waits
on the host, so it is there that the connection registers with the thread's `CallStop`, which shuts
it when set (`server.databricks.call_stop`). Only GETs: a POST already sent is left to its answer,
so that what it changed is known.
"""

from __future__ import annotations

from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

from server.databricks.call_stop import CallStop, current_stop


class _StoppableRead:
    """Mixed into urllib3's connections: their response read tracked by this thread's `CallStop`."""

    sock: Any
    _method: str | None

    def getresponse(self) -> Any:
        stop = current_stop()
        sock = self.sock
        if not isinstance(stop, CallStop) or sock is None or getattr(self, "_method", None) != "GET":
            return super().getresponse()  # type: ignore[misc]
        with stop.tracking(sock):
            return super().getresponse()  # type: ignore[misc]


class _StoppableHTTPConnection(_StoppableRead, HTTPConnection):
    pass


class _StoppableHTTPSConnection(_StoppableRead, HTTPSConnection):
    pass


class _StoppableHTTPPool(HTTPConnectionPool):
    ConnectionCls = _StoppableHTTPConnection


class _StoppableHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _StoppableHTTPSConnection


def make_stoppable(manager: PoolManager) -> None:
    """``manager``'s pools (made from now on) use the stoppable connections."""
    manager.pool_classes_by_scheme = {"http": _StoppableHTTPPool, "https": _StoppableHTTPSPool}
