"""A database that cannot be reached makes the collector say so in one line per poll, not a traceback."""

from __future__ import annotations

import logging
import threading

import pytest

from server.clock import SystemClock
from server.collect import Collector
from server.store import Store
from server.store import engine as db


def test_a_poll_without_the_database_logs_one_warning_line(caplog: pytest.LogCaptureFixture) -> None:
    # Review: 17 multi-line tracebacks in 40 s (a 2 s interval) while the database was down.
    engine = db.make_engine("postgresql://trimtab@/trimtab?host=/nonexistent-trimtab-socket-dir")
    store = Store(engine, SystemClock())
    stop = threading.Event()
    collector = Collector(store, lambda ws: None, clock=SystemClock(), poll_interval_s=30.0)
    caplog.set_level(logging.WARNING, logger="server.collect")
    try:
        def once() -> None:
            stop.set()
            collector.wake()

        collector.run_forever(stop, after_poll=once)  # one poll
    finally:
        engine.dispose()
    (record,) = [r for r in caplog.records if "poll" in r.getMessage()]
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage().startswith("collector poll skipped: database unavailable")
    assert "next try in 30s" in record.getMessage()
