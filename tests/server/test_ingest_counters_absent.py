"""A batch without ``counters`` keeps the agent's stored counters (grpcapi review, t_counters.py).

Before: the store took an absent AgentCounters message for all zeros, so one batch from an older
agent or another client turned an agent's read=100, sent=90, dropped_spool_full=7 into
{events_sent: 2}. Now an absent message leaves the stored counters as they are, and the batch's
events are added to events_sent at its first delivery (they were sent: the server stored them).
Through a real gRPC server on SQLite and PostgreSQL, read back with ListAgents.
"""

from __future__ import annotations

from protos.trimtab.v1 import admin_pb2, ingest_pb2
from server.translate import batch_from_proto
from tests.server.conftest import Harness, StartHarness

AGENT = ingest_pb2.AgentInfo(agent_id="agent-cnt", cluster_id="cluster-cnt")


def _events(*keys: str) -> list[ingest_pb2.Event]:
    return [ingest_pb2.Event(key=k, application_id="app-cnt",
                             executor_added=ingest_pb2.ExecutorAdded(executor_id=k, time_ms=1000)) for k in keys]


def _send(h: Harness, batch_id: str, counters: ingest_pb2.AgentCounters | None, *keys: str) -> None:
    batch = ingest_pb2.EventBatch(batch_id=batch_id, agent=AGENT, events=_events(*keys))
    if counters is not None:
        batch.counters.CopyFrom(counters)
    h.ingest.SendBatch(batch, metadata=h.agent, timeout=30)


def _listed(h: Harness) -> tuple[ingest_pb2.AgentCounters, int]:
    (agent,) = h.runs.ListAgents(admin_pb2.ListAgentsRequest(cluster_id="cluster-cnt"), metadata=h.admin).agents
    return agent.counters, agent.batches_received


def test_a_batch_without_counters_keeps_the_stored_ones(migrated_db_url: str, start_harness: StartHarness) -> None:
    h = start_harness(url=migrated_db_url)
    reported = ingest_pb2.AgentCounters(events_read=100, events_sent=90, events_dropped_spool_full=7,
                                        batches_dropped_spool_full=1, lines_corrupt=2,
                                        spark_dropped_events={"eventLog": 3})
    _send(h, "b1", reported, "1")
    counters, batches = _listed(h)
    assert (counters.events_read, counters.events_sent, batches) == (100, 91, 1)  # 90 + the batch's one

    _send(h, "b2", None, "2", "3")
    counters, batches = _listed(h)
    # Before: events_read 0, events_sent 2, events_dropped_spool_full 0, spark_dropped_events {}.
    assert (counters.events_read, counters.events_sent, counters.events_dropped_spool_full,
            counters.batches_dropped_spool_full, counters.lines_corrupt) == (100, 93, 7, 1, 2)
    assert dict(counters.spark_dropped_events) == {"eventLog": 3}
    assert batches == 2

    # A re-delivery of it (its acknowledgement lost) adds nothing: its events were counted once.
    _send(h, "b2", None, "2", "3")
    counters, batches = _listed(h)
    assert (counters.events_read, counters.events_sent, batches) == (100, 93, 2)

    # Counters sent again replace the stored ones whole, as before (the latest report wins).
    _send(h, "b3", ingest_pb2.AgentCounters(events_read=120, events_sent=93), "4")
    counters, _ = _listed(h)
    assert (counters.events_read, counters.events_sent, counters.events_dropped_spool_full) == (120, 94, 0)


def test_an_agent_that_never_sends_counters_counts_what_it_delivered(
        migrated_db_url: str, start_harness: StartHarness) -> None:
    h = start_harness(url=migrated_db_url)
    _send(h, "b1", None, "1", "2")
    _send(h, "b2", None, "3")
    counters, batches = _listed(h)
    # Before: events_sent 1 (the last batch's events only).
    assert (counters.events_read, counters.events_sent, batches) == (0, 3, 2)


def test_batches_of_one_agent_written_in_one_group_add_up(migrated_db_url: str, start_harness: StartHarness) -> None:
    """The writer stores queued batches in one transaction (`IngestWriter`): a batch without counters
    after one with them in the same group builds on that one's, not on the row stored before."""
    h = start_harness(url=migrated_db_url)
    _send(h, "b0", ingest_pb2.AgentCounters(events_read=5, events_sent=4), "0")
    batches = [ingest_pb2.EventBatch(batch_id="b1", agent=AGENT, events=_events("1"),
                                     counters=ingest_pb2.AgentCounters(events_read=50, events_sent=40)),
               ingest_pb2.EventBatch(batch_id="b2", agent=AGENT, events=_events("2", "3"))]
    h.store.ingest.write([h.store.ingest.prepare(batch_from_proto(b, 100)) for b in batches])
    counters, batches_received = _listed(h)
    assert (counters.events_read, counters.events_sent, batches_received) == (50, 43, 3)

