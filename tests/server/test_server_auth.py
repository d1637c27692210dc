"""Token authentication: codes for every case; health and reflection stay open."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from protos.trimtab.v1 import admin_pb2
from server.clock import FakeClock
from tests.server.conftest import Harness, event_batch


def test_health_and_reflection_need_no_token(harness: Harness) -> None:
    health = health_pb2_grpc.HealthStub(harness.channel)
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    assert health.Check(health_pb2.HealthCheckRequest(service="trimtab.v1.IngestService")).status == \
        health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(harness.channel)
    [reply] = list(reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in reply.list_services_response.service}
    assert {"trimtab.v1.IngestService", "trimtab.v1.ProjectService", "trimtab.v1.RunService",
            "trimtab.v1.WorkspaceService", "trimtab.v1.RecommendationService", "grpc.health.v1.Health"} <= names
    [reply] = list(reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
        file_containing_symbol="trimtab.v1.ProjectService")])))
    assert reply.file_descriptor_response.file_descriptor_proto


@pytest.mark.parametrize("metadata", [(), (("authorization", "Bearer tt_unknown_secret"),),
                                      (("authorization", "Basic abc"),), (("authorization", "Bearer "),)])
def test_missing_or_wrong_token_is_unauthenticated(harness: Harness, metadata: tuple) -> None:
    with pytest.raises(grpc.RpcError) as err:
        harness.ingest.SendBatch(event_batch("b", 1), metadata=metadata)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as err:
        harness.projects.ListProjects(admin_pb2.ListProjectsRequest(), metadata=metadata)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert harness.store.applications.event_count() == 0


def test_agent_token_cannot_administer(harness: Harness) -> None:
    with pytest.raises(grpc.RpcError) as err:
        harness.projects.ListProjects(admin_pb2.ListProjectsRequest(), metadata=harness.agent)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "admin" in err.value.details()
    # The right scope works for both, and an admin token may also send events.
    assert harness.projects.ListProjects(admin_pb2.ListProjectsRequest(), metadata=harness.admin).projects == []
    assert harness.ingest.SendBatch(event_batch("b", 2), metadata=harness.agent).stored_events == 2
    assert harness.ingest.SendBatch(event_batch("c", 3, first=2), metadata=harness.admin).stored_events == 3


def test_verified_tokens_are_cached_until_the_clock_says_otherwise(start_harness) -> None:
    clock = FakeClock()
    h = start_harness(token_cache_seconds=30.0, token_revocation_check_seconds=30.0, clock=clock)
    token, plaintext = h.store.tokens.create("short-lived", "agent")
    md = (("authorization", f"Bearer {plaintext}"),)
    assert h.ingest.SendBatch(event_batch("b", 1), metadata=md).stored_events == 1
    h.store.tokens.revoke(token.token_id)
    # Still trusted from the cache: no database read per batch.
    assert h.ingest.SendBatch(event_batch("b2", 1, first=1), metadata=md).stored_events == 1
    clock.advance(31)
    with pytest.raises(grpc.RpcError) as err:
        h.ingest.SendBatch(event_batch("b3", 1, first=2), metadata=md)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_revoked_agent_token_is_refused_within_the_revocation_bound(start_harness) -> None:
    clock = FakeClock()
    h = start_harness(token_cache_seconds=30.0, token_revocation_check_seconds=2.0, clock=clock)
    token, plaintext = h.store.tokens.create("leaked", "agent")
    _, other = h.store.tokens.create("kept", "agent")
    md = (("authorization", f"Bearer {plaintext}"),)
    kept = (("authorization", f"Bearer {other}"),)
    assert h.ingest.SendBatch(event_batch("b", 1), metadata=md).stored_events == 1
    assert h.ingest.SendBatch(event_batch("k", 1, first=10), metadata=kept).stored_events == 1
    h.store.tokens.revoke(token.token_id)
    clock.advance(1.0)  # inside the bound the cached verdict may still stand
    assert h.ingest.SendBatch(event_batch("b2", 1, first=1), metadata=md).stored_events == 1
    clock.advance(1.01)  # past the 2 s bound, far inside the 30 s cache
    with pytest.raises(grpc.RpcError) as err:
        h.ingest.SendBatch(event_batch("b3", 1, first=2), metadata=md)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Other tokens keep working from the cache.
    assert h.ingest.SendBatch(event_batch("k2", 1, first=11), metadata=kept).stored_events == 1


def test_a_refused_agent_token_is_logged_once_per_interval(start_harness, caplog: pytest.LogCaptureFixture) -> None:
    """The agent only said so in the driver's log, and its runs were collected without their data
    (API review, ninth session): the server names the token, once per token per interval."""
    from server.api.auth import AGENT_REFUSAL_LOG_SECONDS

    clock = FakeClock()
    h = start_harness(token_cache_seconds=0.0, clock=clock)
    token, plaintext = h.store.tokens.create("agent-sbx", "agent")
    h.store.tokens.revoke(token.token_id)
    md = (("authorization", f"Bearer {plaintext}"),)

    def refused_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if "was refused on" in r.getMessage()]

    caplog.set_level("WARNING", logger="server.api.auth")
    for n in range(3):
        with pytest.raises(grpc.RpcError) as err:
            h.ingest.SendBatch(event_batch(f"b{n}", 1), metadata=md)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    (line,) = refused_lines()
    assert f"token {token.token_id} was refused on SendBatch" in line and "trimtab workspace import" in line
    # An admin call with a bad token is the caller's own business: not logged as an agent's.
    with pytest.raises(grpc.RpcError):
        h.projects.ListProjects(admin_pb2.ListProjectsRequest(), metadata=md)
    assert len(refused_lines()) == 1
    clock.advance(AGENT_REFUSAL_LOG_SECONDS + 1)
    with pytest.raises(grpc.RpcError):
        h.ingest.SendBatch(event_batch("b9", 1), metadata=md)
    assert len(refused_lines()) == 2
    assert h.store.applications.event_count() == 0


@pytest.mark.parametrize(("value", "words"), [
    ("RAW", "malformed authorization header (a bare token: put 'Bearer ' before it)"),
    ("Basic abc", "malformed authorization header: send 'authorization: Bearer <token>'"),
    ("Bearer ", "missing token"), ("Bearer", "missing token"), (None, "missing token")])
def test_a_token_sent_without_bearer_is_a_malformed_header_not_a_missing_token(
        harness: Harness, value: str | None, words: str) -> None:
    """Review rev15a F6: a script that sent its (valid) token bare heard "missing token"."""
    token = harness.admin[0][1].removeprefix("Bearer ")
    metadata = () if value is None else (("authorization", token if value == "RAW" else value),)
    with pytest.raises(grpc.RpcError) as err:
        harness.projects.ListProjects(admin_pb2.ListProjectsRequest(), metadata=metadata)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details().startswith(words), err.value.details()
    assert token not in err.value.details()
