"""Spark applications as materialized from agents' events (read side)."""

from __future__ import annotations

import sqlalchemy as sa

from server.domain import Application, DriverPeaks, Executor, ExecutorGauges, Job, SqlExecution, Stage
from server.errors import NotFound, shown
from server.store import convert
from server.store.repos.base import Repository
from server.store.tables import (
    ApplicationRow,
    DriverPeakRow,
    EventRow,
    ExecutorGaugeRow,
    ExecutorRow,
    JobRow,
    RunApplicationRow,
    SqlExecutionRow,
    StageExecutorPeakRow,
    StageRow,
)

APP = ApplicationRow.__table__  # type: ignore[attr-defined]
ST = StageRow.__table__  # type: ignore[attr-defined]
PK = StageExecutorPeakRow.__table__  # type: ignore[attr-defined]
EX = ExecutorRow.__table__  # type: ignore[attr-defined]
GA = ExecutorGaugeRow.__table__  # type: ignore[attr-defined]
DP = DriverPeakRow.__table__  # type: ignore[attr-defined]
JB = JobRow.__table__  # type: ignore[attr-defined]
SQ = SqlExecutionRow.__table__  # type: ignore[attr-defined]
EV = EventRow.__table__  # type: ignore[attr-defined]
LINK = RunApplicationRow.__table__  # type: ignore[attr-defined]


class ApplicationRepository(Repository):
    def get(self, application_id: str) -> Application:
        apps = self._load(sa.select(APP).where(APP.c.application_id == application_id))
        if not apps:
            raise NotFound(f"application {shown(application_id)} not found")
        return apps[0]

    def list(self, limit: int = 50, cluster_id: str | None = None,
             unassigned: bool = False, sent_for: str | None = None) -> list[Application]:
        """Newest first; `cluster_id` filters by Databricks cluster; `unassigned`
        keeps only applications not tied to a run yet; `sent_for` only those a token of that
        workspace, or one bound to none, sent first (`server.collect.build.sent_for`): filtered
        here, before the limit, so another workspace's applications cannot crowd them out."""
        query = sa.select(APP).order_by(APP.c.start_time_ms.desc(), APP.c.application_id).limit(limit)
        if cluster_id:
            query = query.where(APP.c.cluster_id == cluster_id)
        if sent_for is not None:
            query = query.where(sa.or_(APP.c.workspace.is_(None), APP.c.workspace == sent_for))
        if unassigned:
            query = query.where(~sa.exists().where(LINK.c.application_id == APP.c.application_id))
        return self._load(query)

    def for_run(self, run_id: int) -> list[Application]:
        ids = sa.select(LINK.c.application_id).where(LINK.c.run_id == run_id)
        return self._load(sa.select(APP).where(APP.c.application_id.in_(ids)).order_by(APP.c.start_time_ms))

    def stages(self, application_id: str) -> list[Stage]:
        """Completed stage attempts with their per-executor peaks, by stage id."""
        with self._read() as conn:
            rows = conn.execute(sa.select(ST).where(ST.c.application_id == application_id)
                                .order_by(ST.c.stage_id, ST.c.attempt_id)).all()
            peaks: dict[tuple[int, int], list] = {}
            for p in conn.execute(sa.select(PK).where(PK.c.application_id == application_id)
                                  .order_by(PK.c.executor_id)).all():
                peaks.setdefault((p.stage_id, p.attempt_id), []).append(p)
        return [convert.stage(r, tuple(peaks.get((r.stage_id, r.attempt_id), ()))) for r in rows]

    def executors(self, application_id: str) -> list[Executor]:
        with self._read() as conn:
            rows = conn.execute(sa.select(EX).where(EX.c.application_id == application_id)
                                .order_by(EX.c.added_ms, EX.c.executor_id)).all()
        return [convert.executor(r) for r in rows]

    def jobs(self, application_id: str) -> list[Job]:
        with self._read() as conn:
            rows = conn.execute(sa.select(JB).where(JB.c.application_id == application_id)
                                .order_by(JB.c.job_id)).all()
        return [convert.job(r) for r in rows]

    def sql_executions(self, application_id: str) -> list[SqlExecution]:
        with self._read() as conn:
            rows = conn.execute(sa.select(SQ).where(SQ.c.application_id == application_id)
                                .order_by(SQ.c.execution_id)).all()
        return [convert.sql_execution(r) for r in rows]

    def gauges(self, application_id: str) -> list[ExecutorGauges]:
        with self._read() as conn:
            rows = conn.execute(sa.select(GA).where(GA.c.application_id == application_id)
                                .order_by(GA.c.time_ms, GA.c.executor_id)).all()
        return [ExecutorGauges(application_id=r.application_id, executor_id=r.executor_id, time_ms=r.time_ms,
                               memory_used_bytes=r.memory_used_bytes, max_memory_bytes=r.max_memory_bytes,
                               active_tasks=r.active_tasks, total_gc_time_ms=r.total_gc_time_ms,
                               disk_used_bytes=r.disk_used_bytes) for r in rows]

    def driver_peaks(self, application_id: str) -> list[DriverPeaks]:
        """The driver's running peaks as the agent sent them, in the order they grew."""
        with self._read() as conn:
            rows = conn.execute(sa.select(DP).where(DP.c.application_id == application_id)
                                .order_by(DP.c.total_gc_ms, DP.c.jvm_heap_bytes, DP.c.outside_heap_bytes)).all()
        return [DriverPeaks(application_id=r.application_id, metrics={k: int(v) for k, v in (r.metrics or {}).items()})
                for r in rows]

    def event_count(self, application_id: str | None = None) -> int:
        """How many distinct events are stored (for one application if given)."""
        query = sa.select(sa.func.count()).select_from(EV)
        if application_id is not None:
            query = query.where(EV.c.application_id == application_id)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def _load(self, query: sa.Select) -> list[Application]:
        with self._read() as conn:
            rows = conn.execute(query).all()
            ids = [r.application_id for r in rows]
            if not ids:
                return []
            counts = {name: self._counts(conn, table, ids) for name, table in
                      (("stages", ST), ("executors", EX), ("jobs", JB))}
            runs = {link.application_id: link.run_id for link in
                    conn.execute(sa.select(LINK).where(LINK.c.application_id.in_(ids))).all()}
        return [convert.application(r, (counts["stages"].get(r.application_id, 0),
                                        counts["executors"].get(r.application_id, 0),
                                        counts["jobs"].get(r.application_id, 0)), runs.get(r.application_id))
                for r in rows]

    @staticmethod
    def _counts(conn: sa.Connection, table: sa.Table, ids: list[str]) -> dict[str, int]:
        query = (sa.select(table.c.application_id, sa.func.count()).where(table.c.application_id.in_(ids))
                 .group_by(table.c.application_id))
        return {app_id: int(n) for app_id, n in conn.execute(query).all()}
