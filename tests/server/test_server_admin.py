"""The admin services over gRPC, against rows made through the store."""

from __future__ import annotations

import json

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.domain import ClusterConfig, CostBreakdown, Project, Recommendation, Run, Workspace
from server.services.secrets import SecretBox, mask
from tests.server.conftest import Harness, event_batch

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12",
        "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}}


def _code(call, *args, **kwargs) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, **kwargs)
    return err.value.code()


def _seed(h: Harness) -> Project:
    p = h.store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly",
                                     original_spec=SPEC, current_spec=SPEC))
    config = ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC)
    for i in range(5):
        h.store.runs.add(Run(project_id=p.id, databricks_run_id=100 + i, start_ms=1_000_000 * (i + 1),
                             runtime_s=1800.0 + 100 * i, config=config, cost=CostBreakdown(total=10.0 - i),
                             application_ids=("app-1",) if i == 4 else ()))
    return p


def test_projects_list_show_update_detach(harness: Harness) -> None:
    p = _seed(harness)
    md = harness.admin
    [listed] = harness.projects.ListProjects(admin_pb2.ListProjectsRequest(), metadata=md).projects
    assert (listed.id, listed.name, listed.run_count, listed.latest_cost) == (str(p.id), "prod/42/main", 5, 6.0)
    assert listed.current_config.availability == "SPOT_WITH_FALLBACK"
    assert json.loads(listed.current_config.spec_json) == SPEC
    assert not listed.HasField("sla_met_fraction")  # no SLA yet

    settings = admin_pb2.ProjectSettings(sla_seconds=2000, auto_apply=True, max_workers=40,
                                         allowed_families=["m5", "r5"])
    updated = harness.projects.UpdateProjectSettings(
        admin_pb2.UpdateProjectSettingsRequest(project="prod/42/main", settings=settings), metadata=md)
    assert (updated.settings.sla_seconds, updated.settings.auto_apply, updated.settings.max_workers) == (2000, True, 40)
    assert list(updated.settings.allowed_families) == ["m5", "r5"]
    assert updated.sla_met_fraction == pytest.approx(3 / 5)  # runtimes 1800..2200 s against 2000 s
    # Naming only one setting leaves the others as they were; clear_sla clears.
    cleared = harness.projects.UpdateProjectSettings(admin_pb2.UpdateProjectSettingsRequest(
        project=str(p.id), settings=admin_pb2.ProjectSettings(clear_sla=True)), metadata=md)
    assert not cleared.settings.HasField("sla_seconds") and cleared.settings.max_workers == 40
    bad = admin_pb2.UpdateProjectSettingsRequest(project=str(p.id),
                                                 settings=admin_pb2.ProjectSettings(min_workers=50))
    assert _code(harness.projects.UpdateProjectSettings, bad, metadata=md) == grpc.StatusCode.INVALID_ARGUMENT
    assert harness.store.projects.get(p.id).settings.min_workers is None  # refused change left nothing

    # Detaching restores the job through its workspace, which is not connected here.
    detach = admin_pb2.DetachProjectRequest(project=str(p.id))
    assert _code(harness.projects.DetachProject, detach, metadata=md) == grpc.StatusCode.NOT_FOUND
    assert not harness.store.projects.get(p.id).detached
    assert _code(harness.projects.GetProject, admin_pb2.GetProjectRequest(project="nope/1/x"),
                 metadata=md) == grpc.StatusCode.NOT_FOUND
    assert _code(harness.projects.GetProject, admin_pb2.GetProjectRequest(project=""),
                 metadata=md) == grpc.StatusCode.INVALID_ARGUMENT


