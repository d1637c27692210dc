"""Backfill sends what the agent sends, and the Spark engine stores what the local engine stores."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from protos.trimtab.v1 import ingest_pb2
from server.backfill import backfill
from server.backfill.engines import ParseTask, parse_all
from server.backfill.parse import ParsedApplication
from server.store import Store, open_store
from tests.agent.conftest import FAST_JVM_OPTS, AgentThread, IngestServer, RecordingIngest, agent_config
from tests.backfill.conftest import Delivered, add_project


def _by_key(parsed: list[ParsedApplication]) -> dict[tuple[str, str], ingest_pb2.Event]:
    # Messages, not bytes: protobuf does not promise one byte order for map fields.
    out = {}
    for app in parsed:
        for raw in app.events:
            e = ingest_pb2.Event.FromString(raw)
            out[(e.application_id, e.key)] = e
    return out


def test_backfill_events_equal_what_the_real_agent_sends(delivered: Delivered, tmp_path: Path) -> None:
    server = IngestServer(RecordingIngest()).start()
    try:
        for n, app_dir in enumerate(delivered.app_dirs):
            # The agent follows the driver's event-log directory; here, the delivered copy of it.
            cfg = replace(agent_config(app_dir.parent, tmp_path / f"agent{n}", server.address),
                          batch_max_events=50)
            with AgentThread(cfg) as run:
                agent = run.agent
                for _ in range(2000):  # loop passes, not sleeps
                    if not agent.followers and agent.saved and agent.spool.pending()[0] == 0:
                        break
                    agent.wait_ticks(1, 5)
                assert agent.sender.last_error is None
                run.stop()
        sent = dict(server.servicer.stored)
    finally:
        server.stop()
    ours = _by_key(parse_all([ParseTask(str(d)) for d in delivered.app_dirs], "local", workers=2))
    assert {app for app, _ in sent} == {d.name for d in delivered.app_dirs}
    assert len(sent) > 30 and ours.keys() == sent.keys()
    assert ours == sent  # same ids, keys and contents


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPARK_SUBMIT_OPTS", FAST_JVM_OPTS)  # if this starts the JVM: start-up flags only
        mp.setenv("PYSPARK_PYTHON", sys.executable)  # not a ``python3`` on PATH (a pyenv shim: ~0.5 s a start)
        session = (SparkSession.builder.master("local[2]").appName("trimtab-backfill-tests")
                   .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
    try:
        yield session
    finally:
        session.stop()


def _stored(store: Store) -> dict[str, object]:
    """Everything backfill stored, without store-assigned ids and times."""
    apps = sorted(store.applications.list(limit=100), key=lambda a: a.application_id)
    runs = store.runs.history(1)
    return {
        "apps": [replace(a, run_id=None) for a in apps],
        "stages": [store.applications.stages(a.application_id) for a in apps],
        "executors": [store.applications.executors(a.application_id) for a in apps],
        "jobs": [store.applications.jobs(a.application_id) for a in apps],
        "sql": [store.applications.sql_executions(a.application_id) for a in apps],
        "events": store.applications.event_count(),
        "runs": [replace(r, id=None, created_at_ms=0) for r in runs],
    }


@pytest.mark.spark
def test_spark_engine_stores_what_the_local_engine_stores(tagged: Delivered, tmp_path: Path,
                                                         spark: object) -> None:
    delivered = tagged  # the project's tag in the logs: runs are made without the workspace
    tasks = [ParseTask(str(d)) for d in delivered.app_dirs]
    assert _by_key(parse_all(tasks, "spark")) == _by_key(parse_all(tasks, "local", workers=1))
    stored = []
    for engine in ("local", "spark"):
        store = open_store(f"sqlite:///{tmp_path / engine}.db")
        try:
            add_project(store)
            report = backfill(store, "1", str(delivered.root), engine=engine, spark_master="local[2]")
            assert (report.engine, report.imported, report.runs_created) == (engine, 3, 3)
            stored.append(_stored(store))
        finally:
            store.close()
    assert stored[0]["runs"] and stored[0] == stored[1]
