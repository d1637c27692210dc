"""A 403 on one job's calls (its permissions changed after the import) while the token works.

Before: a 403 on ``runs/get`` or ``clusters/get`` was taken for the token refused (the workspace's
status ``error``, no job collected, the workspace rested up to 30 minutes), and a 403 on
``jobs/get`` was only logged: the job went uncollected, poll after poll, with the workspace ``ok``
and nothing in `workspace show`. Now each is that job's trouble, named as a 5xx job's is."""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.collect import Collector
from server.databricks import DatabricksGateway, WorkspaceAuthError
from server.databricks.gateway import DatabricksPermissionDenied
from server.domain import Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING

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


@pytest.mark.parametrize("method,endpoint", [
    ("GET", "jobs/get"), ("GET", "jobs/runs/list"), ("GET", "jobs/runs/get"), ("GET", "clusters/get"),
    ("POST", "clusters/events")])
def test_a_403_on_one_jobs_call_is_that_jobs_trouble_named_on_the_workspace(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        connected: Workspace, job_ids: list[int], integration_clock: FakeClock, method: str, endpoint: str) -> None:
    result = workspaces.import_jobs(store, secrets, "sbx", job_ids[:2], wiring=WIRING)
    projects = {p.project.job_id: p.project for p in result.projects}
    a, b = job_ids[0], job_ids[1]
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=integration_clock,
                          poll_interval_s=POLL_S)
    collector.poll_once()
    run_a = _run_and_wait(emulator, gateway, a)
    run_b = _run_and_wait(emulator, gateway, b)
    params: dict[str, object] = {"job_id": a}
    if endpoint == "jobs/runs/get":
        params = {"run_id": run_a}
    elif endpoint.startswith("clusters/"):
        params = {"cluster_id": _cluster_of(gateway, run_a)}
    fault = emulator.inject_fault(method, endpoint, status=403, error_code="PERMISSION_DENIED", **params)

    collected = collector.poll_once()
    assert emulator.fault_hits >= 1
    # The other job is collected; the workspace stays ok and names the job that is not, and why.
    assert {r.databricks_run_id for r in collected} == {run_b}
    ws = store.workspaces.get("sbx")
    assert ws.status == "ok", ws.last_error
    assert f"job {a} ({projects[a].job_name}) not collected: " in ws.last_error, ws.last_error
    assert "the token's principal" in ws.last_error and "CAN_VIEW" in ws.last_error, ws.last_error
    assert store.runs.list(int(projects[a].id or 0)) == []

    # Its permission back: once its rest is over, it is collected and the note goes.
    emulator.clear_fault(fault)
    integration_clock.advance(POLL_S)
    assert {r.databricks_run_id for r in collector.poll_once()} == {run_a}
    ws = store.workspaces.get("sbx")
    assert (ws.status, ws.last_error) == ("ok", "")


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
