"""A workspace's successful poll is stored (`workspaces.polled_ok_at_ms`), so a restarted server's
metrics tell how long ago a poll last worked, not how long ago the server started; at most once a
`POLL_RECORD_EVERY_S`, so the polls every few seconds while an application's end waits do not each
write. Workspace ``w`` (the conftest's) has no projects: its poll works without calling Databricks."""

from __future__ import annotations

from server.clock import FakeClock
from server.collect.collector import POLL_RECORD_EVERY_S, Collector
from server.databricks import DatabricksGateway
from server.domain import Workspace
from server.store import Store
from server.store.counts import workspace_counts


def _no_gateway(workspace: Workspace) -> DatabricksGateway:
    raise AssertionError(f"workspace {workspace.name} has nothing to collect: no call is due")


def test_a_poll_that_worked_is_stored_at_most_once_a_minute(store: Store) -> None:
    clock = FakeClock()
    collector = Collector(store, _no_gateway, clock=clock, poll_interval_s=5)
    first = clock.now_ms()
    collector.poll_once()
    assert workspace_counts(store)["w"].polled_ok_at_ms == first
    clock.advance(POLL_RECORD_EVERY_S - 1)
    collector.poll_once()
    assert workspace_counts(store)["w"].polled_ok_at_ms == first
    clock.advance(1)
    collector.poll_once()
    assert workspace_counts(store)["w"].polled_ok_at_ms == clock.now_ms()