def test_runs_paging_detail_and_applications(harness: Harness) -> None:
    p = _seed(harness)
    harness.ingest.SendBatch(event_batch("b1", 3), metadata=harness.agent)
    md = harness.admin
    page = harness.runs.ListRuns(admin_pb2.ListRunsRequest(project=str(p.id), page_size=2), metadata=md)
    assert [r.databricks_run_id for r in page.runs] == [104, 103] and page.next_page_token
    rest = harness.runs.ListRuns(admin_pb2.ListRunsRequest(project=str(p.id), page_size=10,
                                                           page_token=page.next_page_token), metadata=md)
    assert [r.databricks_run_id for r in rest.runs] == [102, 101, 100] and rest.next_page_token == ""
    detail = harness.runs.GetRun(admin_pb2.GetRunRequest(run_id=page.runs[0].id), metadata=md)
    assert [s.stage_id for s in detail.stages] == [0, 1, 2] and detail.cost.total == 6.0
    assert list(detail.application_ids) == ["app-1"]
    [app] = harness.runs.ListApplications(admin_pb2.ListApplicationsRequest(), metadata=md).applications
    assert (app.application_id, app.stage_count, app.run_id) == ("app-1", 3, page.runs[0].id)
    assert _code(harness.runs.GetRun, admin_pb2.GetRunRequest(run_id="999"), metadata=md) == grpc.StatusCode.NOT_FOUND
    assert _code(harness.runs.GetRun, admin_pb2.GetRunRequest(run_id="x"),
                 metadata=md) == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(harness.runs.GetApplication, admin_pb2.GetApplicationRequest(application_id="zzz"),
                 metadata=md) == grpc.StatusCode.NOT_FOUND


def test_workspaces_read_through_the_store(harness: Harness) -> None:
    stub = admin_pb2_grpc.WorkspaceServiceStub(harness.channel)
    box = SecretBox.from_config("", harness.state_dir)  # the server's own key file
    token = "dapi0123456789abcdef"
    harness.store.workspaces.add(Workspace(name="prod", host="https://dbc.example", cloud="aws",
                                           token_masked=mask(token)), box.encrypt(token))
    [ws] = stub.ListWorkspaces(admin_pb2.ListWorkspacesRequest(), metadata=harness.admin).workspaces
    assert (ws.name, ws.token_masked) == ("prod", "dapi…cdef") and token not in str(ws)
    assert token not in harness.store.workspaces.secrets("prod").token_encrypted
    assert box.decrypt(harness.store.workspaces.secrets("prod").token_encrypted) == token
    assert _code(stub.GetWorkspace, admin_pb2.GetWorkspaceRequest(name="nope"),
                 metadata=harness.admin) == grpc.StatusCode.NOT_FOUND


def test_recommendation_show_and_reject(harness: Harness) -> None:
    p = _seed(harness)
    stub = admin_pb2_grpc.RecommendationServiceStub(harness.channel)
    req = admin_pb2.GetRecommendationRequest(project=str(p.id))
    assert _code(stub.GetRecommendation, req, metadata=harness.admin) == grpc.StatusCode.NOT_FOUND
    config = ClusterConfig(node_type_id="r5.xlarge", num_workers=6, spec={**SPEC, "node_type_id": "r5.xlarge"})
    rec = harness.store.recommendations.add(Recommendation(project_id=p.id, config=config, predicted_cost=4.0,
                                                           cost_interval=(3.5, 4.5), p_meet_sla=0.95, reason="r5"))
    shown = stub.GetRecommendation(req, metadata=harness.admin)
    assert (shown.id, shown.state, shown.config.node_type_id, shown.cost_interval.high) == (
        str(rec.id), "pending", "r5.xlarge", 4.5)
    rejected = stub.RejectRecommendation(admin_pb2.RejectRecommendationRequest(project=str(p.id)),
                                         metadata=harness.admin)
    assert rejected.state == "rejected"
    assert _code(stub.RejectRecommendation, admin_pb2.RejectRecommendationRequest(project=str(p.id)),
                 metadata=harness.admin) == grpc.StatusCode.FAILED_PRECONDITION


def test_a_run_detail_stage_says_whether_it_read_a_cached_rdd() -> None:
    from server.api.messages import stage
    from server.domain import Stage

    assert stage(Stage("app-1", 3, input_from_cache=True)).input_from_cache
    assert not stage(Stage("app-1", 2)).input_from_cache
