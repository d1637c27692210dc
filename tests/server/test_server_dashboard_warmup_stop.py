"""A shutdown keeps its grace when the dashboard's warm-up is stuck in the database (a review: it
waited for the database's own 60 s deadline, so a process manager would SIGKILL the server)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from server.config import ServerConfig
from server.dashboard import views
from server.serve import STOP_FLOOR_S, start_server
from server.store import Store


def test_a_stuck_warm_up_is_left_behind_within_the_grace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    entered, release = threading.Event(), threading.Event()

    def stuck(store: Store, stop: threading.Event | None = None) -> list[views.ProjectRow]:
        # As a read on a database that stopped answering: no look at `stop` until it returns.
        entered.set()
        release.wait(30)
        return []

    monkeypatch.setattr(views, "project_rows", stuck)
    running = start_server(ServerConfig(listen="127.0.0.1:0", http="127.0.0.1:0", state_dir=tmp_path / "state",
                                        collect=0))
    try:
        assert entered.wait(10), "the warm-up did not start"
        caplog.set_level(logging.ERROR, logger="server.serve")
        start = time.monotonic()
        running.stop(grace=0.5)
        took = time.monotonic() - start
        # The grace, then the floor the dashboard's share may take: never the database's deadline.
        assert took < 0.5 + STOP_FLOOR_S + 2.0, took
        assert any("the dashboard's warm-up" in r.getMessage() and "still busy past the grace" in r.getMessage()
                   for r in caplog.records), [r.getMessage() for r in caplog.records]
    finally:
        release.set()
    running.dashboard._warming.join(10)
    assert not running.dashboard._warming.is_alive()


def test_a_healthy_warm_up_ends_with_the_server(tmp_path: Path) -> None:
    running = start_server(ServerConfig(listen="127.0.0.1:0", http="127.0.0.1:0", state_dir=tmp_path / "state",
                                        collect=0))
    start = time.monotonic()
    running.stop(grace=2.0)
    assert time.monotonic() - start < 5.0
    assert running.dashboard._warming is not None and not running.dashboard._warming.is_alive()
