"""A write repeated after its reply was lost is told apart from a conflict (review grpcapi t_apply,
t_reject, t_revert): repeating ApplyRecommendation, RejectRecommendation or RevertRecommendation after
the first went through was FAILED_PRECONDITION like a real conflict, with nothing but its words to tell.
Now such a refusal carries trailing metadata `trimtab-reason` (ALREADY_APPLIED, ALREADY_REJECTED,
ALREADY_REVERTED) and `trimtab-recommendation-id`; a conflict carries no reason. Real gRPC server, the
workspace emulator over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc
from server.domain import ClusterConfig, Project, Recommendation
from server.serve import RunningServer
from server.store import Store

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def stub(server: RunningServer, store: Store) -> Iterator[Callable[[str, Any], Any]]:
    """One RecommendationService call over real gRPC with an admin token, as a script makes it."""
    _, token = store.tokens.create("script", "admin")
    channel = grpc.insecure_channel(server.address)
    service = admin_pb2_grpc.RecommendationServiceStub(channel)

    def call(method: str, request: Any) -> Any:
        return getattr(service, method)(request, metadata=[("authorization", f"Bearer {token}")], timeout=120)

    yield call
    channel.close()


def _recommend(store: Store, project: Project, workers: int) -> Recommendation:
    config = ClusterConfig(node_type_id="m5d.2xlarge", num_workers=workers, availability="ON_DEMAND",
                           first_on_demand=1)
    return store.recommendations.add(Recommendation(project_id=int(project.id or 0), config=config, reason="test"))


def _refusal(call: Callable[[str, Any], Any], method: str, request: Any) -> tuple[grpc.StatusCode, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as refused:
        call(method, request)
    error: Any = refused.value
    return error.code(), {k: v for k, v in error.trailing_metadata() or () if k.startswith("trimtab-")}


@pytest.fixture
def project(trimtab: Cli, store: Store, cli_workspace: str, job_ids: list[int]) -> Project:
    code, out, err = trimtab("workspace", "import", "sbx", "--job", str(job_ids[0]))
    assert code == 0 and "created" in out, err
    (found,) = [p for p in store.projects.list("sbx") if p.job_id == job_ids[0]]
    return found


def test_a_repeated_apply_says_already_applied_and_a_conflict_says_no_reason(
        stub: Callable[[str, Any], Any], store: Store, project: Project) -> None:
    first = _recommend(store, project, 2)
    pinned = admin_pb2.ApplyRecommendationRequest(project=project.name, recommendation_id=str(first.id))
    assert stub("ApplyRecommendation", pinned).applied
    done = {"trimtab-reason": "ALREADY_APPLIED", "trimtab-recommendation-id": str(first.id)}
    for again in (pinned, admin_pb2.ApplyRecommendationRequest(project=project.name)):
        assert _refusal(stub, "ApplyRecommendation", again) == (grpc.StatusCode.FAILED_PRECONDITION, done)

    # A run used it, and a newer one is pending: the pinned repeat is still "done", not "no longer pending".
    stored = store.projects.get(int(project.id or 0))
    store.projects.update(dataclasses.replace(stored, pending_apply={**(stored.pending_apply or {}), "confirmed": True}))
    second = _recommend(store, project, 3)
    assert _refusal(stub, "ApplyRecommendation", pinned) == (grpc.StatusCode.FAILED_PRECONDITION, done)
    # A real conflict: a pin on one that was never applied while another is pending carries no reason.
    third = _recommend(store, project, 4)
    code, meta = _refusal(stub, "ApplyRecommendation", admin_pb2.ApplyRecommendationRequest(
        project=project.name, recommendation_id=str(second.id)))
    assert (code, meta) == (grpc.StatusCode.FAILED_PRECONDITION, {}), third


def test_a_repeated_reject_says_already_rejected(stub: Callable[[str, Any], Any], store: Store,
                                                 project: Project) -> None:
    rec = _recommend(store, project, 2)
    pinned = admin_pb2.RejectRecommendationRequest(project=project.name, recommendation_id=str(rec.id))
    assert stub("RejectRecommendation", pinned).state == "rejected"
    done = {"trimtab-reason": "ALREADY_REJECTED", "trimtab-recommendation-id": str(rec.id)}
    for again in (pinned, admin_pb2.RejectRecommendationRequest(project=project.name)):
        assert _refusal(stub, "RejectRecommendation", again) == (grpc.StatusCode.FAILED_PRECONDITION, done)
    # Rejecting what is applied is no repeat: refused without a reason.
    applied = _recommend(store, project, 3)
    assert stub("ApplyRecommendation", admin_pb2.ApplyRecommendationRequest(project=project.name)).applied
    assert _refusal(stub, "RejectRecommendation", admin_pb2.RejectRecommendationRequest(
        project=project.name, recommendation_id=str(applied.id))) == (grpc.StatusCode.FAILED_PRECONDITION, {})


def test_a_repeated_revert_says_already_reverted(stub: Callable[[str, Any], Any], store: Store,
                                                 project: Project) -> None:
    rec = _recommend(store, project, 2)
    assert stub("ApplyRecommendation", admin_pb2.ApplyRecommendationRequest(project=project.name)).applied
    pinned = admin_pb2.RevertRecommendationRequest(project=project.name, recommendation_id=str(rec.id))
    assert stub("RevertRecommendation", pinned).applied
    done = {"trimtab-reason": "ALREADY_REVERTED", "trimtab-recommendation-id": str(rec.id)}
    for again in (pinned, admin_pb2.RevertRecommendationRequest(project=project.name)):
        assert _refusal(stub, "RevertRecommendation", again) == (grpc.StatusCode.FAILED_PRECONDITION, done)
