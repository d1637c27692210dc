"""Collection of a workspace where Databricks' answers hold a NUL character (JSON ``\\u0000``): PostgreSQL
text columns cannot hold NUL, and one run's cluster id with it, or one job's error message with it,
failed the write and with it the poll of the whole workspace ("poll failed": no run of any job stored,
its status never updated) on PostgreSQL. The store keeps such text with NUL made U+FFFD
(`server.store.convert.storable_row`), so every job is collected on both engines."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.faults import Fault
from server.clock import FakeClock
from server.collect.health import WorkspaceHealth
from server.databricks import DatabricksGateway, WorkspaceAuthError
from server.domain import Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING, priced_collector


def _workspace_updates(store: Store) -> tuple[list[str], Any]:
    """The UPDATEs of workspaces the store makes from now on, and how to stop listening."""
    updates: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE WORKSPACES"):
            updates.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    return updates, lambda: sa.event.remove(store.engine, "before_cursor_execute", seen)


def test_a_run_with_nul_in_its_cluster_id_and_message_is_collected_with_the_other_jobs(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    workspaces.import_jobs(store, secrets, "sbx", job_ids[:2], wiring=WIRING)
    odd, plain = gateway.run_now(job_ids[0]), gateway.run_now(job_ids[1])
    assert emulator.wait_idle(60)
    with emulator.workspace.store.lock:  # as Databricks would answer it in runs/get
        run = emulator.workspace.store.data["runs"][str(odd)]
        failed = {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "no\x00such"}
        run["state"] = dict(failed)
        for task in run["tasks"]:
            task["state"] = dict(failed)
            task["cluster_instance"]["cluster_id"] = "c\x00" + task["cluster_instance"]["cluster_id"]
        emulator.workspace.store.save()

    collected = priced_collector(store, secrets).poll_once()

    # Was, on PostgreSQL: [] ("workspace sbx: poll failed ... PostgreSQL text fields cannot contain NUL").
    assert {r.databricks_run_id for r in collected} == {odd, plain}
    (stored,) = [store.runs.get(r.id or 0) for r in collected if r.databricks_run_id == odd]
    assert stored.cluster_id.startswith("c\ufffd") and stored.message == "no\ufffdsuch"  # alike on both engines
    assert store.workspaces.get("sbx").status == "ok"


def test_a_job_failing_with_nul_in_its_error_is_named_and_the_others_are_collected(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int]) -> None:
    workspaces.import_jobs(store, secrets, "sbx", job_ids[:2], wiring=WIRING)
    collector = priced_collector(store, secrets)
    for endpoint in ("jobs/get", "jobs/runs/list"):
        emulator.server.faults.add(Fault("GET", endpoint, {"job_id": str(job_ids[0])}, 403, "PERMISSION_DENIED",
                                         "no\x00access"))
    plain = gateway.run_now(job_ids[1])
    assert emulator.wait_idle(60)

    collected = collector.poll_once()

    # Was, on PostgreSQL: the workspace's last_error (naming the failing job with Databricks' words) could
    # not be written, and the poll failed after the other job's runs were stored: none was returned or planned.
    assert {r.databricks_run_id for r in collected} == {plain}
    workspace = store.workspaces.get("sbx")
    assert workspace.status == "ok" and f"job {job_ids[0]} " in workspace.last_error
    assert "no\ufffdaccess" in workspace.last_error

    # The note is compared as stored (NUL made U+FFFD): unchanged, it is not written again at every poll.
    updates, stop = _workspace_updates(store)
    try:
        assert collector.poll_once() == []
    finally:
        stop()
    assert updates == [] and store.workspaces.get("sbx").last_error == workspace.last_error


def test_a_refusal_with_nul_in_its_words_is_recorded_once_and_said_once(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.workspaces.add(Workspace(name="sbx", host="https://sbx", cloud="aws"), "tok")
    clock = FakeClock()
    health = WorkspaceHealth(store, clock, poll_interval_s=60)
    refusal = WorkspaceAuthError("Invalid access token: dapi\x00…")
    updates, stop = _workspace_updates(store)
    try:
        for _ in range(3):  # each poll reads the workspace as stored, and tries again once its rest is over
            health.refused(store.workspaces.get("sbx"), refusal)
            clock.advance(3600)
    finally:
        stop()
    workspace = store.workspaces.get("sbx")
    assert (workspace.status, workspace.last_error) == ("error", "Invalid access token: dapi\ufffd…")
    # Was: written again, and logged as an error, at every try (the stored words never equalled the new ones).
    assert len(updates) == 1
    assert [r.levelname for r in caplog.records if "Invalid access token" in r.getMessage()] == ["ERROR"]
