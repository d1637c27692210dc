"""A 403 on one job's calls (its permissions changed after the import) while the token works.

Before: a 403 on ``runs/get`` or ``clusters/get`` was taken for the token refused (the workspace's
status ``error``, no job collected, the workspace rested up to 30 minutes)."""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway, WorkspaceAuthError
from server.databricks.gateway import DatabricksPermissionDenied
from server.store import Store

POLL_S = 60.0


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: the engine does not matter here."""
    return sqlite_store


def _run_and_wait(emulator: RunningWorkspace, gateway: DatabricksGateway, job_id: int) -> int:
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    return run_id


def _cluster_of(gateway: DatabricksGateway, run_id: int) -> str:
    return str(gateway.get_run(run_id)["tasks"][0]["cluster_instance"]["cluster_id"])


def test_a_403_on_a_run_or_cluster_is_permission_denied_unless_the_token_is_refused(
        emulator: RunningWorkspace, gateway: DatabricksGateway, job_ids: list[int]) -> None:
    run_id = _run_and_wait(emulator, gateway, job_ids[0])
    cluster_id = _cluster_of(gateway, run_id)
    emulator.inject_fault("GET", "jobs/runs/get", status=403, error_code="PERMISSION_DENIED", run_id=run_id)
    emulator.inject_fault("GET", "clusters/get", status=403, error_code="PERMISSION_DENIED", cluster_id=cluster_id)
    with pytest.raises(DatabricksPermissionDenied, match=f"may not read run {run_id} .*CAN_VIEW"):
        gateway.get_run(run_id)
    with pytest.raises(DatabricksPermissionDenied, match=f"may not read cluster {cluster_id}"):
        gateway.get_cluster(cluster_id)
    # A token refused outright is still the workspace's trouble.
    emulator.revoke_token(emulator.token)
    with pytest.raises(WorkspaceAuthError, match="refused the token"):
        gateway.get_run(run_id)
    with pytest.raises(WorkspaceAuthError, match="refused the token"):
        gateway.get_cluster(cluster_id)
