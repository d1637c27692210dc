"""Rate limiting (429 + Retry-After) and a revoked token, against the emulator."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sandbox.workspace import RunningWorkspace, start_workspace
from server.clock import SystemClock
from server.collect import Collector
from server.databricks import DatabricksGateway, DatabricksUnavailable, GatewayConfig, WorkspaceAuthError
from server.domain import ClusterConfig, Recommendation, Workspace
from server.services import recommendations, workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: the engine does not matter here (import, cycle and collection run on both)."""
    return sqlite_store


class SharedFakeClock:
    """One fake time for both sides: the gateway's waits move the emulator's rate-limit window."""

    def __init__(self, start: float = 1_760_000_000.0) -> None:
        self._t = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    # server.clock.Clock
    def now_ms(self) -> int:
        return int(self.time() * 1000)

    def monotonic(self) -> float:
        return self.time()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._advance(seconds)

    # sandbox.workspace.clock.Clock
    def time(self) -> float:
        with self._lock:
            return self._t

    def wait(self, event: threading.Event, timeout: float) -> bool:
        if not event.is_set():
            self._advance(timeout)
        return event.is_set()

    def _advance(self, seconds: float) -> None:
        with self._lock:
            self._t += max(0.0, seconds)


@pytest.fixture
def limited(tmp_path: Path) -> tuple[RunningWorkspace, SharedFakeClock, list[int]]:
    clock = SharedFakeClock()
    running = start_workspace(tmp_path / "limited", rate_limit=2, clock=clock)
    try:
        yield running, clock, running.seed_jobs()
    finally:
        running.stop()


def test_rate_limited_calls_wait_retry_after_on_the_clock_and_succeed(
        limited: tuple[RunningWorkspace, SharedFakeClock, list[int]]) -> None:
    running, clock, ids = limited
    gateway = DatabricksGateway(GatewayConfig(running.host, running.token, retry_timeout_s=120), clock=clock)
    start = clock.monotonic()
    jobs = [gateway.get_job(i) for i in ids]
    assert [j["job_id"] for j in jobs] == ids
    # 2 requests per second allowed: the calls were throttled and waited (in fake time) for Retry-After.
    assert clock.slept and min(clock.slept) >= 1.0
    assert clock.monotonic() - start >= (len(ids) - 2) / 2


def test_rate_limit_past_the_deadline_is_one_unavailable_error(
        limited: tuple[RunningWorkspace, SharedFakeClock, list[int]]) -> None:
    running, clock, ids = limited
    gateway = DatabricksGateway(GatewayConfig(running.host, running.token, retry_timeout_s=1), clock=clock)
    # The next Retry-After (1 s, plus the SDK's jitter) would end past the 1 s budget: no wait at all.
    with pytest.raises(DatabricksUnavailable, match=r"rate limited by the workspace .* \(HTTP 429, Retry-After 1s\)"):
        for job_id in ids * 2:
            gateway.get_job(job_id)


def test_revoked_token_stops_with_one_clear_error_on_the_workspace(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, connected: Workspace,
        job_ids: list[int]) -> None:
    (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING).projects
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=SystemClock())
    emulator.revoke_token(emulator.token)

    assert collector.poll_once() == []
    ws = store.workspaces.get("sbx")
    assert ws.status == "error" and "refused the token" in ws.last_error and "\n" not in ws.last_error
    with pytest.raises(WorkspaceAuthError, match="refused the token"):
        workspaces.import_jobs(store, secrets, "sbx", [], wiring=WIRING)
    store.recommendations.add(Recommendation(project_id=int(imported.project.id or 0),
                                             config=ClusterConfig(node_type_id="m5d.xlarge", num_workers=2)))
    with pytest.raises(WorkspaceAuthError, match="refused the token"):
        recommendations.apply_recommendation(store, secrets, str(imported.project.id))
    assert "token=" not in ws.last_error  # the SDK's config suffix is not passed on


def test_a_token_this_server_cannot_decrypt_marks_the_workspace_and_spares_the_others(
        store: Store, secrets: SecretBox, connected: Workspace, job_ids: list[int]) -> None:
    from cryptography.fernet import Fernet

    workspaces.import_jobs(store, secrets, "sbx", [job_ids[0]], wiring=WIRING)
    other_key = SecretBox(Fernet.generate_key())  # e.g. the server's key file was replaced
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, other_key, ws), clock=SystemClock())
    assert collector.poll_once() == []
    ws = store.workspaces.get("sbx")
    assert ws.status == "error" and "cannot be decrypted" in ws.last_error
