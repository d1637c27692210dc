"""The write side of agent data: batches of events, stored once, materialized.

`IngestRepository.write` stores any number of batches in ONE transaction:
the raw events first (``INSERT .. ON CONFLICT DO NOTHING RETURNING`` on the
``(application_id, key)`` primary key tells exactly which events are new, in
one statement, on both engines), then only the new ones are materialized into
applications / stages / executors / jobs / sql_executions with one
``executemany`` upsert per table. Upserts name the columns each event owns,
so an executor's "removed" event arriving before its "added" one still ends
in the same row. Nothing is visible, and nothing acknowledged, before commit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
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
from server.store.repos.base import Repository
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
            insert = _insert_for(conn)
            new_keys = self._insert_events(conn, insert, batches, now)
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
            _materialize(conn, insert, fresh, now)
            self._record_batches(conn, insert, batches, results, now)
        return results

    @staticmethod
    def _insert_events(conn: sa.Connection, insert: Any, batches: Sequence[IngestBatch],
                       now: int) -> set[tuple[str, str]]:
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for batch in batches:
            for ev in batch.events:
                rows.setdefault((ev.application_id, ev.key), {
                    "application_id": ev.application_id, "key": ev.key, "kind": ev.kind,
                    "payload": ev.payload, "received_ms": now})
        if not rows:
            return set()
        stmt = insert(EV).on_conflict_do_nothing(index_elements=["application_id", "key"]).returning(
            EV.c.application_id, EV.c.key)
        return {(r[0], r[1]) for r in conn.execute(stmt, list(rows.values())).all()}

    @staticmethod
    def _record_batches(conn: sa.Connection, insert: Any, batches: Sequence[IngestBatch],
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
                "counters": dataclasses.asdict(counters), "last_seen_ms": now,
                "batches_received": (previous["batches_received"] if previous else 0) + 1,
            }
        stmt = insert(BA)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["agent_id", "batch_id"],
            set_={"deliveries": BA.c.deliveries + stmt.excluded.deliveries,
                  "duplicate_events": BA.c.duplicate_events + stmt.excluded.duplicate_events}),
            list(batch_rows.values()))
        stmt = insert(AG)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["agent_id"],
            set_={"version": stmt.excluded.version, "hostname": stmt.excluded.hostname,
                  "cluster_id": stmt.excluded.cluster_id, "counters": stmt.excluded.counters,
                  "last_seen_ms": stmt.excluded.last_seen_ms,
                  "batches_received": AG.c.batches_received + stmt.excluded.batches_received}),
            list(agent_rows.values()))

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


def _upsert(conn: sa.Connection, insert: Any, table: sa.Table, keys: Sequence[str],
            rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    """One executemany upsert. Rows are de-duplicated by key first (last wins):
    PostgreSQL refuses to update one row twice within one statement."""
    unique = {tuple(r[k] for k in keys): r for r in rows}
    if not unique:
        return
    stmt = insert(table)
    names = columns if columns is not None else [c.name for c in table.columns if c.name not in keys]
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys),
                                            set_={n: stmt.excluded[n] for n in names}),
                 list(unique.values()))


def _materialize(conn: sa.Connection, insert: Any, fresh: list[tuple[IngestBatch, IngestEvent]],
                 now: int) -> None:
    apps_seen: dict[str, dict[str, Any]] = {}
    starts, ends, added, removed, stages, peaks, jobs, sqls, gauges = ([] for _ in range(9))
    for batch, ev in fresh:
        apps_seen.setdefault(ev.application_id, {"application_id": ev.application_id,
                                                 "agent_id": batch.agent.agent_id, "received_ms": now})
        body = ev.body
        if isinstance(body, Application):
            row = {c: getattr(body, c) for c in _APP_START_COLUMNS if c != "agent_id"}
            starts.append({"application_id": ev.application_id, **row, "conf": dict(body.conf),
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
            stages.append(convert.stage_values(dataclasses.replace(body, application_id=ev.application_id)))
            peaks.extend({"application_id": ev.application_id, "stage_id": body.stage_id,
                          "attempt_id": body.attempt_id, "executor_id": p.executor_id,
                          "metrics": dict(p.metrics)} for p in body.executor_peaks)
        elif isinstance(body, Job):
            jobs.append({"application_id": ev.application_id, "job_id": body.job_id,
                         "submission_time_ms": body.submission_time_ms,
                         "completion_time_ms": body.completion_time_ms, "stage_ids": list(body.stage_ids),
                         "succeeded": body.succeeded, "sql_execution_id": body.sql_execution_id})
        elif isinstance(body, SqlExecution):
            sqls.append({"application_id": ev.application_id, "execution_id": body.execution_id,
                         "description": body.description, "start_time_ms": body.start_time_ms,
                         "end_time_ms": body.end_time_ms, "error": body.error})
        elif isinstance(body, ExecutorGauges):
            gauges.append({**dataclasses.asdict(body), "application_id": ev.application_id})
    if apps_seen:
        # Every application that has events gets a row, even before its start event.
        conn.execute(insert(APP).on_conflict_do_nothing(index_elements=["application_id"]),
                     list(apps_seen.values()))
    _upsert(conn, insert, APP, ["application_id"], starts, _APP_START_COLUMNS)
    _upsert(conn, insert, APP, ["application_id"], ends,
            ["end_time_ms", "ended", "expected_stages", "expected_jobs", "expected_executors"])
    _upsert(conn, insert, EX, ["application_id", "executor_id"], added,
            ["host", "total_cores", "added_ms", "resource_profile_id"])
    _upsert(conn, insert, EX, ["application_id", "executor_id"], removed,
            ["removed_ms", "removal_reason", "removal_text"])
    _upsert(conn, insert, ST, ["application_id", "stage_id", "attempt_id"], stages)
    _upsert(conn, insert, PK, ["application_id", "stage_id", "attempt_id", "executor_id"], peaks)
    _upsert(conn, insert, JB, ["application_id", "job_id"], jobs)
    _upsert(conn, insert, SQ, ["application_id", "execution_id"], sqls)
    _upsert(conn, insert, GA, ["application_id", "executor_id", "time_ms"], gauges)
