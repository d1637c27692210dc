"""A workspace is found by its name in any case wherever a person names one (review grpcapi): `SB` beside
`sb` was ALREADY_EXISTS (names are unique in any case), yet GetWorkspace("SB"), ListProjects(workspace="SB")
and `workspace show SB` were NOT_FOUND. Every call answers with, writes under and logs the name as it
was added.

Real parts: a Trimtab server (gRPC on 127.0.0.1:0) on SQLite and PostgreSQL, the `trimtab` CLI against
it, the sandbox workspace emulator over HTTP with the real databricks-sdk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.serve import RunningServer
from server.services import workspaces
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING

Trimtab = Callable[..., tuple[int, str, str]]


@pytest.fixture
def admin(store: Store) -> list[tuple[str, str]]:
    _, token = store.tokens.create("admin", "admin")
    return [("authorization", f"Bearer {token}")]


@pytest.fixture
def channel(server: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.address) as opened:
        yield opened


@pytest.fixture
def sb(store: Store, emulator: RunningWorkspace, gateway: DatabricksGateway, channel: grpc.Channel,
       admin: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Workspace ``sb`` (the emulator) added over gRPC; the emulator's job ids."""
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    monkeypatch.setattr(workspaces._integration, "wiring", WIRING)
    admin_pb2_grpc.WorkspaceServiceStub(channel).AddWorkspace(admin_pb2.AddWorkspaceRequest(
        name="sb", host=emulator.host, token=emulator.token, cloud="aws"), metadata=admin, timeout=60)
    return emulator.seed_jobs()


def test_every_call_naming_a_workspace_finds_it_in_any_case(
        store: Store, emulator: RunningWorkspace, channel: grpc.Channel, admin: list[tuple[str, str]],
        sb: list[int]) -> None:
    ws = admin_pb2_grpc.WorkspaceServiceStub(channel)
    projects = admin_pb2_grpc.ProjectServiceStub(channel)
    runs = admin_pb2_grpc.RunServiceStub(channel)

    def call(method: Any, request: Any) -> Any:
        return method(request, metadata=admin, timeout=120)

    assert call(ws.GetWorkspace, admin_pb2.GetWorkspaceRequest(name="SB")).name == "sb"
    dry = call(ws.ImportJobs, admin_pb2.ImportJobsRequest(workspace="Sb", job_ids=[sb[0]], dry_run=True))
    assert [p.project.name for p in dry.projects] == [f"sb/{sb[0]}/main"]
    imported = call(ws.ImportJobs, admin_pb2.ImportJobsRequest(workspace="SB", job_ids=[sb[0]]))
    assert [(p.project.name, p.created) for p in imported.projects] == [(f"sb/{sb[0]}/main", True)]
    # The agent token import made is the workspace's as stored (what its agents' data is tied to).
    assert [(t.name, t.workspace) for t in store.tokens.list() if t.scope == "agent"] == [("agent-sb", "sb")]

    listed = call(projects.ListProjects, admin_pb2.ListProjectsRequest(workspace="SB")).projects
    assert [p.name for p in listed] == [f"sb/{sb[0]}/main"]
    assert call(projects.GetProject, admin_pb2.GetProjectRequest(project=f"SB/{sb[0]}/main")).name == \
        f"sb/{sb[0]}/main"
    assert list(call(runs.ListAgents, admin_pb2.ListAgentsRequest(workspace="SB")).agents) == []

    updated = call(ws.UpdateWorkspace, admin_pb2.UpdateWorkspaceRequest(name="sB", auto_import=True))
    assert (updated.name, updated.auto_import) == ("sb", True)
    assert store.workspaces.get("sb").auto_import
    # Rotating the token under the name in another case rotates sb's; no second workspace.
    rotated = call(ws.AddWorkspace, admin_pb2.AddWorkspaceRequest(name="SB", host=emulator.host,
                                                                  token=emulator.token, cloud="aws", replace=True))
    assert rotated.name == "sb" and "token unchanged" in rotated.note
    assert [w.name for w in store.workspaces.list()] == ["sb"]

    with pytest.raises(grpc.RpcError) as refused:
        call(ws.RemoveWorkspace, admin_pb2.RemoveWorkspaceRequest(name="SB"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details().startswith(f"workspace 'sb' not removed: it has 1 attached project(s) "
                                              f"(sb/{sb[0]}/main)")
    # Still NOT_FOUND for a name no workspace has in any case.
    with pytest.raises(grpc.RpcError) as missing:
        call(ws.GetWorkspace, admin_pb2.GetWorkspaceRequest(name="sbb"))
    assert (missing.value.code(), missing.value.details()) == (grpc.StatusCode.NOT_FOUND, "workspace 'sbb' not found")


def test_the_cli_finds_a_workspace_in_any_case(trimtab: Trimtab, store: Store, sb: list[int]) -> None:
    code, out, err = trimtab("workspace", "show", "SB")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["name:", "sb"], out
    code, out, err = trimtab("workspace", "set", "Sb", "--auto-import", "on")
    assert code == 0, err
    assert store.workspaces.get("sb").auto_import
    # `token create --workspace SB` (it opens the store itself) binds the token to sb as stored.
    token, _ = store.tokens.create("agent-x", "agent", workspace="SB")
    assert token.workspace == "sb"
    code, out, err = trimtab("workspace", "remove", "SB")
    assert code == 0, err
    assert store.workspaces.list() == []
    assert [t.revoked for t in store.tokens.list() if t.name == "agent-x"] == [True]
