"""Settings sent again unchanged plan nothing; Apply and Reject can pin the recommendation a script
reviewed (review rev15a finding 2), over real gRPC on SQLite and PostgreSQL.

UpdateProjectSettings planned again on every call, so `trimtab project set --sla 480` run twice
superseded the pending recommendation with a new one each time (and with auto-apply could write
the job), and what a script had reviewed with a dry run was not what it then applied.
"""

from __future__ import annotations

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.domain import ProjectSettings
from tests.server.conftest import Harness, StartHarness, planned_project


@pytest.fixture
def h(start_harness: StartHarness, migrated_db_url: str) -> Harness:
    return start_harness(migrated_db_url)  # collection on: the server's planner plans again


def _planned(h: Harness) -> tuple[int, int]:
    """A project with three runs and a pending recommendation under a 4000 s SLA: its id and the recommendation's."""
    project, rec_id = planned_project(h, settings=ProjectSettings(sla_seconds=4000.0, spot_allowed=False))
    return int(project.id or 0), rec_id


def _pending(h: Harness, pid: int) -> int | None:
    rec = h.store.recommendations.pending(pid)
    return None if rec is None else rec.id


def _set(h: Harness, pid: int, **settings: object) -> admin_pb2.Project:
    return h.projects.UpdateProjectSettings(admin_pb2.UpdateProjectSettingsRequest(
        project=str(pid), settings=admin_pb2.ProjectSettings(**settings)), metadata=h.admin)


def test_unchanged_settings_keep_the_pending_recommendation(h: Harness) -> None:
    pid, first = _planned(h)
    for _ in range(3):
        assert _set(h, pid, sla_seconds=4000.0).settings.sla_seconds == 4000.0
        assert _pending(h, pid) == first
    assert h.store.recommendations.get(first).state == "pending"
    # A real change still plans again under the new SLA.
    _set(h, pid, sla_seconds=900.0)
    replanned = _pending(h, pid)
    assert replanned is not None and replanned != first
    assert h.store.recommendations.get(first).state == "superseded"
    assert "900s SLA" in h.store.recommendations.get(replanned).reason


def _refused(call: object, request: object, h: Harness) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, metadata=h.admin)  # type: ignore[operator]
    return raised.value.code(), raised.value.details() or ""


def test_reject_pinned_to_a_recommendation_no_longer_pending_is_refused(h: Harness) -> None:
    pid, first = _planned(h)
    recs = admin_pb2_grpc.RecommendationServiceStub(h.channel)
    _set(h, pid, sla_seconds=900.0)  # plans again: `first` is superseded
    second = _pending(h, pid)
    assert second is not None and second != first
    code, details = _refused(recs.RejectRecommendation,
                             admin_pb2.RejectRecommendationRequest(project=str(pid), recommendation_id=str(first)), h)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert f"recommendation {first} is no longer pending" in details and f"{second} is" in details
    assert _pending(h, pid) == second  # nothing rejected
    # The same for an apply, refused before the workspace (not connected here) is asked anything.
    code, details = _refused(recs.ApplyRecommendation, admin_pb2.ApplyRecommendationRequest(
        project=str(pid), recommendation_id=str(first), dry_run=True), h)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and f"recommendation {first}" in details
    for bad in ("abc", "-1"):
        code, details = _refused(recs.RejectRecommendation, admin_pb2.RejectRecommendationRequest(
            project=str(pid), recommendation_id=bad), h)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "recommendation_id" in details
    # Pinned to the pending one (or not pinned), it is rejected.
    rejected = recs.RejectRecommendation(admin_pb2.RejectRecommendationRequest(
        project=str(pid), recommendation_id=str(second)), metadata=h.admin)
    assert (rejected.id, rejected.state) == (str(second), "rejected")
