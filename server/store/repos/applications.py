"""Spark applications as materialized from agents' events (read side)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import NamedTuple

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

# Application ids per ``IN (...)`` of the batched reads: far below SQLite's (32766) and
# PostgreSQL's (65535) bound-parameter limits, and few queries for a project's whole history.
IDS_PER_QUERY = 500



class StageOutline(NamedTuple):
    """A stage attempt in outline (`ApplicationRepository.stage_outlines`): what names it and its
    fate, none of its metrics; the fields are `Stage`'s."""

    application_id: str
    stage_id: int
    attempt_id: int
    name: str
    parent_ids: tuple[int, ...]
    failure_reason: str


class ApplicationRepository(Repository):
    def get(self, application_id: str) -> Application:
        apps = self._load(sa.select(APP).where(APP.c.application_id == application_id))
        if not apps:
            raise NotFound(f"application {shown(application_id)} not found")
        return apps[0]

    def with_spark_app_id(self, spark_app_id: str) -> list[Application]:
        """The applications whose Spark id is ``spark_app_id``, newest first: more than one when clusters
        started their applications in the same second (Spark's id is a start time and a counter)."""
        return self._load(sa.select(APP).where(APP.c.spark_app_id == convert.storable_text(spark_app_id))
                          .order_by(APP.c.start_time_ms.desc(), APP.c.application_id))

    def list(self, limit: int = 50, cluster_id: str | None = None,
             unassigned: bool = False, sent_for: str | None = None, *, run_id: int | None = None,
             after: tuple[int, str] | None = None) -> list[Application]:
        """Newest first (start, then application id ascending); `cluster_id` filters by Databricks
        cluster; `unassigned` keeps only applications not tied to a run yet, `run_id` only those tied
        to that run; `sent_for` only those a token of that workspace, or one bound to none, sent first
        (`server.collect.build.sent_for`): filtered here, before the limit, so another workspace's
        applications cannot crowd them out. `after`: the (start, id) of the application the page
        starts after, in this order (keyset paging: nothing received meanwhile shifts a page)."""
        query = sa.select(APP).order_by(APP.c.start_time_ms.desc(), APP.c.application_id).limit(limit)
        if after is not None:
            start, app_id = after
            query = query.where(sa.or_(APP.c.start_time_ms < start,
                                       sa.and_(APP.c.start_time_ms == start, APP.c.application_id > app_id)))
        if run_id is not None:
            query = query.where(APP.c.application_id.in_(sa.select(LINK.c.application_id)
                                                          .where(LINK.c.run_id == run_id)))
        if cluster_id:
            # Found as ingest stored it (`convert.storable_text`): a Databricks cluster id with NUL,
            # bound as it is, failed the read on PostgreSQL, and the collection of its whole workspace.
            query = query.where(APP.c.cluster_id == convert.storable_text(cluster_id))
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

    def stages_for(self, application_ids: Iterable[str]) -> dict[str, list[Stage]]:
        """`stages` of many applications in a few queries: by application id, each list as `stages`
        gives it; an application without stages is left out."""
        out: dict[str, list[Stage]] = {}
        with self._read() as conn:
            for ids in _chunks(application_ids):
                rows = conn.execute(sa.select(ST).where(ST.c.application_id.in_(ids))
                                    .order_by(ST.c.application_id, ST.c.stage_id, ST.c.attempt_id)).all()
                peaks: dict[tuple[str, int, int], list] = {}
                for p in conn.execute(sa.select(PK).where(PK.c.application_id.in_(ids))
                                      .order_by(PK.c.application_id, PK.c.stage_id, PK.c.attempt_id,
                                                PK.c.executor_id)).all():
                    peaks.setdefault((p.application_id, p.stage_id, p.attempt_id), []).append(p)
                for r in rows:
                    out.setdefault(r.application_id, []).append(
                        convert.stage(r, tuple(peaks.get((r.application_id, r.stage_id, r.attempt_id), ()))))
        return out

    def stage_outlines(self, application_ids: Iterable[str]) -> dict[str, list[StageOutline]]:
        """The stage attempts of many applications in outline, in a few queries: by application id,
        in `stages`' order; an application without stages is left out. What a run's code signature
        and its failures need, read over a project's whole history at a fraction of `stages_for`'s
        cost (no metrics, no executor peaks)."""
        out: dict[str, list[StageOutline]] = {}
        # The parents as the stored JSON text, parsed here once per distinct text (a job's runs repeat
        # its stages' parents): the JSON type's own row processing cost more than the rest of the row
        # on a history of 100,000 stage attempts.
        parents = sa.cast(ST.c.parent_ids, sa.Text).label("parents")
        parsed: dict[str, tuple[int, ...]] = {}

        def parents_of(text: str | None) -> tuple[int, ...]:
            if not text:
                return ()
            if text not in parsed:
                parsed[text] = tuple(json.loads(text) or ())
            return parsed[text]

        with self._read() as conn:
            for ids in _chunks(application_ids):
                for r in conn.execute(sa.select(ST.c.application_id, ST.c.stage_id, ST.c.attempt_id, ST.c.name,
                                                parents, ST.c.failure_reason)
                                      .where(ST.c.application_id.in_(ids))
                                      .order_by(ST.c.application_id, ST.c.stage_id, ST.c.attempt_id)).all():
                    out.setdefault(r.application_id, []).append(StageOutline(
                        r.application_id, r.stage_id, r.attempt_id, r.name,
                        parents_of(r.parents), r.failure_reason))
        return out

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

    def driver_peaks_for(self, application_ids: Iterable[str]) -> dict[str, list[DriverPeaks]]:
        """`driver_peaks` of many applications in a few queries, by application id (those without
        any are left out)."""
        out: dict[str, list[DriverPeaks]] = {}
        with self._read() as conn:
            for ids in _chunks(application_ids):
                for r in conn.execute(sa.select(DP).where(DP.c.application_id.in_(ids))
                                      .order_by(DP.c.application_id, DP.c.total_gc_ms, DP.c.jvm_heap_bytes,
                                                DP.c.outside_heap_bytes)).all():
                    out.setdefault(r.application_id, []).append(DriverPeaks(
                        application_id=r.application_id,
                        metrics={k: int(v) for k, v in (r.metrics or {}).items()}))
        return out

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


def _chunks(application_ids: Iterable[str]) -> Iterator[list[str]]:
    """The distinct ids in order, `IDS_PER_QUERY` at a time."""
    ids = list(dict.fromkeys(application_ids))
    for i in range(0, len(ids), IDS_PER_QUERY):
        yield ids[i:i + IDS_PER_QUERY]
