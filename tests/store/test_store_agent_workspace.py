"""Agent status rows record the workspace of the first workspace-bound token that reported the agent
(first writer wins, as applications do): a token bound to another workspace has its batch stored as
before, but does not overwrite the row. Unbound tokens update any row; a row with no workspace (an
unbound token's, or one stored before migration 0011) is claimed by the first bound token reporting
it. A batch counts once in BATCHES however often it is delivered, and SENT includes the batch that
reported it. Both engines; migration 0011 too."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from alembic import command

from server.clock import FakeClock
from server.domain import AgentCounters, AgentInfo, IngestBatch, IngestEvent, IngestResult, Stage
from server.store import PreparedBatch, Store, migrate, open_store
from server.store.engine import make_engine
from server.store.repos.ingest_rows import prepare


def _batch(batch_id: str, workspace: str | None, *, agent: str = "agent-x", app: str = "app-1", stage: int = 0,
           version: str = "1.0", sent: int = 0, cluster: str = "c-1") -> PreparedBatch:
    domain = IngestBatch(batch_id=batch_id, agent=AgentInfo(agent_id=agent, version=version, hostname="h",
                                                            cluster_id=cluster),
                         events=(IngestEvent(app, f"stage/{stage}/0", "stage",
                                             Stage(application_id=app, stage_id=stage)),),
                         counters=AgentCounters(events_sent=sent, events_dropped_spool_full=sent // 2))
    return dataclasses.replace(prepare(domain), workspace=workspace)


def test_another_workspaces_token_does_not_overwrite_the_agents_row(store: Store, clock: FakeClock) -> None:
    assert store.ingest.write([_batch("a1", "a", sent=10)]) == [IngestResult("a1", 1, 0)]
    (before,) = store.ingest.agents()
    # SENT includes the batch's own event: the agent counts a batch only once it is acknowledged.
    assert before.workspace == "a" and before.version == "1.0" and before.counters.events_sent == 11
    clock.advance(60)

    # Workspace b's token naming a's agent: its events are stored and materialized as before (its own
    # application), the ack says nothing else, and the agent's row is left exactly as it was.
    (result,) = store.ingest.write([_batch("b1", "b", app="app-b", version="6.6", sent=999)])
    assert (result.stored_events, result.refused_applications, result.agent_status_skipped) == (1, (), True)
    assert store.applications.get("app-b").workspace == "b"
    assert [s.stage_id for s in store.applications.stages("app-b")] == [0]
    assert store.ingest.agents() == [before]

    # The owner's next batch updates it; so does an unbound token's (admin, or made without
    # --workspace), which leaves the workspace as it is.
    (result,) = store.ingest.write([_batch("a2", "a", stage=1, version="1.1", sent=20)])
    assert not result.agent_status_skipped
    (mine,) = store.ingest.agents()
    assert (mine.version, mine.counters.events_sent, mine.batches_received) == ("1.1", 21, 2)
    assert mine.last_seen_ms == before.last_seen_ms + 60_000
    (result,) = store.ingest.write([_batch("u1", None, stage=2, version="1.2", sent=30)])
    assert not result.agent_status_skipped
    (mine,) = store.ingest.agents()
    assert (mine.version, mine.workspace, mine.batches_received) == ("1.2", "a", 3)


def test_a_row_an_unbound_token_made_is_claimed_by_the_first_bound_token(store: Store) -> None:
    store.ingest.write([_batch("u1", None, agent="agent-u")])
    assert store.ingest.agents()[0].workspace is None
    assert store.ingest.agents(workspace="b") == []
    (result,) = store.ingest.write([_batch("b1", "b", agent="agent-u", stage=1, version="2.0")])
    assert not result.agent_status_skipped
    (row,) = store.ingest.agents()
    assert (row.workspace, row.version, row.batches_received) == ("b", "2.0", 2)
    assert store.ingest.agents(workspace="b") == [row]
    # Claimed, it is b's: another workspace's token leaves it alone, an unbound one still updates it.
    (result,) = store.ingest.write([_batch("c1", "c", agent="agent-u", app="app-c", version="6.6")])
    assert result.agent_status_skipped and store.ingest.agents() == [row]
    (result,) = store.ingest.write([_batch("u2", None, agent="agent-u", stage=2, version="2.1")])
    assert not result.agent_status_skipped
    (row,) = store.ingest.agents()
    assert (row.workspace, row.version, row.batches_received) == ("b", "2.1", 3)


def test_in_one_write_an_unbound_row_is_claimed_by_the_first_bound_batch(store: Store) -> None:
    results = store.ingest.write([_batch("u1", None, app="app-u", version="u"),
                                  _batch("a1", "a", app="app-a", version="a"),
                                  _batch("b1", "b", app="app-b", version="b")])
    assert [r.agent_status_skipped for r in results] == [False, False, True]
    (row,) = store.ingest.agents()
    assert (row.workspace, row.version, row.batches_received) == ("a", "a", 2)


def test_a_redelivered_batch_counts_once_and_sent_includes_the_batch(store: Store, clock: FakeClock) -> None:
    # Each attempt carries the counters of its moment, which never include the batch itself (the
    # agent counts it once acknowledged): a re-delivery after a lost ack carries the same events_sent.
    first = _batch("b1", "a", sent=40)
    two = dataclasses.replace(first, events=first.events * 3)  # three events, one stored (same key)
    assert store.ingest.write([two]) == [IngestResult("b1", 1, 2)]
    (row,) = store.ingest.agents()
    assert (row.batches_received, row.counters.events_sent) == (1, 43)
    for _ in range(3):
        clock.advance(1)
        assert store.ingest.write([two]) == [IngestResult("b1", 0, 3)]
    assert store.ingest.write([two, two]) == [IngestResult("b1", 0, 3), IngestResult("b1", 0, 3)]
    (row,) = store.ingest.agents()
    assert (row.batches_received, row.counters.events_sent) == (1, 43)
    assert row.last_seen_ms == clock.now_ms()  # a re-delivery still says the agent is alive
    # The next batch (a new id) counts, with the acknowledged one now in the agent's own counter.
    assert store.ingest.write([_batch("b2", "a", stage=1, sent=43), _batch("b2", "a", stage=1, sent=43)]) == [
        IngestResult("b2", 1, 0), IngestResult("b2", 0, 1)]
    (row,) = store.ingest.agents()
    assert (row.batches_received, row.counters.events_sent) == (2, 44)
    # Each batch row keeps its deliveries.
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT batch_id, deliveries FROM ingest_batches ORDER BY batch_id")).all()
    assert [tuple(r) for r in rows] == [("b1", 6), ("b2", 2)]


def test_a_batch_id_another_agent_used_counts_as_new(store: Store) -> None:
    store.ingest.write([_batch("x", None, agent="g1", app="app-1"), _batch("y", None, agent="g2", app="app-2")])
    # Each agent now sends the batch id the other one used: new batches of theirs, both counted.
    store.ingest.write([_batch("y", None, agent="g1", app="app-1", stage=1),
                        _batch("x", None, agent="g2", app="app-2", stage=1)])
    assert {a.agent_id: a.batches_received for a in store.ingest.agents()} == {"g1": 2, "g2": 2}


def test_sent_counts_the_events_the_server_dropped_as_invalid(store: Store) -> None:
    # The agent counts every event of an acknowledged batch as sent, the ones dropped as invalid too.
    batch = dataclasses.replace(_batch("b1", None, sent=7), dropped_events=2)
    store.ingest.write([batch])
    assert store.ingest.agents()[0].counters.events_sent == 10


def test_in_one_write_the_first_batch_claims_a_new_agent(store: Store) -> None:
    first, second, third = store.ingest.write([_batch("b1", "b", app="app-b", version="b"),
                                               _batch("a1", "a", app="app-a", version="a"),
                                               _batch("b2", "b", app="app-b", stage=1, version="b2")])
    assert [r.agent_status_skipped for r in (first, second, third)] == [False, True, False]
    assert second.stored_events == 1 and store.applications.get("app-a").workspace == "a"
    (row,) = store.ingest.agents()
    assert (row.workspace, row.version, row.batches_received) == ("b", "b2", 2)


def test_agents_filtered_by_workspace_and_cluster_newest_first(store: Store, clock: FakeClock) -> None:
    for n, (agent, workspace, cluster) in enumerate([("g1", "a", "c-1"), ("g2", "b", "c-2"), ("g3", None, "c-1"),
                                                     ("g4", "a", "c-3")]):
        store.ingest.write([_batch(f"b{n}", workspace, agent=agent, app=f"app-{n}", cluster=cluster)])
        clock.advance(1)
    assert [a.agent_id for a in store.ingest.agents()] == ["g1", "g2", "g3", "g4"]  # by id without a limit
    assert [a.agent_id for a in store.ingest.agents(limit=3)] == ["g4", "g3", "g2"]
    assert [a.agent_id for a in store.ingest.agents(workspace="a", limit=10)] == ["g4", "g1"]
    assert [a.agent_id for a in store.ingest.agents(cluster_id="c-1", limit=10)] == ["g3", "g1"]
    assert store.ingest.agents(workspace="b", cluster_id="c-1", limit=10) == []


def test_upgrade_from_0010_keeps_agents_with_no_workspace_and_downgrade_drops_it(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0010")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO agents (agent_id, version, hostname, cluster_id, counters, "
                             "batches_received, last_seen_ms) VALUES ('old', '0.9', 'h', 'c-9', "
                             "'{\"events_sent\": 5}', 7, 1)"))
    engine.dispose()
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        (old,) = store.ingest.agents()
        assert (old.workspace, old.version, old.batches_received, old.counters.events_sent) == (None, "0.9", 7, 5)
        # Stored before the column, its agent's (now bound) token claims it at its next report.
        assert store.ingest.agents(workspace="a") == []
        (result,) = store.ingest.write([_batch("a1", "a", agent="old", version="1.0", sent=5)])
        assert not result.agent_status_skipped
        (old,) = store.ingest.agents()
        assert (old.workspace, old.version, old.batches_received, old.counters.events_sent) == ("a", "1.0", 8, 6)
        assert store.ingest.agents(workspace="a") == [old]
        (result,) = store.ingest.write([_batch("b1", "b", agent="old", app="app-b", version="6.6")])
        assert result.agent_status_skipped and store.ingest.agents() == [old]
    finally:
        store.close()
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "0010")
        assert migrate.current_revision(engine) == "0010"
        assert "workspace" not in {c["name"] for c in sa.inspect(engine).get_columns("agents")}
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
