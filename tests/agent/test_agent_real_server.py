"""The agent against the real Trimtab server (server.serve.start_server) on SQLite and PostgreSQL:
the stored stages, executors, jobs and the driver's peaks equal, one for one, what the real PySpark
logs hold."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.agent.conftest import AgentThread, agent_config
from tests.agent.expected import events_of, expected_summary

pytestmark = [pytest.mark.spark, pytest.mark.postgres]


def _summary_from_store(store, app: str) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for s in store.applications.stages(app):
        d = s.task_duration_ms
        out[f"stage/{s.stage_id}/{s.attempt_id}"] = (
            s.num_tasks, s.tasks_succeeded, s.tasks_failed + s.tasks_killed, s.metrics["executor_run_time_ms"],
            s.metrics["shuffle_bytes_written"], d.count, d.p50, d.max, len(s.executor_peaks))
    for e in store.applications.executors(app):
        out[f"executor-added/{e.executor_id}"] = (e.total_cores,)
    for j in store.applications.jobs(app):
        out[f"job/{j.job_id}"] = (j.succeeded,)
    for q in store.applications.sql_executions(app):
        out[f"sql/{q.execution_id}"] = (q.end_time_ms,)
    beats = store.applications.driver_peaks(app)
    if beats:
        out["driver"] = (max(b.jvm_heap_bytes for b in beats), max(b.total_gc_ms for b in beats),
                         max(b.metrics.get("ProcessTreePythonRSSMemory", 0) for b in beats))
    return out


def test_real_server_stores_what_the_logs_hold(spark_logs: Path, db_url: str, tmp_path: Path):
    from server.config import ServerConfig
    from server.serve import start_server

    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "server", db_url=db_url))
    try:
        _, token = running.store.tokens.create("agent-test", "agent")
        cfg = replace(agent_config(spark_logs, tmp_path / "agent", running.address), token=token)
        with AgentThread(cfg) as run:
            a = run.agent
            done = False
            for _ in range(2000):  # loop passes, not sleeps
                done = not a.followers and len(a.saved) == len(list(spark_logs.iterdir())) and a.spool.pending()[0] == 0
                if done:
                    break
                a.wait_ticks(1, 5)
            assert done, "agent did not deliver everything"
            assert a.sender.last_error is None
            run.stop()
        for p in spark_logs.iterdir():
            evs = events_of(p)
            app = next(e["App ID"] for e in evs if e["Event"] == "SparkListenerApplicationStart")
            assert _summary_from_store(running.store, app) == expected_summary(evs), app
            stored = running.store.applications.get(app)
            assert stored.spark_version.startswith("4.")
    finally:
        running.stop(grace=1)
