"""A project named ``<workspace>/<job_id>/<cluster_key>`` whose job id no job can have: NOT_FOUND, on
both engines, like any unknown name.

`ProjectRepository.find` took the job id with ``isdigit()`` then ``int()``: "²" (a digit to
``isdigit``) raised ValueError and a number past 64 bits OverflowError on SQLite, both INTERNAL on
every project call; PostgreSQL said INVALID_ARGUMENT "bigint out of range" for 2**63, INTERNAL for
"²". `trimtab project backfill` printed the raw Python error. Real server, real SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.backfill.runs import databricks_run_id
from server.cli.main import main
from server.collect.build import own_recommendation_tag
from server.domain import Application, Project
from server.errors import InvalidArgument, NotFound
from server.ids import MAX_DATABRICKS_ID, parse_id
from server.onboard import RECOMMENDATION_TAG
from server.services import runs
from server.store import Store
from tests.server.conftest import Harness, StartHarness
from tests.timeline.seed import seed

# Past int64 by one; far past it; a digit `isdigit` accepts and `int` refuses; Arabic-Indic three.
IMPOSSIBLE_JOB_IDS = [str(2**63), "99999999999999999999999", "²", "٣"]
NAMES = [f"ws/{job_id}/main" for job_id in IMPOSSIBLE_JOB_IDS]


@pytest.fixture
def served(start_harness: StartHarness, migrated_db_url: str) -> tuple[Harness, int]:
    h = start_harness(migrated_db_url, collect=0)
    project, _ = seed(h.store)  # ws/42/main
    assert project.id is not None
    return h, project.id


def _unknown(name: str) -> str:
    return f"project {name!r} not found (use an id or <workspace>/<job_id>/<cluster_key>)"


@pytest.mark.parametrize("name", NAMES)
def test_store_finds_no_project_for_an_impossible_job_id(any_store: Store, name: str) -> None:
    seed(any_store)
    with pytest.raises(NotFound) as raised:
        any_store.projects.find(name)
    assert raised.value.message == _unknown(name)
    # The largest job id there can be is an ordinary miss, and the project's own name (leading zeros
    # too) still finds it.
    with pytest.raises(NotFound):
        any_store.projects.find(f"ws/{MAX_DATABRICKS_ID}/main")
    assert any_store.projects.find("ws/042/main").job_id == 42


@pytest.mark.parametrize("name", NAMES)
def test_every_project_call_says_not_found(served: tuple[Harness, int], name: str) -> None:
    h, project_id = served
    recs = admin_pb2_grpc.RecommendationServiceStub(h.channel)
    for call, request in [
        (h.projects.GetProject, admin_pb2.GetProjectRequest(project=name)),
        (h.projects.GetTimeline, admin_pb2.GetTimelineRequest(project=name)),
        (h.projects.GetSavings, admin_pb2.GetSavingsRequest(project=name)),
        (h.projects.DetachProject, admin_pb2.DetachProjectRequest(project=name)),
        (h.projects.UpdateProjectSettings, admin_pb2.UpdateProjectSettingsRequest(
            project=name, settings=admin_pb2.ProjectSettings(sla_seconds=1800))),
        (h.runs.ListRuns, admin_pb2.ListRunsRequest(project=name)),
        (recs.GetRecommendation, admin_pb2.GetRecommendationRequest(project=name)),
        (recs.ListRecommendations, admin_pb2.ListRecommendationsRequest(project=name)),
        (recs.ApplyRecommendation, admin_pb2.ApplyRecommendationRequest(project=name, dry_run=True)),
        (recs.RejectRecommendation, admin_pb2.RejectRecommendationRequest(project=name)),
        (recs.RevertRecommendation, admin_pb2.RevertRecommendationRequest(project=name, dry_run=True)),
    ]:
        with pytest.raises(grpc.RpcError) as raised:
            call(request, metadata=h.admin, timeout=30)
        error = raised.value
        assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, _unknown(name)), call
    assert h.projects.GetProject(admin_pb2.GetProjectRequest(project="ws/42/main"),
                                 metadata=h.admin).id == str(project_id)


def test_backfill_says_not_found(served: tuple[Harness, int], capsys: pytest.CaptureFixture[str],
                                 tmp_path: Path, migrated_db_url: str) -> None:
    """`project backfill` opens the store itself: the one line is the store's, not Python's."""
    (tmp_path / "logs").mkdir()
    for name in NAMES:
        capsys.readouterr()
        code = main(["project", "backfill", name, "--eventlogs", str(tmp_path / "logs"), "--db", migrated_db_url])
        err = capsys.readouterr().err
        assert code == 1 and f"error: {_unknown(name)}" in err, err


def test_parse_id_takes_plain_numbers_in_range_only() -> None:
    assert [parse_id(t) for t in ("0", "007", "2147483647", "2147483648", "", "-1", "+1", " 1", "²", "٣")] == [
        0, 7, 2**31 - 1, None, None, None, None, None, None, None]
    assert parse_id("9" * 5000) is None  # refused before int() (which raises past 4,300 digits)
    assert parse_id("0" * 5000 + "12", minimum=1) == 12
    assert parse_id("0", minimum=1) is None
    assert parse_id(str(2**63 - 1), MAX_DATABRICKS_ID) == 2**63 - 1


@pytest.mark.parametrize("run_id, error", [("²", InvalidArgument), ("99999999999999999999", NotFound)])
def test_a_run_id_no_run_can_have_is_refused_by_the_service(any_store: Store, run_id: str,
                                                            error: type[Exception]) -> None:
    """The service's own reading, for callers other than the API (which screens ids first): "²" raised
    ValueError, 20 digits OverflowError (SQLite) or "integer out of range" (PostgreSQL)."""
    with pytest.raises(error):
        runs.get_run(any_store, run_id)


def test_ids_from_tags_and_logs_past_their_columns_name_nothing() -> None:
    """A hand-set recommendation tag past a row id was credited to the run (which no INTEGER column
    holds); an event log's run id of "²" stopped the backfill with ValueError."""
    project = Project(id=1, workspace="ws", job_id=1, cluster_key="main")
    assert own_recommendation_tag(project, {"custom_tags": {RECOMMENDATION_TAG: "99999999999999999999"}}) is None
    assert own_recommendation_tag(project, {"custom_tags": {RECOMMENDATION_TAG: "7"}}) == 7
    assert databricks_run_id(Application(application_id="app-1", databricks_run_id="²")) < 0
    assert databricks_run_id(Application(application_id="app-1", databricks_run_id="1009")) == 1009
