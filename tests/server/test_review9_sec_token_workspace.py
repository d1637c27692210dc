"""Agent tokens bound to a workspace (security review, ninth session): any agent token could write
Spark data for any workspace's clusters, and the collector tied it to their runs by cluster id
alone. Now the store records which workspace's token first sent each application and refuses the
events of another workspace's token adding to it (named in the acknowledgement, the batch's other
applications stored); an unbound token (an admin's, or an agent token made before, or without
--workspace) keeps working. A real server on
127.0.0.1:0, SQLite and PostgreSQL. The refusal log names only token ids the database holds."""

from __future__ import annotations

import dataclasses

import grpc
import pytest

from protos.trimtab.v1 import admin_pb2
from server.api.auth import AGENT_REFUSAL_LOG_SECONDS
from server.clock import FakeClock
from server.domain import AgentInfo, IngestBatch, IngestEvent, Stage, Workspace
from server.errors import InvalidArgument, NotFound
from server.store import PreparedBatch, Store, open_store
from server.store.repos.ingest_rows import prepare
from tests.server.conftest import StartHarness, event_batch


def _md(plaintext: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {plaintext}"),)


def _workspaces(store: Store, *names: str) -> None:
    for name in names:
        store.workspaces.add(Workspace(name=name, host=f"https://{name}.example", cloud="aws"), token_encrypted="x")


def test_a_batch_adding_to_another_workspaces_application_is_refused(migrated_db_url: str,
                                                                    start_harness: StartHarness) -> None:
    h = start_harness(url=migrated_db_url)
    _workspaces(h.store, "a", "b")
    _, token_a = h.store.tokens.create("agent-a", "agent", workspace="a")
    _, token_b = h.store.tokens.create("agent-b", "agent", workspace="b")
    assert h.ingest.SendBatch(event_batch("b1", 2, app="app-x"), metadata=_md(token_b)).stored_events == 2
    assert h.store.applications.get("app-x").workspace == "b"

    ack = h.ingest.SendBatch(event_batch("a1", 3, app="app-x", first=2), metadata=_md(token_a))
    assert (ack.stored_events, ack.duplicate_events) == (0, 0)
    (refused,) = ack.refused_applications
    assert (refused.application_id, refused.events) == ("app-x", 3)
    assert "'app-x'" in refused.reason and "another workspace" in refused.reason
    assert "'b'" not in refused.reason  # the workspace it belongs to is not the sender's business
    assert h.store.applications.event_count("app-x") == 2 and h.store.applications.get("app-x").stage_count == 2
    # A batch mixing an application of its own with the other's: its own is stored, the other's refused
    # (refusing it whole held back every later batch of the agent, which resends what is not acknowledged).
    mixed = event_batch("a2", 2, app="app-a")
    mixed.events.extend(event_batch("x", 1, app="app-x", first=7).events)
    ack = h.ingest.SendBatch(mixed, metadata=_md(token_a))
    assert ack.stored_events == 2 and [(r.application_id, r.events) for r in ack.refused_applications] == [("app-x", 1)]
    assert h.store.applications.event_count("app-a") == 2 and h.store.applications.get("app-a").workspace == "a"
    assert h.store.applications.event_count("app-x") == 2
    # Resent (its acknowledgement lost), the same answer: nothing of app-x stored.
    ack = h.ingest.SendBatch(mixed, metadata=_md(token_a))
    assert (ack.stored_events, ack.duplicate_events, len(ack.refused_applications)) == (0, 2, 1)
    assert h.store.applications.event_count("app-x") == 2

    # Its own application, the owner adding more, and unbound tokens (agent, admin) go on as before.
    assert h.ingest.SendBatch(event_batch("a3", 1, app="app-a", first=2), metadata=_md(token_a)).stored_events == 1
    assert h.store.applications.get("app-a").workspace == "a"
    assert h.ingest.SendBatch(event_batch("b2", 1, app="app-x", first=2), metadata=_md(token_b)).stored_events == 1
    assert h.ingest.SendBatch(event_batch("u1", 1, app="app-x", first=3), metadata=h.agent).stored_events == 1
    assert h.ingest.SendBatch(event_batch("m1", 1, app="app-x", first=4), metadata=h.admin).stored_events == 1
    assert h.store.applications.get("app-x").workspace == "b"  # first writer wins
    # An application an unbound token sent first has no workspace, and a bound token may add to it
    # (one stored before migration 0010 takes its agent's last batches once the token is bound).
    assert h.ingest.SendBatch(event_batch("u2", 1, app="app-u"), metadata=h.agent).stored_events == 1
    assert h.ingest.SendBatch(event_batch("a4", 1, app="app-u", first=1), metadata=_md(token_a)).stored_events == 1
    assert h.store.applications.get("app-u").workspace is None


def test_two_workspaces_sending_one_new_application_in_one_write(migrated_db_url: str) -> None:
    """Both batches in one group commit: the first one (the writer's order) claims the application."""
    store = open_store(migrated_db_url)
    try:
        def batch(batch_id: str, agent: str, stage: int, workspace: str) -> PreparedBatch:
            domain = IngestBatch(batch_id=batch_id, agent=AgentInfo(agent_id=agent), events=(
                IngestEvent("app-new", f"stage-{stage}", "stage", Stage(application_id="app-new", stage_id=stage)),))
            return dataclasses.replace(prepare(domain), workspace=workspace)

        first, second = store.ingest.write([batch("b1", "agent-b", 0, "b"), batch("a1", "agent-a", 1, "a")])
        assert (first.stored_events, first.refused_applications) == (1, ())
        (refused,) = second.refused_applications
        assert second.stored_events == 0 and refused.application_id == "app-new" and refused.events == 1
        assert "'app-new'" in refused.reason
        assert store.applications.get("app-new").workspace == "b"
        assert [s.stage_id for s in store.applications.stages("app-new")] == [0]
        # The refused batch is acknowledged, so received from its agent; none of its events is stored.
        agents = {a.agent_id: a for a in store.ingest.agents()}
        assert sorted(agents) == ["agent-a", "agent-b"] and agents["agent-a"].workspace == "a"
    finally:
        store.close()


def test_tokens_carry_their_workspace(migrated_db_url: str) -> None:
    store = open_store(migrated_db_url)
    try:
        _workspaces(store, "a")
        token, plaintext = store.tokens.create("agent-a", "agent", workspace="a")
        assert token.workspace == "a" and store.tokens.verify(plaintext).workspace == "a"
        assert [t.workspace for t in store.tokens.list()] == ["a"]
        with pytest.raises(NotFound, match="workspace 'nope' not found"):
            store.tokens.create("agent-nope", "agent", workspace="nope")
        with pytest.raises(InvalidArgument, match="only an agent token"):
            store.tokens.create("ops", "admin", workspace="a")
        assert len(store.tokens.list()) == 1
    finally:
        store.close()


def test_refusals_of_unknown_token_ids_are_one_counted_line(start_harness: StartHarness,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """Made-up ids wrote one WARNING each (anyone could fill the log): now only ids the database
    holds (revoked, wrong secret) get a line of their own, the rest one summary per interval."""
    clock = FakeClock()
    h = start_harness(token_cache_seconds=0.0, clock=clock)
    caplog.set_level("WARNING", logger="server.api.auth")

    def lines(text: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if text in r.getMessage()]

    def refused(token: str) -> None:
        with pytest.raises(grpc.RpcError) as err:
            h.ingest.SendBatch(event_batch("b", 1), metadata=_md(token))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

    for n in range(30):
        refused(f"tt_{n:012x}_made-up")
    refused("not-a-token")
    (summary,) = lines("call(s) to the agent service refused")
    assert summary.startswith("1 call(s)") and "unknown to this database or malformed" in summary
    assert not lines("was refused on")  # no id of theirs is named
    # A stored id is named, once per interval: revoked, or its secret wrong.
    token, plaintext = h.store.tokens.create("agent-x", "agent")
    refused(f"tt_{token.token_id}_wrong-secret")
    refused(f"tt_{token.token_id}_wrong-secret")
    (named,) = lines("was refused on")
    assert f"token {token.token_id} was refused on SendBatch" in named
    h.store.tokens.revoke(token.token_id)
    refused(plaintext)
    assert len(lines("was refused on")) == 1
    # An admin call with a bad token is the caller's business: neither line counts it.
    with pytest.raises(grpc.RpcError):
        h.projects.ListProjects(admin_pb2.ListProjectsRequest(), metadata=_md("tt_feedfeedfeed_x"))
    clock.advance(AGENT_REFUSAL_LOG_SECONDS + 1)
    refused("tt_abcdefabcdef_x")
    summaries = lines("call(s) to the agent service refused")
    assert len(summaries) == 2 and summaries[1].startswith("31 call(s)")  # 29 + the malformed one + this one
    assert h.store.applications.event_count() == 0


def test_the_refusal_line_for_a_cross_workspace_batch_is_throttled(start_harness: StartHarness,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    h = start_harness()
    _workspaces(h.store, "a", "b")
    token_a, plain_a = h.store.tokens.create("agent-a", "agent", workspace="a")
    _, plain_b = h.store.tokens.create("agent-b", "agent", workspace="b")
    h.ingest.SendBatch(event_batch("b1", 1, app="app-x"), metadata=_md(plain_b))
    caplog.set_level("WARNING", logger="server.api.ingest_servicer")
    for n in range(3):
        assert len(h.ingest.SendBatch(event_batch(f"a{n}", 1, app="app-x", first=1),
                                      metadata=_md(plain_a)).refused_applications) == 1
    (line,) = [r.getMessage() for r in caplog.records if "refused for token" in r.getMessage()]
    assert f"1 event(s) refused for token {token_a.token_id}" in line and "'app-x'" in line

