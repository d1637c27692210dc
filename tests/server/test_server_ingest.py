"""SendBatch over gRPC: once-only storage, validation codes, and no false ack."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa

from protos.trimtab.v1 import ingest_pb2
from tests.server.conftest import Harness, StartHarness, event_batch


def test_resending_a_batch_stores_it_once(start_harness: StartHarness, migrated_db_url: str) -> None:
    h = start_harness(migrated_db_url)
    batch = event_batch("spool-0001", 50)
    first = h.ingest.SendBatch(batch, metadata=h.agent)
    assert (first.batch_id, first.stored_events, first.duplicate_events) == ("spool-0001", 50, 0)
    for _ in range(4):
        again = h.ingest.SendBatch(batch, metadata=h.agent)
        assert (again.stored_events, again.duplicate_events) == (0, 50)
    # A later batch overlapping the first stores only what is new.
    overlap = h.ingest.SendBatch(event_batch("spool-0002", 20, first=40), metadata=h.agent)
    assert (overlap.stored_events, overlap.duplicate_events) == (10, 10)
    assert h.store.applications.event_count() == 60
    assert h.store.applications.get("app-1").stage_count == 60
    [agent] = h.store.ingest.agents()
    assert agent.batches_received == 2  # two batches: spool-0001 counts once, not at each of its 5 deliveries


def _no_rows(h: Harness) -> None:
    assert h.store.applications.event_count() == 0
    assert h.store.applications.list() == []
    assert h.store.ingest.agents() == []


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: b.ClearField("batch_id"), "batch_id"),
    (lambda b: b.ClearField("agent"), "agent"),
    (lambda b: setattr(b.events[3], "key", ""), "events[3].key"),
    (lambda b: setattr(b.events[1], "application_id", ""), "events[1].application_id"),
    (lambda b: b.events[2].ClearField("stage_completed"), "events[2].body"),
    (lambda b: setattr(b.events[4], "key", "k" * 600), "events[4].key"),
    (lambda b: b.events.add(key="x", application_id="app-1",
                            application_start=ingest_pb2.ApplicationStart(application_id="other")),
     "events[5].application_start.application_id"),
])
def test_malformed_batch_is_invalid_argument_naming_the_field(harness: Harness, mutate, field: str) -> None:
    """A bad envelope refuses the batch; a bad event is dropped and named, the rest stored."""
    batch = event_batch("b1", 5)
    mutate(batch)
    if field.startswith("events["):
        ack = harness.ingest.SendBatch(batch, metadata=harness.agent)
        assert (ack.dropped_events, ack.stored_events) == (1, len(batch.events) - 1)
        assert ack.drop_reason.startswith(field + ":"), ack.drop_reason
        assert harness.store.applications.event_count() == len(batch.events) - 1
        return
    with pytest.raises(grpc.RpcError) as err:
        harness.ingest.SendBatch(batch, metadata=harness.agent)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(field + ":"), err.value.details()
    _no_rows(harness)


def test_an_event_kind_from_a_newer_agent_is_kept_as_received_and_blocks_nothing(harness: Harness) -> None:
    # A newer agent's body (field 99 of Event's oneof, unknown here), beside ordinary events.
    newer = ingest_pb2.Event(key="gpu/1", application_id="app-1").SerializeToString() + bytes([154, 6, 2, 8, 1])
    batch = event_batch("b1", 3)
    batch.events.append(ingest_pb2.Event.FromString(newer))
    ack = harness.ingest.SendBatch(batch, metadata=harness.agent)
    assert (ack.stored_events, ack.duplicate_events) == (4, 0)
    assert harness.store.applications.get("app-1").stage_count == 3
    kept = {key: (kind, payload) for key, kind, payload in harness.store.ingest.events("app-1")}
    assert kept["gpu/1"] == ("unknown", newer)  # verbatim: a later server can read it
    assert harness.ingest.SendBatch(batch, metadata=harness.agent).duplicate_events == 4


def test_too_many_events_or_too_many_bytes_is_resource_exhausted(start_harness: StartHarness) -> None:
    h = start_harness(max_events_per_batch=100, max_receive_bytes=64 * 1024)
    with pytest.raises(grpc.RpcError) as err:
        h.ingest.SendBatch(event_batch("b1", 101), metadata=h.agent)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "events" in err.value.details()
    big = event_batch("b2", 10)
    big.events[0].stage_completed.name = "x" * (70 * 1024)
    with pytest.raises(grpc.RpcError) as err:
        h.ingest.SendBatch(big, metadata=h.agent)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _no_rows(h)
    assert h.ingest.SendBatch(event_batch("b3", 100), metadata=h.agent).stored_events == 100


def _retry_after(err: grpc.RpcError) -> int:
    return int(dict(err.trailing_metadata() or ())["retry-after-ms"])


def test_locked_sqlite_is_unavailable_never_a_false_ack(start_harness: StartHarness, tmp_path: Path) -> None:
    h = start_harness(busy_timeout_ms=100)
    batch = event_batch("b1", 30)
    locker = sqlite3.connect(tmp_path / "trimtab.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(grpc.RpcError) as err:
            h.ingest.SendBatch(batch, metadata=h.agent)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert _retry_after(err.value) > 0
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    # Nothing was stored by the refused attempt: the retry stores all of it.
    assert h.ingest.SendBatch(batch, metadata=h.agent).stored_events == 30


def test_locked_postgresql_is_unavailable(start_harness: StartHarness, postgres_schema_url: str) -> None:
    h = start_harness(postgres_schema_url, busy_timeout_ms=200)
    locker = sa.create_engine(postgres_schema_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with locker.connect() as conn:
        conn.execute(sa.text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))
        with pytest.raises(grpc.RpcError) as err:
            h.ingest.SendBatch(event_batch("b1", 30), metadata=h.agent)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert _retry_after(err.value) > 0
        conn.rollback()
    locker.dispose()
    assert h.ingest.SendBatch(event_batch("b1", 30), metadata=h.agent).stored_events == 30


def test_dropped_postgresql_database_is_unavailable(start_harness: StartHarness, postgres_schema_url: str,
                                                    postgres_url: str) -> None:
    h = start_harness(postgres_schema_url, busy_timeout_ms=1000)
    assert h.ingest.SendBatch(event_batch("b1", 5), metadata=h.agent).stored_events == 5
    name = sa.engine.make_url(postgres_schema_url).database
    admin = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()
    with pytest.raises(grpc.RpcError) as err:
        h.ingest.SendBatch(event_batch("b2", 5, first=5), metadata=h.agent)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
