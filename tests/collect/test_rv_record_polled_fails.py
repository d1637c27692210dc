"""The bookkeeping write of a good poll (`workspaces.polled_ok_at_ms`, once a minute) failing (a locked or
slow database) failed the poll that worked: on_workspace_polled(False), so poll_failures_total + 1 and the
workspace's trouble (review owndiff 2). Now it is a warning, said at most every `SAY_AGAIN_S`, and the poll
counts as worked; a later poll stores the time."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from server.clock import FakeClock
from server.collect.collector import Collector
from server.collect.poll_record import POLL_RECORD_EVERY_S, SAY_AGAIN_S
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.errors import Unavailable
from server.store import Store, open_store
from server.store.counts import workspace_counts
from server.store.urls import sqlite_file

NOT_STORED = "the poll worked but its time was not stored"


def _no_gateway(workspace: Workspace) -> DatabricksGateway:
    raise AssertionError(f"workspace {workspace.name} has nothing to collect: no call is due")


def test_record_polled_failure_fails_no_poll(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, bool]] = []
    collector = Collector(store, _no_gateway, clock=FakeClock(), poll_interval_s=5,
                          on_workspace_polled=lambda name, ok: seen.append((name, ok)))

    def locked(*_args: Any, **_kwargs: Any) -> None:
        raise Unavailable("database is locked")
    monkeypatch.setattr(store.workspaces, "record_polled", locked)
    collector.poll_once()
    assert seen == [("w", True)], "a poll that collected fine is reported failed because its timestamp write failed"


@pytest.fixture
def quick_store(migrated_db_url: str) -> Iterator[tuple[Store, str]]:
    """A store whose writes wait at most 0.2 s for a lock (busy timeout, PostgreSQL's lock_timeout), with ``w``."""
    opened = open_store(migrated_db_url, upgrade=False, busy_timeout_ms=200)
    opened.workspaces.add(Workspace(name="w", host="http://x", cloud="aws"), "tok", "creds")
    try:
        yield opened, migrated_db_url
    finally:
        opened.close()


@contextmanager
def _workspace_row_locked(url: str) -> Iterator[None]:
    """Another writer holding the lock ``record_polled`` needs: SQLite's write lock, ``w``'s row on PostgreSQL."""
    path = sqlite_file(url)
    if path is not None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
    else:
        connection = psycopg.connect(url)  # type: ignore[assignment]
        connection.execute("SELECT 1 FROM workspaces WHERE name = 'w' FOR UPDATE")
    try:
        yield
    finally:
        connection.rollback()
        connection.close()


def test_a_locked_database_at_the_record_fails_no_poll_and_is_said_once(
        quick_store: tuple[Store, str], caplog: pytest.LogCaptureFixture) -> None:
    store, url = quick_store
    clock = FakeClock()
    seen: list[tuple[str, bool]] = []
    polls: list[tuple[bool | None, str]] = []
    collector = Collector(store, _no_gateway, clock=clock, poll_interval_s=5,
                          on_workspace_polled=lambda name, ok: seen.append((name, ok)))
    collector.on_poll = lambda worked, why: polls.append((worked, why))
    caplog.set_level(logging.INFO, logger="server.collect.collector")
    with _workspace_row_locked(url):
        collector.poll_once()
        clock.advance(POLL_RECORD_EVERY_S)  # due again, and failing again: not said again so soon
        collector.poll_once()
    assert seen == [("w", True), ("w", True)]
    assert polls == [(True, ""), (True, "")]
    said = [r for r in caplog.records if NOT_STORED in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    assert workspace_counts(store)["w"].polled_ok_at_ms is None
    clock.advance(POLL_RECORD_EVERY_S)  # unlocked: the next poll due stores it
    collector.poll_once()
    assert workspace_counts(store)["w"].polled_ok_at_ms == clock.now_ms()
    assert any("stored again" in r.getMessage() for r in caplog.records)


def test_a_write_still_failing_is_said_again_after_a_while(
        quick_store: tuple[Store, str], caplog: pytest.LogCaptureFixture) -> None:
    store, url = quick_store
    clock = FakeClock()
    collector = Collector(store, _no_gateway, clock=clock, poll_interval_s=5)
    caplog.set_level(logging.WARNING, logger="server.collect.collector")
    with _workspace_row_locked(url):
        collector.poll_once()
        clock.advance(SAY_AGAIN_S)
        collector.poll_once()
    assert len([r for r in caplog.records if NOT_STORED in r.getMessage()]) == 2
