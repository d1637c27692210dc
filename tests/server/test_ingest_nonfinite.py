"""A NaN or an infinity in a stage's task-duration distribution, and constraint errors.

SQLite bound a NaN as NULL, the td_* columns are NOT NULL, and that IntegrityError was mapped to
ALREADY_EXISTS: the agent (which does not retry that) dropped the whole batch, valid events
included. PostgreSQL stored the NaN; both stored an infinity. Now both engines store the batch,
the bad distribution as unknown (count 0), the rest as sent, and say so in the server log. And
only a unique-key clash is ALREADY_EXISTS.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from protos.trimtab.v1 import common_pb2, ingest_pb2
from server import ingest_wire, translate
from server.domain import Distribution
from server.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from server.store import engine as db
from server.store.repos.ingest_rows import prepare
from tests.server.conftest import StartHarness

NAN, INF = float("nan"), float("inf")
GOOD = common_pb2.Distribution(count=3, min=10, p25=11, p50=12, p75=13, p90=14, p95=15, p99=16, max=17, sum=36)


def _stage(key: str, stage_id: int, td: common_pb2.Distribution) -> ingest_pb2.Event:
    return ingest_pb2.Event(key=key, application_id="app-nan", stage_completed=ingest_pb2.StageCompleted(
        stage_id=stage_id, name=f"s{stage_id}", num_tasks=3, submission_time_ms=1000, completion_time_ms=2000,
        metrics=common_pb2.TaskMetrics(executor_run_time_ms=42), task_duration_ms=td))


def _batch() -> ingest_pb2.EventBatch:
    bad = [common_pb2.Distribution(count=3, min=10, p50=NAN, max=17, sum=36),
           common_pb2.Distribution(count=3, min=10, p50=12, max=INF, sum=36),
           common_pb2.Distribution(count=3, min=-INF, p50=12, max=17, sum=36),
           common_pb2.Distribution(count=3, min=10, p50=12, max=17, sum=NAN)]
    events = [_stage(f"stage/{i}/0", i, td) for i, td in enumerate(bad, start=1)]
    events.insert(2, _stage("stage/9/0", 9, GOOD))
    events.append(ingest_pb2.Event(key="job/1", application_id="app-nan", job_completed=ingest_pb2.JobCompleted(
        job_id=1, submission_time_ms=900, completion_time_ms=2100, stage_ids=[1, 2, 9], succeeded=True)))
    return ingest_pb2.EventBatch(batch_id="b-nan", agent=ingest_pb2.AgentInfo(agent_id="agent-nan"), events=events)


@pytest.mark.parametrize("name", ["min", "p25", "p50", "p75", "p90", "p95", "p99", "max", "sum"])
@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_any_nonfinite_value_makes_the_distribution_unknown(name: str, value: float) -> None:
    d = common_pb2.Distribution()
    d.CopyFrom(GOOD)
    setattr(d, name, value)
    assert translate.nonfinite_field(d) == f"{name}={value}"
    assert translate.task_durations(d) == translate.EMPTY_DISTRIBUTION
    assert translate.distribution_from_proto(d) == Distribution()


def test_huge_finite_values_are_kept() -> None:
    """The fast check sums the values; a sum that overflows to inf must not drop finite ones."""
    d = common_pb2.Distribution(count=2, min=1e308, p25=1e308, p50=1e308, p75=1e308, p90=1e308, p95=1e308,
                                p99=1e308, max=1e308, sum=1.7e308)
    assert math.isinf(d.min + d.p25 + d.sum)
    assert translate.nonfinite_field(d) is None
    assert translate.task_durations(d) == (2, *([1e308] * 8), 1.7e308)
    assert translate.nonfinite_field(GOOD) is None
    assert translate.task_durations(GOOD) == (3, 10, 11, 12, 13, 14, 15, 16, 17, 36)


def test_both_row_builders_drop_the_same_distributions() -> None:
    msg = _batch()
    wire = ingest_wire.prepare_batch(msg, 100)
    assert wire.events == prepare(translate.batch_from_proto(msg, 100)).events
    tds = {row["stage_id"]: row["td_count"] for _, kind, _, rows in wire.events if kind == "stage_completed"
           for table, row in rows if table == "stages"}
    assert tds == {1: 0, 2: 0, 3: 0, 4: 0, 9: 3}


def test_a_batch_with_nonfinite_durations_is_stored_alike_on_both_engines(
        migrated_db_url: str, start_harness: StartHarness, caplog: pytest.LogCaptureFixture) -> None:
    h = start_harness(url=migrated_db_url)
    with caplog.at_level(logging.WARNING, logger="server.ingest_wire"):
        ack = h.ingest.SendBatch(_batch(), metadata=h.agent, timeout=30)
    # Every event stored: before, SQLite answered ALREADY_EXISTS for the whole batch.
    assert (ack.stored_events, ack.duplicate_events) == (6, 0)
    stages = {s.stage_id: s for s in h.store.applications.stages("app-nan")}
    assert sorted(stages) == [1, 2, 3, 4, 9]
    for sid in (1, 2, 3, 4):
        # The distribution is unknown; what else the stage says is kept.
        assert stages[sid].task_duration_ms == Distribution()
        assert (stages[sid].num_tasks, stages[sid].metrics["executor_run_time_ms"]) == (3, 42)
    assert stages[9].task_duration_ms == translate.distribution_from_proto(GOOD)
    assert stages[9].task_duration_ms.p50 == 12
    assert [j.job_id for j in h.store.applications.jobs("app-nan")] == [1]
    (line,) = [r.getMessage() for r in caplog.records if r.name == "server.ingest_wire"]
    assert "batch b-nan of agent agent-nan: 4 stage task-duration distribution(s)" in line
    assert "first: events[0].stage_completed.task_duration_ms.p50=nan" in line
    # A resend is a duplicate, as for any batch.
    again = h.ingest.SendBatch(_batch(), metadata=h.agent, timeout=30)
    assert (again.stored_events, again.duplicate_events) == (0, 6)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = db.make_engine(db_url)
    with db.write(eng) as conn:
        conn.execute(sa.text("CREATE TABLE parent (id integer PRIMARY KEY)"))
        conn.execute(sa.text("CREATE TABLE child (id integer PRIMARY KEY, name text NOT NULL UNIQUE, "
                             "size integer CHECK (size > 0), parent_id integer REFERENCES parent (id))"))
        conn.execute(sa.text("INSERT INTO parent (id) VALUES (1)"))
        conn.execute(sa.text("INSERT INTO child (id, name, size, parent_id) VALUES (1, 'a', 1, 1)"))
    yield eng
    eng.dispose()


@pytest.mark.parametrize(("values", "error", "starts"), [
    ({"id": 1, "name": "b", "size": 1, "parent_id": 1}, AlreadyExists, "already exists: "),
    ({"id": 2, "name": "a", "size": 1, "parent_id": 1}, AlreadyExists, "already exists: "),
    ({"id": 2, "name": None, "size": 1, "parent_id": 1}, InvalidArgument, "a value the database refuses: "),
    ({"id": 2, "name": "b", "size": 0, "parent_id": 1}, InvalidArgument, "a value the database refuses: "),
    ({"id": 2, "name": "b", "size": 1, "parent_id": 7}, FailedPrecondition, "refers to a row that does not exist: "),
], ids=["primary-key", "unique", "not-null", "check", "foreign-key"])
def test_only_a_unique_clash_is_already_exists(engine: sa.Engine, values: dict[str, object],
                                               error: type[Exception], starts: str) -> None:
    with pytest.raises(error) as err, db.write(engine) as conn:
        conn.execute(sa.text("INSERT INTO child (id, name, size, parent_id) VALUES (:id, :name, :size, :parent_id)"),
                     values)
    assert type(err.value) is error
    assert str(err.value).startswith(starts), str(err.value)


def test_a_not_null_violation_names_the_column(engine: sa.Engine) -> None:
    with pytest.raises(InvalidArgument) as err, db.write(engine) as conn:
        conn.execute(sa.text("INSERT INTO child (id, name) VALUES (2, NULL)"))
    assert "name" in str(err.value), str(err.value)
