"""A poll of a workspace's old host does not mark it after `workspace set --host` re-pointed it
(fresh-clone review, ninth session): the poll that started before the re-point wrote `unreachable`
and the old host's error on the workspace an owner had just seen `ok`, and rested it for minutes
(SQLite and PostgreSQL)."""

from __future__ import annotations

from server.clock import FakeClock
from server.collect.health import UNREACHABLE, WorkspaceHealth
from server.databricks import DatabricksUnavailable, WorkspaceAuthError
from server.domain import Workspace
from server.store import Store

OLD, NEW = "http://127.0.0.1:45383", "http://127.0.0.1:41583"


def _added(store: Store) -> Workspace:
    return store.workspaces.add(Workspace(name="sb", host=OLD, cloud="aws"), "enc")


def test_a_verdict_on_the_old_host_is_not_recorded_on_the_new_one(store: Store) -> None:
    polled = _added(store)  # the poll's copy, at the old host
    health = WorkspaceHealth(store, FakeClock(), poll_interval_s=60.0)
    store.workspaces.set_host("sb", NEW, "enc2", "****")  # re-pointed while the poll waits
    health.unreachable(polled, DatabricksUnavailable(f"cannot reach {OLD}: connection refused"))
    health.refused(polled, WorkspaceAuthError(f"{OLD} refused the token"))
    now = store.workspaces.get("sb")
    assert (now.host, now.status, now.last_error) == (NEW, "ok", "")
    assert not health.resting_now(now) and not health.was_unreachable(now)


def test_a_rest_ends_when_the_workspace_is_re_pointed(store: Store) -> None:
    polled = _added(store)
    clock = FakeClock()
    health = WorkspaceHealth(store, clock, poll_interval_s=60.0)
    health.unreachable(polled, DatabricksUnavailable(f"cannot reach {OLD}"))
    down = store.workspaces.get("sb")
    assert down.status == UNREACHABLE and health.resting_now(down)
    # Re-pointed through another path that left the status as it was: the new host is tried now.
    moved = Workspace(**{**down.__dict__, "host": NEW})
    assert not health.resting_now(moved)
    # The same host, still unreachable: the rest holds.
    health.unreachable(down, DatabricksUnavailable(f"cannot reach {OLD}"))
    assert health.resting_now(store.workspaces.get("sb"))
