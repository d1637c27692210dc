"""The gRPC API as a script author reads it (review revG), over a real server on 127.0.0.1:0 on SQLite
and PostgreSQL:

- UpdateWorkspace with a token and no host answered OK and stored nothing (F3): INVALID_ARGUMENT now,
  naming the field and how a token is rotated;
- a pinned recommendation_id that never existed, or another project's, was "no longer pending" (F4):
  NOT_FOUND, "not a recommendation of project P", for Apply, Reject and Revert alike;
- PlanProblem.run_id was the only int64 run id (F6): after_run_id carries it as a string, which
  GetRunRequest takes; run_id stays for older clients;
- min_workers 9000 made the default maximum 18000, above the 10000 every bound is held to (F7).
"""

from __future__ import annotations

import dataclasses

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.domain import PROBLEM_KEY, PlanProblem, Workspace
from server.plan.candidates import MAX_WORKERS
from tests.server.conftest import START_MS, Harness, StartHarness, planned_project


@pytest.fixture
def h(start_harness: StartHarness, migrated_db_url: str) -> Harness:
    return start_harness(migrated_db_url)


def _recommendations(h: Harness) -> admin_pb2_grpc.RecommendationServiceStub:
    return admin_pb2_grpc.RecommendationServiceStub(h.channel)




def test_update_workspace_with_a_token_and_no_host_is_refused(h: Harness) -> None:
    h.store.workspaces.add(Workspace(name="sbx", host="http://x", cloud="aws", plan="premium", token_masked="dapi…old"),
                           "enc")
    workspaces = admin_pb2_grpc.WorkspaceServiceStub(h.channel)
    with pytest.raises(grpc.RpcError) as err:
        workspaces.UpdateWorkspace(admin_pb2.UpdateWorkspaceRequest(
            name="sbx", token="dapi0123456789abcdef0123456789abcdef"), metadata=h.admin)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "token: goes with host" in err.value.details() and "replace=true" in err.value.details()
    assert h.store.workspaces.secrets("sbx").token_encrypted == "enc"  # nothing stored
    # With the token and other settings but no host: refused too (before anything is saved).
    with pytest.raises(grpc.RpcError) as err:
        workspaces.UpdateWorkspace(admin_pb2.UpdateWorkspaceRequest(
            name="sbx", token="dapi0123456789abcdef0123456789abcdef", plan="enterprise"), metadata=h.admin)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert h.store.workspaces.get("sbx").plan == "premium"


def test_a_pinned_id_of_no_recommendation_of_the_project_is_not_found(h: Harness) -> None:
    project, rec_id = planned_project(h, 1)
    other, other_rec = planned_project(h, 2)
    recs = _recommendations(h)
    for wanted in ("123456", str(other_rec), "9" * 40):
        for call, request in (
                (recs.ApplyRecommendation, admin_pb2.ApplyRecommendationRequest(
                    project=str(project.id), dry_run=True, recommendation_id=wanted)),
                (recs.RejectRecommendation, admin_pb2.RejectRecommendationRequest(
                    project=str(project.id), recommendation_id=wanted)),
                (recs.RevertRecommendation, admin_pb2.RevertRecommendationRequest(
                    project=str(project.id), dry_run=True, recommendation_id=wanted))):
            with pytest.raises(grpc.RpcError) as err:
                call(request, metadata=h.admin)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND, (wanted, err.value.details())
            assert err.value.details() == f"recommendation {wanted} is not a recommendation of project {project.name}"
    # Nothing changed; a recommendation of the project replaced since is still "no longer pending".
    assert h.store.recommendations.get(rec_id).state == "pending"
    assert h.store.recommendations.get(other_rec).state == "pending"
    newer = h.store.recommendations.add(dataclasses.replace(h.store.recommendations.get(rec_id), id=None))
    h.store.recommendations.set_state(rec_id, "superseded")
    with pytest.raises(grpc.RpcError) as err:
        recs.RejectRecommendation(admin_pb2.RejectRecommendationRequest(
            project=str(project.id), recommendation_id=str(rec_id)), metadata=h.admin)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"recommendation {rec_id} is no longer pending (recommendation {newer.id} is" in err.value.details()


def test_plan_problem_names_its_run_as_a_string_get_run_takes(h: Harness) -> None:
    project, _ = planned_project(h, 1)
    (run, *_) = h.store.runs.history(int(project.id or 0))
    problem = PlanProblem(step="plan", run_id=int(run.id or 0), at_ms=START_MS, message="ValueError: test")
    stored = h.store.projects.get(int(project.id or 0))
    h.store.projects.update(dataclasses.replace(stored, state={**stored.state, PROBLEM_KEY: problem.to_json()}))
    got = h.projects.GetProject(admin_pb2.GetProjectRequest(project=str(project.id)), metadata=h.admin)
    assert got.problem.after_run_id == str(run.id)
    assert got.problem.run_id == run.id  # kept for clients written before after_run_id
    found = h.runs.GetRun(admin_pb2.GetRunRequest(run_id=got.problem.after_run_id), metadata=h.admin)
    assert found.id == str(run.id)


def test_the_default_maximum_stays_within_the_documented_cap(h: Harness) -> None:
    project, _ = planned_project(h, 1)
    got = h.projects.UpdateProjectSettings(admin_pb2.UpdateProjectSettingsRequest(
        project=str(project.id), settings=admin_pb2.ProjectSettings(min_workers=9000)), metadata=h.admin)
    assert got.settings.min_workers == 9000
    assert got.default_max_workers == MAX_WORKERS == 10_000  # was 18000: no bound a person may set
    got = h.projects.UpdateProjectSettings(admin_pb2.UpdateProjectSettingsRequest(
        project=str(project.id), settings=admin_pb2.ProjectSettings(min_workers=4)), metadata=h.admin)
    assert got.default_max_workers == 24  # twice the 12 workers imported, as before
    with pytest.raises(grpc.RpcError) as err:
        h.projects.UpdateProjectSettings(admin_pb2.UpdateProjectSettingsRequest(
            project=str(project.id), settings=admin_pb2.ProjectSettings(min_workers=MAX_WORKERS + 1)),
            metadata=h.admin)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "above 10000" in err.value.details()
