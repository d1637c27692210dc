"""A NUL character in an agent's batch, blank ids, and values the database refuses.

PostgreSQL cannot store NUL (\\x00) in text; SQLite can. A NUL in a stage name
failed the whole batch on PostgreSQL as INTERNAL (the agent then parked it for
good). Text is now stored with U+FFFD in its place, alike on both engines; a
batch or agent id with a NUL is refused as INVALID_ARGUMENT naming the field, an
event whose id or key has one is dropped, the acknowledgement naming the field.
"""

from __future__ import annotations

import grpc
import pytest
import sqlalchemy as sa

from protos.trimtab.v1 import ingest_pb2
from server import ingest_wire, translate
from server.errors import InvalidArgument
from server.store import engine as db
from server.store.repos.ingest_rows import prepare
from tests.server.conftest import StartHarness

NUL, REPLACED = "\x00", "\ufffd"


def _with_nul_everywhere() -> ingest_pb2.EventBatch:
    """One event of each kind with a NUL in every text field that is not an id or key."""
    app = "app-nul"
    n = f"a{NUL}b"
    events = [
        ingest_pb2.Event(key="s", application_id=app, application_start=ingest_pb2.ApplicationStart(
            spark_app_id=n, attempt_id=n, spark_context_id=n, app_name=n, spark_version=n, user=n,
            cluster_id=n, cluster_name=n, job_id=n, run_id=n, conf={n: n, "k": n}, event_log_path=n,
            start_time_ms=1000)),
        ingest_pb2.Event(key="a", application_id=app, executor_added=ingest_pb2.ExecutorAdded(
            executor_id="1", host=n, total_cores=4, time_ms=1100)),
        ingest_pb2.Event(key="st", application_id=app, stage_completed=ingest_pb2.StageCompleted(
            stage_id=1, name=n, failure_reason=n, num_tasks=1, submission_time_ms=1200, completion_time_ms=2200,
            executor_peaks=[ingest_pb2.ExecutorStagePeak(executor_id="1", metrics={n: 7})])),
        ingest_pb2.Event(key="j", application_id=app, job_completed=ingest_pb2.JobCompleted(
            job_id=1, submission_time_ms=1150, completion_time_ms=2300, stage_ids=[1], sql_execution_id=n)),
        ingest_pb2.Event(key="q", application_id=app, sql_execution=ingest_pb2.SqlExecution(
            execution_id=2, description=n, start_time_ms=1100, end_time_ms=2400, error=n)),
        ingest_pb2.Event(key="r", application_id=app, executor_removed=ingest_pb2.ExecutorRemoved(
            executor_id="1", time_ms=3000, reason_text=n)),
        ingest_pb2.Event(key="d", application_id=app, driver_peaks=ingest_pb2.DriverPeaks(
            metrics={"JVMHeapMemory": 5, n: 1})),
    ]
    return ingest_pb2.EventBatch(
        batch_id="b-nul", events=events,
        agent=ingest_pb2.AgentInfo(agent_id="agent-nul", version=n, hostname=n, cluster_id=n),
        counters=ingest_pb2.AgentCounters(spark_dropped_events={n: 1}))


def test_both_row_builders_replace_nul_in_text_alike() -> None:
    msg = _with_nul_everywhere()
    wire = ingest_wire.prepare_batch(msg, 100)
    domain = prepare(translate.batch_from_proto(msg, 100))
    assert wire.events == domain.events
    assert wire.batch.agent == domain.batch.agent
    for _, _, _, rows in wire.events:
        for _, row in rows:
            assert not any(isinstance(v, str) and NUL in v for v in row.values()), row
            assert any(isinstance(v, str) and REPLACED in v for v in row.values()), row
    agent = wire.batch.agent
    assert (agent.version, agent.hostname, agent.cluster_id) == (f"a{REPLACED}b",) * 3
    assert wire.batch.counters is not None and wire.batch.counters.spark_dropped_events == {f"a{REPLACED}b": 1}


