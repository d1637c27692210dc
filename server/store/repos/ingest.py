"""The write side of agent data: batches of events, stored once, materialized.

`IngestRepository.write` stores any number of batches in ONE transaction:
the raw events first (keys already on the ``(application_id, key)`` primary
key are read, the rest inserted), then only the new ones are materialized
into applications / stages / executors / jobs / sql_executions with one
driver-level ``executemany`` upsert per table (see `fastsql`). Upserts name the columns each event owns,
so an executor's "removed" event arriving before its "added" one still ends
in the same row. Nothing is visible, and nothing acknowledged, before commit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from server.domain import (
    AgentCounters,
    AgentStatus,
    Application,
    ApplicationEnd,
    Executor,
    ExecutorGauges,
    IngestBatch,
    IngestEvent,
    IngestResult,
    Job,
    SqlExecution,
    Stage,
)
from server.store import convert
from server.store.repos import fastsql
from server.store.repos.base import Repository, chunks
from server.store.repos.fastsql import json_text
from server.store.tables import (
    AgentRow,
    ApplicationRow,
    EventRow,
    ExecutorGaugeRow,
    ExecutorRow,
    IngestBatchRow,
    JobRow,
    SqlExecutionRow,
    StageExecutorPeakRow,
    StageRow,
)

EV = EventRow.__table__  # type: ignore[attr-defined]
BA = IngestBatchRow.__table__  # type: ignore[attr-defined]
AG = AgentRow.__table__  # type: ignore[attr-defined]
APP = ApplicationRow.__table__  # type: ignore[attr-defined]
ST = StageRow.__table__  # type: ignore[attr-defined]
PK = StageExecutorPeakRow.__table__  # type: ignore[attr-defined]
EX = ExecutorRow.__table__  # type: ignore[attr-defined]
GA = ExecutorGaugeRow.__table__  # type: ignore[attr-defined]
JB = JobRow.__table__  # type: ignore[attr-defined]
SQ = SqlExecutionRow.__table__  # type: ignore[attr-defined]

_APP_START_COLUMNS = ("spark_app_id", "attempt_id", "spark_context_id", "app_name", "spark_version", "user",
                      "cluster_id", "cluster_name", "job_id", "databricks_run_id", "conf", "event_log_path",
                      "start_time_ms", "agent_id")


class IngestRepository(Repository):
    def write(self, batches: Sequence[IngestBatch]) -> list[IngestResult]:
        """Store `batches` atomically; one result per batch, in order.

        An event already stored (by an earlier call or an earlier batch of this
        call) counts as a duplicate and is not materialized again.
        """
        now = self._clock.now_ms()
        with self._write() as conn:
            new_keys = self._insert_events(conn, batches, now)
            results: list[IngestResult] = []
            fresh: list[tuple[IngestBatch, IngestEvent]] = []
            for batch in batches:
                stored = 0
                for ev in batch.events:
                    # Each key counts as stored once: for its first occurrence only.
                    if (ev.application_id, ev.key) in new_keys:
                        new_keys.discard((ev.application_id, ev.key))
                        fresh.append((batch, ev))
                        stored += 1
                results.append(IngestResult(batch.batch_id, stored, len(batch.events) - stored))
            _materialize(conn, materialized_rows(fresh, now))
            self._record_batches(conn, batches, results, now)
        return results

    @staticmethod
    def _insert_events(conn: sa.Connection, batches: Sequence[IngestBatch], now: int) -> set[tuple[str, str]]:
        """Insert the events not stored yet; return their keys.

        The writer is the only one writing (`server.ingest`), so reading the
        known keys and then inserting the rest inside one write transaction is
        exact; ON CONFLICT DO NOTHING keeps a second server process harmless.
        """
        rows = event_rows(batches, now)
        if not rows:
            return set()
        known: set[tuple[str, str]] = set()
        by_app: dict[str, list[str]] = {}
        for app_id, key in rows:
            by_app.setdefault(app_id, []).append(key)
        ph = fastsql.placeholder(conn)
        for app_id, keys in by_app.items():
            for part in chunks(keys, 500):
                sql = (f"SELECT key FROM events WHERE application_id = {ph} "
                       f"AND key IN ({', '.join([ph] * len(part))})")
                known.update((app_id, k) for (k,) in conn.exec_driver_sql(sql, (app_id, *part)).all())
        new = [r for k, r in rows.items() if k not in known]
        fastsql.insert(conn, EV, new, keys=("application_id", "key"), update=())
        return {(r["application_id"], r["key"]) for r in new}

    @staticmethod
    def _record_batches(conn: sa.Connection, batches: Sequence[IngestBatch],
                        results: list[IngestResult], now: int) -> None:
        batch_rows: dict[tuple[str, str], dict[str, Any]] = {}
        agent_rows: dict[str, dict[str, Any]] = {}
        for batch, result in zip(batches, results, strict=True):
            key = (batch.agent.agent_id, batch.batch_id)
            if key in batch_rows:
                batch_rows[key]["deliveries"] += 1
                batch_rows[key]["duplicate_events"] += result.duplicate_events
            else:
                batch_rows[key] = {"agent_id": key[0], "batch_id": key[1], "received_ms": now,
                                   "stored_events": result.stored_events,
                                   "duplicate_events": result.duplicate_events, "deliveries": 1}
            previous = agent_rows.get(batch.agent.agent_id)
            counters = batch.counters or AgentCounters()
            agent_rows[batch.agent.agent_id] = {
                "agent_id": batch.agent.agent_id, "version": batch.agent.version,
                "hostname": batch.agent.hostname, "cluster_id": batch.agent.cluster_id,
                "counters": fastsql.json_text(dataclasses.asdict(counters)), "last_seen_ms": now,
                "batches_received": (previous["batches_received"] if previous else 0) + 1,
            }
        # Re-deliveries add up; the agent row keeps the latest counters.
        fastsql.insert(conn, BA, list(batch_rows.values()), keys=("agent_id", "batch_id"),
                       update=(), accumulate=("deliveries", "duplicate_events"))
        fastsql.insert(conn, AG, list(agent_rows.values()), keys=("agent_id",),
                       update=("version", "hostname", "cluster_id", "counters", "last_seen_ms"),
                       accumulate=("batches_received",))

    def agents(self) -> list[AgentStatus]:
        """What each agent last reported, by agent id."""
        with self._read() as conn:
            rows = conn.execute(sa.select(AG).order_by(AG.c.agent_id)).all()
        return [AgentStatus(agent_id=r.agent_id, version=r.version, hostname=r.hostname,
                            cluster_id=r.cluster_id, counters=_counters(r.counters),
                            batches_received=r.batches_received, last_seen_ms=r.last_seen_ms) for r in rows]

    def events(self, application_id: str) -> list[tuple[str, str, bytes]]:
        """(key, kind, payload as received) of an application's events, by key."""
        with self._read() as conn:
            rows = conn.execute(sa.select(EV.c.key, EV.c.kind, EV.c.payload)
                                .where(EV.c.application_id == application_id).order_by(EV.c.key)).all()
        return [(r.key, r.kind, bytes(r.payload)) for r in rows]


