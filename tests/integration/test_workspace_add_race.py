"""Two AddWorkspace calls at once, one host, two names (review grpcapi): each passed the host check
before the other stored its row (the check comes before the token's call to Databricks, the insert
after it), and both were stored, so the second name's import later took every agent from the first.
The database's unique index on host (0028) now refuses the loser, answered ALREADY_EXISTS in the words
of the sequential refusal. And two imports at once into ONE workspace leave its agents' token secret
holding a live token of that workspace.

Each race is made certain, not hoped for: the real gateway's call that every racer makes waits until
all racers have made it (`_MeetAfter`), so all of them have passed their checks before any writes.

Real parts: a Trimtab server (gRPC on 127.0.0.1:0) on SQLite and PostgreSQL, the sandbox workspace
emulator over HTTP with the real databricks-sdk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from sandbox.workspace import RunningWorkspace
from server.clock import Clock
from server.databricks import DatabricksGateway, GatewayConfig
from server.serve import RunningServer
from server.services import workspaces
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING

Outcome = tuple[str, Any]


class _MeetAfter:
    """The real gateway, whose ``method`` returns only once every racer has called it (a barrier)."""

    def __init__(self, inner: DatabricksGateway, method: str, barrier: threading.Barrier) -> None:
        self._inner, self._method, self._barrier = inner, method, barrier

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name != self._method:
            return target

        def met(*args: Any, **kwargs: Any) -> Any:
            answer = target(*args, **kwargs)
            self._barrier.wait(timeout=60)
            return answer

        return met


def _meeting_after(monkeypatch: pytest.MonkeyPatch, method: str, parties: int) -> Callable[..., Any]:
    """Every gateway made from now on meets the others after ``method``; the factory it replaced."""
    real = workspaces._integration.gateway_factory
    barrier = threading.Barrier(parties)

    def factory(config: GatewayConfig, clock: Clock) -> Any:
        return _MeetAfter(real(config, clock), method, barrier)

    monkeypatch.setattr(workspaces._integration, "gateway_factory", factory)
    return real


def _at_once(calls: list[Callable[[], Any]]) -> list[Outcome]:
    def go(call: Callable[[], Any]) -> Outcome:
        try:
            return "OK", call()
        except grpc.RpcError as err:
            return err.code().name, err.details()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(go, calls))


@pytest.fixture
def admin(store: Store) -> list[tuple[str, str]]:
    _, token = store.tokens.create("admin", "admin")
    return [("authorization", f"Bearer {token}")]


@pytest.fixture
def stub(server: RunningServer) -> Any:
    with grpc.insecure_channel(server.address) as channel:
        yield admin_pb2_grpc.WorkspaceServiceStub(channel)


def test_two_adds_of_one_host_at_once_store_one_and_refuse_the_other_as_one_after_the_other(
        store: Store, emulator: RunningWorkspace, stub: Any, admin: list[tuple[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = _meeting_after(monkeypatch, "check_token", 2)

    def add(name: str) -> Callable[[], Any]:
        return lambda: stub.AddWorkspace(admin_pb2.AddWorkspaceRequest(
            name=name, host=emulator.host, token=emulator.token, cloud="aws"), metadata=admin, timeout=60)

    outcomes = _at_once([add("wa"), add("wb")])
    assert sorted(code for code, _ in outcomes) == ["ALREADY_EXISTS", "OK"], outcomes
    (stored,) = [answer.name for code, answer in outcomes if code == "OK"]
    (refused,) = [details for code, details in outcomes if code == "ALREADY_EXISTS"]
    loser = "wb" if stored == "wa" else "wa"
    assert [(w.name, w.host) for w in store.workspaces.list()] == [(stored, emulator.host)]

    # The same words as the loser gets adding the host again now, the winner's row in place.
    monkeypatch.setattr(workspaces._integration, "gateway_factory", real)
    ((code, again),) = _at_once([add(loser)])
    assert code == "ALREADY_EXISTS"
    assert refused == again
    assert refused.startswith(f"host: {emulator.host} is workspace {stored!r} already (added as {emulator.host})")


def test_two_imports_into_one_workspace_at_once_leave_its_secret_a_live_token_of_it(
        store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway, stub: Any,
        admin: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Both imports find no secret (each makes an agent token and writes it, one over the other): the
    one left is live and bound to the workspace, so its agents are accepted and their data tied to its
    runs (a token of another name, or a revoked one, would have left the runs with no agent data)."""
    job_ids = emulator.seed_jobs()
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    monkeypatch.setattr(workspaces._integration, "wiring", WIRING)
    stub.AddWorkspace(admin_pb2.AddWorkspaceRequest(name="sbx", host=emulator.host, token=emulator.token,
                                                    cloud="aws"), metadata=admin, timeout=60)
    _meeting_after(monkeypatch, "secret_written_ms", 2)

    def import_(job_id: int) -> Callable[[], Any]:
        return lambda: stub.ImportJobs(admin_pb2.ImportJobsRequest(workspace="sbx", job_ids=[job_id]),
                                       metadata=admin, timeout=120)

    outcomes = _at_once([import_(job_ids[0]), import_(job_ids[1])])
    assert [code for code, _ in outcomes] == ["OK", "OK"], outcomes
    assert {p.job_id for p in store.projects.list("sbx")} == set(job_ids[:2])
    held = emulator.workspace.store.data["secrets"][WIRING.secret_scope][WIRING.secret_key]["value"]
    token = store.tokens.verify(held)  # Unauthenticated for a revoked or unknown token
    assert (token.scope, token.workspace, token.name) == ("agent", "sbx", "agent-sbx")
