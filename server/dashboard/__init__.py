"""The read-only web dashboard: `trimtab server start --http ADDR` (see `server.serve`)."""

from __future__ import annotations

import logging

from server.dashboard.app import Dashboard
from server.errors import FailedPrecondition
from server.readiness import Readiness
from server.store import Store

log = logging.getLogger(__name__)

__all__ = ["Dashboard", "serve_dashboard"]


def serve_dashboard(store: Store, addr: str, readiness: Readiness | None = None) -> Dashboard:
    """Serve the dashboard on ``host:port`` (port 0 picks a free one) in a background thread."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise FailedPrecondition(f"dashboard address {addr!r} is not host:port")
    try:
        dashboard = Dashboard(store, host.strip("[]") or "127.0.0.1", int(port), readiness=readiness)
    except OSError as exc:
        raise FailedPrecondition(f"cannot serve the dashboard on {addr}: {exc}") from exc
    log.info("trimtab dashboard on %s", dashboard.url)
    return dashboard