def _counters(data: dict[str, Any] | None) -> AgentCounters:
    names = {f.name for f in dataclasses.fields(AgentCounters)}
    return AgentCounters(**{k: v for k, v in (data or {}).items() if k in names})


def _insert_for(conn: sa.Connection) -> Any:
    return sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert


def event_rows(batches: Sequence[IngestBatch], now: int) -> dict[tuple[str, str], dict[str, Any]]:
    """Rows of the events table, one per distinct (application_id, key)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for batch in batches:
        for ev in batch.events:
            rows.setdefault((ev.application_id, ev.key), {
                "application_id": ev.application_id, "key": ev.key, "kind": ev.kind,
                "payload": ev.payload, "received_ms": now})
    return rows


def materialized_rows(fresh: list[tuple[IngestBatch, IngestEvent]], now: int) -> dict[str, list[dict[str, Any]]]:
    """Pure: the rows new events add to each materialized table, by purpose."""
    apps_seen: dict[str, dict[str, Any]] = {}
    starts, ends, added, removed, stages, peaks, jobs, sqls, gauges = ([] for _ in range(9))
    for batch, ev in fresh:
        apps_seen.setdefault(ev.application_id, {"application_id": ev.application_id,
                                                 "agent_id": batch.agent.agent_id, "received_ms": now})
        body = ev.body
        if isinstance(body, Application):
            row = {c: getattr(body, c) for c in _APP_START_COLUMNS if c != "agent_id"}
            starts.append({"application_id": ev.application_id, **row, "conf": json_text(body.conf),
                           "agent_id": batch.agent.agent_id})
        elif isinstance(body, ApplicationEnd):
            ends.append({"application_id": ev.application_id, "end_time_ms": body.end_time_ms, "ended": True,
                         "expected_stages": body.stages_completed, "expected_jobs": body.jobs_completed,
                         "expected_executors": body.executors_added})
        elif isinstance(body, Executor):
            if body.removed_ms:
                removed.append({"application_id": ev.application_id, "executor_id": body.executor_id,
                                "removed_ms": body.removed_ms, "removal_reason": body.removal_reason,
                                "removal_text": body.removal_text})
            else:
                added.append({"application_id": ev.application_id, "executor_id": body.executor_id,
                              "host": body.host, "total_cores": body.total_cores, "added_ms": body.added_ms,
                              "resource_profile_id": body.resource_profile_id})
        elif isinstance(body, Stage):
            row = convert.stage_values(body)
            row["application_id"] = ev.application_id
            row["parent_ids"] = json_text(row["parent_ids"])
            stages.append(row)
            peaks.extend({"application_id": ev.application_id, "stage_id": body.stage_id,
                          "attempt_id": body.attempt_id, "executor_id": p.executor_id,
                          "metrics": json_text(p.metrics)} for p in body.executor_peaks)
        elif isinstance(body, Job):
            jobs.append({"application_id": ev.application_id, "job_id": body.job_id,
                         "submission_time_ms": body.submission_time_ms,
                         "completion_time_ms": body.completion_time_ms, "stage_ids": json_text(body.stage_ids),
                         "succeeded": body.succeeded, "sql_execution_id": body.sql_execution_id})
        elif isinstance(body, SqlExecution):
            sqls.append({"application_id": ev.application_id, "execution_id": body.execution_id,
                         "description": body.description, "start_time_ms": body.start_time_ms,
                         "end_time_ms": body.end_time_ms, "error": body.error})
        elif isinstance(body, ExecutorGauges):
            gauges.append({"application_id": ev.application_id, "executor_id": body.executor_id,
                           "time_ms": body.time_ms, "memory_used_bytes": body.memory_used_bytes,
                           "max_memory_bytes": body.max_memory_bytes, "active_tasks": body.active_tasks,
                           "total_gc_time_ms": body.total_gc_time_ms, "disk_used_bytes": body.disk_used_bytes})
    return {"apps": list(apps_seen.values()), "starts": starts, "ends": ends, "added": added,
            "removed": removed, "stages": stages, "peaks": peaks, "jobs": jobs, "sqls": sqls, "gauges": gauges}


def _materialize(conn: sa.Connection, rows: dict[str, list[dict[str, Any]]]) -> None:
    app, ex = ("application_id",), ("application_id", "executor_id")
    # Every application that has events gets a row, even before its start event.
    fastsql.insert(conn, APP, rows["apps"], keys=app, update=())
    fastsql.insert(conn, APP, rows["starts"], keys=app, update=_APP_START_COLUMNS)
    fastsql.insert(conn, APP, rows["ends"], keys=app)
    fastsql.insert(conn, EX, rows["added"], keys=ex)
    fastsql.insert(conn, EX, rows["removed"], keys=ex)
    fastsql.insert(conn, ST, rows["stages"], keys=("application_id", "stage_id", "attempt_id"))
    fastsql.insert(conn, PK, rows["peaks"], keys=("application_id", "stage_id", "attempt_id", "executor_id"))
    fastsql.insert(conn, JB, rows["jobs"], keys=("application_id", "job_id"))
    fastsql.insert(conn, SQ, rows["sqls"], keys=("application_id", "execution_id"))
    fastsql.insert(conn, GA, rows["gauges"], keys=("application_id", "executor_id", "time_ms"))
