"""Ids no row can have (review finding 8): NOT_FOUND on the API, a 404 page on the dashboard.

A number the id columns cannot hold used to reach the database driver: OverflowError on SQLite
beyond 64 bits, "integer out of range" on PostgreSQL beyond 32 (the ids are SQL INTEGER), so the
API said INTERNAL and the dashboard dropped the connection. Run on both.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.cli.main import main
from tests.server.conftest import Harness, StartHarness
from tests.timeline.seed import seed

HUGE = "99999999999999999999"
JUST_OVER = str(2**31)  # the first id a PostgreSQL INTEGER cannot hold
LARGEST = 2**31 - 1
IMPOSSIBLE = [HUGE, str(2**63), JUST_OVER, "-1", "-99999999999999999999", "²"]


@pytest.fixture
def served(start_harness: StartHarness, migrated_db_url: str) -> tuple[Harness, int, int]:
    h = start_harness(migrated_db_url, http="127.0.0.1:0", collect=0)
    project, run_ids = seed(h.store)
    assert project.id is not None
    return h, project.id, run_ids[0]


def _code(call: object, request: object, h: Harness) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, metadata=h.admin)  # type: ignore[operator]
    return raised.value.code(), raised.value.details() or ""


@pytest.mark.parametrize("bad", IMPOSSIBLE)
def test_api_refuses_an_impossible_id_as_not_found(served: tuple[Harness, int, int], bad: str) -> None:
    h, project_id, run_id = served
    projects, runs = h.projects, h.runs
    recs = admin_pb2_grpc.RecommendationServiceStub(h.channel)
    for call, request in [
        (runs.GetRun, admin_pb2.GetRunRequest(run_id=bad)),
        (projects.GetProject, admin_pb2.GetProjectRequest(project=bad)),
        (projects.GetTimeline, admin_pb2.GetTimelineRequest(project=bad)),
        (projects.GetSavings, admin_pb2.GetSavingsRequest(project=bad)),
        (projects.DetachProject, admin_pb2.DetachProjectRequest(project=bad)),
        (projects.UpdateProjectSettings, admin_pb2.UpdateProjectSettingsRequest(
            project=bad, settings=admin_pb2.ProjectSettings(sla_seconds=100))),
        (runs.ListRuns, admin_pb2.ListRunsRequest(project=bad)),
        (recs.GetRecommendation, admin_pb2.GetRecommendationRequest(project=bad)),
        (recs.ApplyRecommendation, admin_pb2.ApplyRecommendationRequest(project=bad, dry_run=True)),
        (recs.RejectRecommendation, admin_pb2.RejectRecommendationRequest(project=bad)),
        (recs.RevertRecommendation, admin_pb2.RevertRecommendationRequest(project=bad, dry_run=True)),
    ]:
        code, details = _code(call, request, h)
        assert code == grpc.StatusCode.NOT_FOUND, (call, code, details)
        assert "not found" in details
    # The real ones still answer, the largest possible id is an ordinary miss.
    assert h.runs.GetRun(admin_pb2.GetRunRequest(run_id=str(run_id)), metadata=h.admin).id == str(run_id)
    assert h.projects.GetProject(admin_pb2.GetProjectRequest(project=str(project_id)),
                                 metadata=h.admin).id == str(project_id)
    code, details = _code(h.runs.GetRun, admin_pb2.GetRunRequest(run_id=str(LARGEST)), h)
    assert code == grpc.StatusCode.NOT_FOUND and details == f"run {LARGEST} not found"


def test_api_refuses_an_impossible_page_token(served: tuple[Harness, int, int]) -> None:
    h, project_id, _ = served
    for token in (HUGE, "-3"):
        code, details = _code(h.runs.ListRuns, admin_pb2.ListRunsRequest(project=str(project_id),
                                                                          page_token=token), h)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in details
    page = h.runs.ListRuns(admin_pb2.ListRunsRequest(project=str(project_id), page_size=1), metadata=h.admin)
    assert page.next_page_token and len(h.runs.ListRuns(admin_pb2.ListRunsRequest(
        project=str(project_id), page_size=1, page_token=page.next_page_token), metadata=h.admin).runs) == 1


def test_cli_says_not_found(served: tuple[Harness, int, int], capsys: pytest.CaptureFixture[str]) -> None:
    h, _, _ = served
    for args in (["run", "show", HUGE], ["project", "show", HUGE]):
        capsys.readouterr()
        code = main(["--server", h.running.address, "--token", h.admin_token, *args])
        err = capsys.readouterr().err
        assert code == 1 and f"{HUGE} not found (NOT_FOUND)" in err and "INTERNAL" not in err, err


def _get(h: Harness, path: str) -> tuple[int, str]:
    request = urllib.request.Request(h.running.dashboard.url.rstrip("/") + path,
                                     headers={"Authorization": f"Bearer {h.admin_token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_dashboard_gives_a_404_page(served: tuple[Harness, int, int]) -> None:
    h, project_id, run_id = served
    for path, words in [(f"/projects/{HUGE}", f"project {HUGE} not found"),
                        (f"/projects/{JUST_OVER}/timeline.svg", f"project {JUST_OVER} not found"),
                        (f"/projects/{HUGE}/timeline.png", f"project {HUGE} not found"),
                        (f"/runs/{HUGE}", f"run {HUGE} not found"),
                        ("/runs/-1", "no page at /runs/-1"),
                        ("/projects/-5", "no page at /projects/-5")]:
        status, body = _get(h, path)
        assert status == 404 and words in body, (path, status)
    assert _get(h, f"/runs/{LARGEST}")[0] == 404
    assert _get(h, f"/runs/{JUST_OVER}")[0] == 404
    assert _get(h, f"/projects/{project_id}")[0] == 200
    assert _get(h, f"/runs/{run_id}")[0] == 200
