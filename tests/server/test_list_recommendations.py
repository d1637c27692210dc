"""ListRecommendations: a project's recommendation history, newest first, by state, in pages; and a
pending recommendation the job already runs, as GetRecommendation and GetProject say it. On a real
server over SQLite and PostgreSQL.

Before, no call listed a project's recommendations (GetRecommendation shows one), and a pending
recommendation of exactly the cluster the job has was shown as if applying it changed something.
"""

from __future__ import annotations

import grpc
import pytest
from cryptography.fernet import Fernet

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.domain import ClusterConfig, CostBreakdown, Project, Recommendation, Run, Workspace
from server.services.secrets import SecretBox
from tests.server.conftest import Harness, StartHarness

T0 = 1_796_000_000_000
MINUTE_MS = 60_000
# As a job's owner writes it: no aws_attributes, so the cluster runs AWS's default availability.
SPEC = {"node_type_id": "m5.xlarge", "num_workers": 4, "spark_version": "15.4.x-scala2.12"}
# The same cluster as the planner names it (the default availability written out).
SAME = ClusterConfig(node_type_id="m5.xlarge", num_workers=4, availability="SPOT_WITH_FALLBACK", first_on_demand=1,
                     spark_version="15.4.x-scala2.12")
SMALLER = ClusterConfig(node_type_id="m5.xlarge", num_workers=2, availability="SPOT_WITH_FALLBACK",
                        first_on_demand=1, spark_version="15.4.x-scala2.12")
BIGGER = ClusterConfig(node_type_id="r5.2xlarge", num_workers=6)


@pytest.fixture
def h(start_harness: StartHarness, migrated_db_url: str) -> Harness:
    harness = start_harness(migrated_db_url, collect=0)
    # On AWS: the cloud a spec without aws_attributes is read on (its default availability).
    harness.store.workspaces.add(Workspace(name="ws", host="https://dbc.example", cloud="aws"),
                                 SecretBox(Fernet.generate_key()).encrypt("dapi-secret"), "")
    return harness


def _stub(h: Harness) -> admin_pb2_grpc.RecommendationServiceStub:
    return admin_pb2_grpc.RecommendationServiceStub(h.channel)


def _project(h: Harness, key: str = "main") -> Project:
    return h.store.projects.add(Project(workspace="ws", job_id=10, cluster_key=key, job_name="nightly",
                                        current_spec=SPEC, original_spec=SPEC))


def _rec(h: Harness, p: Project, config: ClusterConfig, minute: int, state: str = "pending",
         **fields: object) -> int:
    rec = h.store.recommendations.add(Recommendation(
        project_id=int(p.id or 0), config=config, state=state, created_at_ms=T0 + minute * MINUTE_MS,
        predicted_cost=0.5, predicted_runtime_s=900.0, reason="test", **fields))  # type: ignore[arg-type]
    assert rec.id is not None
    return rec.id


def _run(h: Harness, p: Project, config: ClusterConfig, minute: int, cost: float | None = None,
         outcome: str = "succeeded") -> None:
    h.store.runs.add(Run(project_id=int(p.id or 0), databricks_run_id=minute, start_ms=T0 + minute * MINUTE_MS,
                         end_ms=T0 + (minute + 1) * MINUTE_MS, runtime_s=60.0, config=config, outcome=outcome,
                         created_at_ms=T0 + (minute + 1) * MINUTE_MS,
                         cost=CostBreakdown(total=cost, currency="USD") if cost is not None else None))


def _refused(h: Harness, request: admin_pb2.ListRecommendationsRequest) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        _stub(h).ListRecommendations(request, metadata=h.admin)
    return raised.value.code(), raised.value.details() or ""


def test_history_newest_first_with_what_became_of_each(h: Harness) -> None:
    p = _project(h)
    _run(h, p, SAME, 0)
    first = _rec(h, p, SMALLER, 5, state="reverted", applied_at_ms=T0 + 6 * MINUTE_MS, applied_by="auto",
                 reverted_at_ms=T0 + 20 * MINUTE_MS, reverted_by="ops (token ab12)")
    _run(h, p, SMALLER, 10)
    second = _rec(h, p, BIGGER, 15, state="rejected")
    third = _rec(h, p, SMALLER, 30)

    reply = _stub(h).ListRecommendations(admin_pb2.ListRecommendationsRequest(project=p.name), metadata=h.admin)

    assert [r.id for r in reply.recommendations] == [str(third), str(second), str(first)]
    assert [r.state for r in reply.recommendations] == ["pending", "rejected", "reverted"]
    assert reply.next_page_token == ""
    oldest = reply.recommendations[2]
    assert (oldest.applied_at_ms, oldest.applied_by) == (T0 + 6 * MINUTE_MS, "auto")
    assert (oldest.reverted_at_ms, oldest.reverted_by) == (T0 + 20 * MINUTE_MS, "ops (token ab12)")
    # What the job ran when each was made: the last run stored before it.
    assert [(r.planned_from.node_type_id, r.planned_from.num_workers) for r in reply.recommendations] == \
        [("m5.xlarge", 2), ("m5.xlarge", 2), ("m5.xlarge", 4)]
    assert oldest.predicted_cost == 0.5 and oldest.config.num_workers == 2