def test_a_batch_with_nul_in_text_is_stored_alike_on_both_engines(migrated_db_url: str, start_harness: StartHarness) -> None:
    h = start_harness(url=migrated_db_url)
    ack = h.ingest.SendBatch(_with_nul_everywhere(), metadata=h.agent, timeout=30)
    assert (ack.stored_events, ack.duplicate_events) == (7, 0)
    want = f"a{REPLACED}b"
    app = h.store.applications.get("app-nul")
    assert (app.app_name, app.user, app.conf) == (want, want, {want: want, "k": want})
    (stage,) = h.store.applications.stages("app-nul")
    assert (stage.name, stage.failure_reason) == (want, want)
    assert stage.executor_peaks[0].metrics == {want: 7}
    (sql,) = h.store.applications.sql_executions("app-nul")
    assert (sql.description, sql.error) == (want, want)
    (ex,) = h.store.applications.executors("app-nul")
    assert (ex.host, ex.removal_text) == (want, want)
    (agent,) = h.store.ingest.agents()
    assert (agent.version, agent.hostname) == (want, want)
    # The payload keeps what the agent sent, byte for byte (bytes, not text: storable as it is).
    assert any(NUL.encode() in payload for _, _, payload in h.store.ingest.events("app-nul"))


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: setattr(b.events[0], "key", f"stage/{NUL}x"), "events[0].key"),
    (lambda b: setattr(b.events[0], "application_id", f"app{NUL}"), "events[0].application_id"),
    (lambda b: setattr(b, "batch_id", f"b{NUL}"), "batch_id"),
    (lambda b: setattr(b.agent, "agent_id", f"a{NUL}"), "agent.agent_id"),
    (lambda b: b.events[0].stage_completed.executor_peaks.add(executor_id=f"1{NUL}"),
     "events[0].stage_completed.executor_peaks[0].executor_id"),
])
def test_nul_in_an_id_or_key_is_invalid_argument_naming_the_field(
        migrated_db_url: str, start_harness: StartHarness, mutate, field: str) -> None:
    h = start_harness(url=migrated_db_url)
    msg = ingest_pb2.EventBatch(batch_id="b1", agent=ingest_pb2.AgentInfo(agent_id="agent-1"), events=[
        ingest_pb2.Event(key="stage/1/0", application_id="app-1",
                         stage_completed=ingest_pb2.StageCompleted(stage_id=1))])
    mutate(msg)
    why = f"{field}: contains a NUL character (\\x00), which the database cannot store"
    if field.startswith("events["):
        ack = h.ingest.SendBatch(msg, metadata=h.agent, timeout=30)
        assert (ack.stored_events, ack.dropped_events, ack.drop_reason) == (0, 1, why)
    else:
        with pytest.raises(grpc.RpcError) as err:
            h.ingest.SendBatch(msg, metadata=h.agent, timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details() == why
    assert h.store.applications.event_count() == 0


@pytest.mark.parametrize("blank", [" ", "\t ", "\n"])
@pytest.mark.parametrize("field", ["batch_id", "agent.agent_id", "events[0].key", "events[0].application_id"])
def test_a_blank_id_is_refused_like_an_empty_one(blank: str, field: str) -> None:
    msg = ingest_pb2.EventBatch(batch_id="b1", agent=ingest_pb2.AgentInfo(agent_id="agent-1"), events=[
        ingest_pb2.Event(key="stage/1/0", application_id="app-1",
                         stage_completed=ingest_pb2.StageCompleted(stage_id=1))])
    target = {"batch_id": (msg, "batch_id"), "agent.agent_id": (msg.agent, "agent_id"),
              "events[0].key": (msg.events[0], "key"),
              "events[0].application_id": (msg.events[0], "application_id")}[field]
    setattr(*target, blank)
    why = f"{field}: must not be empty (got {blank!r})"
    if field.startswith("events["):  # the event is dropped, the batch kept
        wire = ingest_wire.prepare_batch(msg, 100)
        assert (wire.events, wire.dropped_events, wire.drop_reason) == ((), 1, why)
        assert translate.batch_from_proto(msg, 100).events == ()
        return
    for make in (lambda m: ingest_wire.prepare_batch(m, 100), lambda m: translate.batch_from_proto(m, 100)):
        with pytest.raises(InvalidArgument) as err:
            make(msg)
        assert str(err.value) == why


def test_a_blank_batch_id_is_invalid_argument_over_grpc(start_harness: StartHarness) -> None:
    h = start_harness()
    msg = ingest_pb2.EventBatch(batch_id=" ", agent=ingest_pb2.AgentInfo(agent_id="agent-1"))
    with pytest.raises(grpc.RpcError) as err:
        h.ingest.SendBatch(msg, metadata=h.agent, timeout=30)
    assert (err.value.code(), err.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT,
                                                       "batch_id: must not be empty (got ' ')")


def test_a_value_the_database_refuses_is_invalid_argument_not_internal(postgres_schema_url: str) -> None:
    """Any other DataError (here a NUL reaching a text column some other way) names what it can."""
    engine = db.make_engine(postgres_schema_url)
    try:
        with db.write(engine) as conn:
            conn.execute(sa.text("CREATE TABLE t (name text)"))
        with pytest.raises(InvalidArgument) as err, db.write(engine) as conn:
            conn.execute(sa.text("INSERT INTO t (name) VALUES (:n)"), {"n": f"a{NUL}"})
        assert str(err.value).startswith("a value the database cannot store: ")
        assert "0x00" in str(err.value) or "NUL" in str(err.value), str(err.value)
        with pytest.raises(InvalidArgument) as err, db.write(engine) as conn:
            conn.execute(sa.text("CREATE TABLE n (v smallint)"))
            conn.execute(sa.text("INSERT INTO n (v) VALUES (:v)"), {"v": 2**20})
        assert "out of range" in str(err.value), str(err.value)
    finally:
        engine.dispose()
