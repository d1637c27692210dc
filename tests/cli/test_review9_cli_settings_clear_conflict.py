"""UpdateProjectSettings giving a setting and its clear flag (review 9): ``sla_seconds`` with
``clear_sla`` cleared the SLA without a word. Refused as INVALID_ARGUMENT naming both fields, and
nothing is saved. Over real gRPC against a real server."""

from __future__ import annotations

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.domain import Project, ProjectSettings, Workspace
from server.serve import RunningServer
from server.store import Store

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}


@pytest.fixture
def project(cli_store: Store, cli_server: RunningServer) -> Project:
    cli_store.workspaces.add(Workspace(name="prod", host="http://127.0.0.1:9", cloud="aws", plan="premium"), "x")
    return cli_store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                          current_spec=SPEC, original_spec=SPEC,
                                          settings=ProjectSettings(sla_seconds=1800.0)))


def _update(server: RunningServer, store: Store, project: Project,
            settings: admin_pb2.ProjectSettings) -> admin_pb2.Project:
    _, token = store.tokens.create("t", "admin")
    with grpc.insecure_channel(server.address) as channel:
        stub = admin_pb2_grpc.ProjectServiceStub(channel)
        return stub.UpdateProjectSettings(admin_pb2.UpdateProjectSettingsRequest(project=str(project.id),
                                                                                 settings=settings),
                                          metadata=[("authorization", f"Bearer {token}")], timeout=30)


def test_sla_seconds_with_clear_sla_is_refused_naming_both(cli_server: RunningServer, cli_store: Store,
                                                           project: Project) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _update(cli_server, cli_store, project, admin_pb2.ProjectSettings(sla_seconds=900.0, clear_sla=True))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "settings.sla_seconds and settings.clear_sla" in (caught.value.details() or "")
    assert cli_store.projects.get(int(project.id or 0)).settings.sla_seconds == 1800.0  # nothing saved


def test_each_alone_still_works(cli_server: RunningServer, cli_store: Store, project: Project) -> None:
    reply = _update(cli_server, cli_store, project, admin_pb2.ProjectSettings(sla_seconds=900.0))
    assert reply.settings.sla_seconds == 900.0
    reply = _update(cli_server, cli_store, project, admin_pb2.ProjectSettings(clear_sla=True))
    assert not reply.settings.HasField("sla_seconds")
