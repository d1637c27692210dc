"""Agents over real gRPC (a server on 127.0.0.1:0): ListAgents for admin tokens only, and a token bound to
another workspace leaving an agent's status alone (its batch stored as before, one WARNING naming
the agent and the token); an agent an unbound token reported first claimed by the first bound token;
BATCHES counting a batch once however often it is delivered, SENT including the batch that reported
it; on SQLite and PostgreSQL."""

from __future__ import annotations

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2, ingest_pb2
from server.domain import Workspace
from server.store import Store
from server.store.repos.tokens import split_token
from tests.server.conftest import StartHarness, event_batch


def _md(plaintext: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {plaintext}"),)


def _workspaces(store: Store, *names: str) -> None:
    for name in names:
        store.workspaces.add(Workspace(name=name, host=f"https://{name}.example", cloud="aws"), token_encrypted="x")


def _batch(batch_id: str, app: str, version: str, sent: int, first: int = 0) -> ingest_pb2.EventBatch:
    batch = event_batch(batch_id, 1, app=app, agent="agent-a", first=first)
    batch.agent.version, batch.agent.cluster_id = version, "c-a"
    batch.counters.CopyFrom(ingest_pb2.AgentCounters(events_sent=sent, events_dropped_spool_full=sent // 10,
                                                     spark_dropped_events={"eventLog": 3}))
    return batch


def test_another_workspaces_token_leaves_the_agent_status_alone(migrated_db_url: str, start_harness: StartHarness,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    h = start_harness(url=migrated_db_url)
    _workspaces(h.store, "a", "b")
    _, token_a = h.store.tokens.create("agent-a", "agent", workspace="a")
    token_b, plain_b = h.store.tokens.create("agent-b", "agent", workspace="b")
    assert h.ingest.SendBatch(_batch("a1", "app-a", "1.0", 100), metadata=_md(token_a)).stored_events == 1
    caplog.set_level("WARNING", logger="server.api.ingest_servicer")

    # B's batches naming a's agent id: stored and acknowledged as any of B's (application rules unchanged).
    for n in range(3):
        ack = h.ingest.SendBatch(_batch(f"b{n}", "app-b", "6.6", 999, first=n), metadata=_md(plain_b))
        assert ack.stored_events == 1 and ack.duplicate_events == 0
    assert h.store.applications.event_count("app-b") == 3 and h.store.applications.get("app-b").workspace == "b"
    listed = h.runs.ListAgents(admin_pb2.ListAgentsRequest(), metadata=h.admin).agents
    assert [(a.agent_id, a.workspace, a.version, a.batches_received, a.counters.events_sent) for a in listed] == [
        ("agent-a", "a", "1.0", 1, 101)]  # SENT: the 100 before it, and its own event
    # One WARNING (throttled per token and agent), naming both ids and no secret.
    (line,) = [r.getMessage() for r in caplog.records if "reported under token" in r.getMessage()]
    assert "agent 'agent-a'" in line and f"token {token_b.token_id}" in line
    parts = split_token(plain_b)
    assert parts is not None and parts[1] not in line

    # An unbound agent token still writes the row; the workspace stays a's.
    assert h.ingest.SendBatch(_batch("u1", "app-a", "1.1", 200, first=5), metadata=h.agent).stored_events == 1
    (agent,) = h.runs.ListAgents(admin_pb2.ListAgentsRequest(), metadata=h.admin).agents
    assert (agent.workspace, agent.version, agent.batches_received, agent.counters.events_sent) == ("a", "1.1", 2, 201)
    assert (agent.cluster_id, agent.counters.events_dropped_spool_full) == ("c-a", 20)
    assert dict(agent.counters.spark_dropped_events) == {"eventLog": 3}
    assert agent.last_seen_ms > 0


def test_the_first_bound_token_claims_an_agent_and_redeliveries_count_once(migrated_db_url: str,
                                                                          start_harness: StartHarness) -> None:
    h = start_harness(url=migrated_db_url)
    _workspaces(h.store, "a", "b")
    _, token_a = h.store.tokens.create("agent-a", "agent", workspace="a")
    _, token_b = h.store.tokens.create("agent-b", "agent", workspace="b")

    def listed(workspace: str = "") -> list[tuple[str, str, int, int]]:
        reply = h.runs.ListAgents(admin_pb2.ListAgentsRequest(workspace=workspace), metadata=h.admin)
        return [(a.workspace, a.version, a.batches_received, a.counters.events_sent) for a in reply.agents]

    # An unbound token reports the agent first (as every token did before workspaces): no workspace.
    assert h.ingest.SendBatch(_batch("u1", "app-a", "1.0", 0), metadata=h.agent).stored_events == 1
    assert listed() == [("", "1.0", 1, 1)] and listed("a") == []
    # Workspace a's token claims it at its first report; a re-delivery (the ack lost, the agent
    # retries with the same counters: its events_sent grows only at the ack) counts once.
    three = event_batch("a1", 3, app="app-a", agent="agent-a", first=1)
    three.agent.version = "1.1"
    three.counters.events_sent = 1
    for _ in range(3):
        h.ingest.SendBatch(three, metadata=_md(token_a))
    assert listed("a") == [("a", "1.1", 2, 4)] and listed() == listed("a")
    # b's token now leaves it alone.
    assert h.ingest.SendBatch(_batch("b1", "app-b", "6.6", 999), metadata=_md(token_b)).stored_events == 1
    assert listed() == [("a", "1.1", 2, 4)] and listed("b") == []


def test_list_agents_filters_and_refusals(start_harness: StartHarness) -> None:
    h = start_harness()
    _workspaces(h.store, "a", "empty")
    _, token_a = h.store.tokens.create("agent-a", "agent", workspace="a")
    h.ingest.SendBatch(_batch("a1", "app-a", "1.0", 1), metadata=_md(token_a))
    other = event_batch("u1", 1, app="app-u", agent="agent-u")
    other.agent.cluster_id = "c-u"
    h.ingest.SendBatch(other, metadata=h.agent)

    def ids(**request: object) -> list[str]:
        reply = h.runs.ListAgents(admin_pb2.ListAgentsRequest(**request), metadata=h.admin)  # type: ignore[arg-type]
        return [a.agent_id for a in reply.agents]

    assert sorted(ids()) == ["agent-a", "agent-u"]
    assert ids(workspace="a") == ["agent-a"]
    assert ids(cluster_id="c-u") == ["agent-u"]
    assert ids(workspace="empty") == []  # a connected workspace whose agents have not reported
    assert len(ids(limit=1)) == 1

    def refused(metadata: tuple[tuple[str, str]], **request: object) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as err:
            h.runs.ListAgents(admin_pb2.ListAgentsRequest(**request), metadata=metadata)  # type: ignore[arg-type]
        return err.value

    err = refused(h.agent)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "needs 'admin'" in err.details()
    err = refused(_md(token_a))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused(()).code() == grpc.StatusCode.UNAUTHENTICATED
    err = refused(h.admin, workspace="nope")
    assert err.code() == grpc.StatusCode.NOT_FOUND and "workspace 'nope' not found" in err.details()
    err = refused(h.admin, workspace="  ")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "workspace: must not be empty" in err.details()
    err = refused(h.admin, limit=-1)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "limit" in err.details()