def test_state_filter_and_pages(h: Harness) -> None:
    p, other = _project(h, "a"), _project(h, "b")
    ids = [_rec(h, p, SMALLER, i, state="superseded") for i in range(5)]
    applied = _rec(h, p, BIGGER, 10, state="applied")
    theirs = _rec(h, other, BIGGER, 11)

    pages, token = [], ""
    while True:
        page = _stub(h).ListRecommendations(admin_pb2.ListRecommendationsRequest(
            project=str(p.id), state="superseded", page_size=2, page_token=token), metadata=h.admin)
        pages.append([int(r.id) for r in page.recommendations])
        token = page.next_page_token
        if not token:
            break
    assert pages == [ids[:2:-1][:2], ids[2:0:-1], [ids[0]]]
    only = _stub(h).ListRecommendations(admin_pb2.ListRecommendationsRequest(project=str(p.id), state="applied"),
                                        metadata=h.admin)
    assert [int(r.id) for r in only.recommendations] == [applied]

    first = _stub(h).ListRecommendations(admin_pb2.ListRecommendationsRequest(project=str(p.id), page_size=1),
                                         metadata=h.admin)
    assert first.next_page_token == str(applied)
    for token in (str(theirs), str(theirs + 1000), "abc", "0"):
        assert _refused(h, admin_pb2.ListRecommendationsRequest(project=str(p.id), page_token=token)) == \
            (grpc.StatusCode.INVALID_ARGUMENT, "page_token: not a token this server issued")
    code, details = _refused(h, admin_pb2.ListRecommendationsRequest(project=str(p.id), state="done"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "state: 'done' is not one of pending, applied" in details
    code, details = _refused(h, admin_pb2.ListRecommendationsRequest(project=str(p.id), page_size=-1))
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "page_size: must not be negative")
    code, _ = _refused(h, admin_pb2.ListRecommendationsRequest(project="ws/99/none"))
    assert code == grpc.StatusCode.NOT_FOUND
    empty = _stub(h).ListRecommendations(admin_pb2.ListRecommendationsRequest(project=str(other.id), state="rejected"),
                                         metadata=h.admin)
    assert list(empty.recommendations) == [] and empty.next_page_token == ""


def test_a_pending_recommendation_the_job_already_runs_says_so(h: Harness) -> None:
    p = _project(h)
    for minute, cost in ((0, 1.0), (2, 3.0), (4, 2.0)):
        _run(h, p, SAME, minute, cost)
    _run(h, p, SAME, 6, 9.0, outcome="failed")  # a failed run's cost is no cost of the cluster per run
    _run(h, p, BIGGER, 8, 7.0)  # another cluster's
    same = _rec(h, p, SAME, 10)

    shown = _stub(h).GetRecommendation(admin_pb2.GetRecommendationRequest(project=p.name), metadata=h.admin)
    assert shown.id == str(same) and shown.already_on_job
    project = h.projects.GetProject(admin_pb2.GetProjectRequest(project=p.name), metadata=h.admin)
    assert project.pending_recommendation.id == str(same) and project.pending_recommendation.already_on_job
    assert project.current_cost_per_run == 2.0  # the median of the current cluster's succeeded runs
    listed = _stub(h).ListRecommendations(admin_pb2.ListRecommendationsRequest(project=p.name), metadata=h.admin)
    assert listed.recommendations[0].already_on_job

    other = _rec(h, p, SMALLER, 20)  # supersedes it
    shown = _stub(h).GetRecommendation(admin_pb2.GetRecommendationRequest(project=p.name), metadata=h.admin)
    assert shown.id == str(other) and not shown.already_on_job
    project = h.projects.GetProject(admin_pb2.GetProjectRequest(project=p.name), metadata=h.admin)
    assert project.pending_recommendation.id == str(other) and not project.pending_recommendation.already_on_job
    listed = _stub(h).ListRecommendations(admin_pb2.ListRecommendationsRequest(project=p.name), metadata=h.admin)
    assert [r.already_on_job for r in listed.recommendations] == [False, False]  # the superseded one is no longer pending


def test_project_without_a_pending_recommendation(h: Harness) -> None:
    p = _project(h)
    _rec(h, p, SMALLER, 1, state="applied")
    project = h.projects.GetProject(admin_pb2.GetProjectRequest(project=p.name), metadata=h.admin)
    assert not project.HasField("pending_recommendation") and not project.HasField("current_cost_per_run")
    listing = h.projects.ListProjects(admin_pb2.ListProjectsRequest(), metadata=h.admin)
    assert not listing.projects[0].HasField("pending_recommendation")
