"""Retention: the per-executor detail of old runs (`trimtab db prune`), and a removed project's whole
history (`trimtab project remove --purge`).

What `prune_detail` deletes is what grows with runs x executors and nothing reads once a run is old:
each stage's per-executor peaks (~700 B a row: 200 stages on 40 executors add ~5 MB a run), the
executors, their gauges, the driver's peaks, the Spark jobs and SQL executions. What it keeps:

- each run's row and cost (runtime, configuration, outcome, input size, anomalies, SLA): what the
  timeline, savings and the models read;
- the stages themselves (a few hundred bytes each, with their metrics): the planner compares the
  stage structure of the runs it reads (the current segment and 200 runs before it, at most
  `server.plan.reads.PLAN_RUNS`) to date code changes (`models.changes`), and savings compares the
  code of the runs on the cluster as found with it, however old
  (`server.services.savings.stored_signatures`);
- every detail of each project's newest `KEEP_NEWEST_RUNS` runs, whatever their age: the planner
  reads the newest runs' stage metrics, executor peaks and driver peaks (`server.plan.reads`: at
  most 30 runs for the driver rule, 10 for the disk advice, 5 replayed), with a margin;
- the applications (one row a run: its cluster, Spark conf and times) and every event's key, so a
  re-sent event is still a duplicate and is never materialized again.

Agents' status rows and the batch records come from the agents' resends (`IngestRepository.write`):
a batch is resent only while its agent, on a live cluster, still holds it, and the events are
de-duplicated by their own keys whatever happens to the batch record. Both are pruned only beyond
`RESEND_HORIZON_MS` as well as the cutoff.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from server.errors import FailedPrecondition, NotFound
from server.store.repos.base import Repository, chunks
from server.store.tables import (
    AgentRow,
    ApplicationRow,
    DriverPeakRow,
    EventRow,
    ExecutorGaugeRow,
    ExecutorRow,
    IngestBatchRow,
    JobRow,
    ProjectRow,
    RecommendationRow,
    RunApplicationRow,
    RunCostRow,
    RunRow,
    SqlExecutionRow,
    StageExecutorPeakRow,
    StageRow,
)

APP = ApplicationRow.__table__  # type: ignore[attr-defined]
LINK = RunApplicationRow.__table__  # type: ignore[attr-defined]
RUN = RunRow.__table__  # type: ignore[attr-defined]
COST = RunCostRow.__table__  # type: ignore[attr-defined]
REC = RecommendationRow.__table__  # type: ignore[attr-defined]
PROJ = ProjectRow.__table__  # type: ignore[attr-defined]
BA = IngestBatchRow.__table__  # type: ignore[attr-defined]
AG = AgentRow.__table__  # type: ignore[attr-defined]
ST = StageRow.__table__  # type: ignore[attr-defined]
EV = EventRow.__table__  # type: ignore[attr-defined]

# The per-executor detail `prune_detail` deletes, biggest first (the order the report lists them in).
DETAIL_TABLES: tuple[sa.Table, ...] = tuple(row.__table__ for row in (  # type: ignore[attr-defined]
    StageExecutorPeakRow, ExecutorRow, ExecutorGaugeRow, DriverPeakRow, JobRow, SqlExecutionRow))

# Each project's newest runs keep all their detail whatever their age: the planner reads the stage
# metrics, executor peaks and driver peaks of at most its newest 30 (`server.plan.reads.DRIVER_RUNS`),
# and its replay walks back past runs it does not learn from; 50 leaves room for both.
KEEP_NEWEST_RUNS = 50

# An agent resends a batch only while it holds it, on a live cluster (its spool goes with the
# cluster); an agent that sent nothing for a week is gone. Its status row and batch records are
# pruned only past this, however short the cutoff.
RESEND_HORIZON_MS = 7 * 86_400_000

# Applications per write transaction: a large table is never locked by one long transaction.
APPS_PER_BATCH = 200
# Agents' and batches' keys per write transaction.
KEYS_PER_BATCH = 5000


@dataclass(frozen=True)
class PruneReport:
    """What `prune_detail` deleted (or, dry, would delete): ``runs`` whose detail went, their Spark
    ``applications``, and the rows by table name (`DETAIL_TABLES`, then ingest_batches and agents)."""

    runs: int = 0
    applications: int = 0
    rows: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PurgeReport:
    """What `purge_project` deleted: rows by table name."""

    project: str
    rows: dict[str, int] = field(default_factory=dict)


class RetentionRepository(Repository):
    def prune_detail(self, started_before_ms: int, *, keep_newest: int = KEEP_NEWEST_RUNS, dry_run: bool = False,
                     apps_per_batch: int = APPS_PER_BATCH) -> PruneReport:
        """Delete the per-executor detail (`DETAIL_TABLES`) of the runs that started before
        ``started_before_ms``, each project's newest ``keep_newest`` excepted, and mark their
        applications pruned; then the batch records and agents' rows older than both the cutoff and
        `RESEND_HORIZON_MS`. An application one kept run shares is kept whole. ``dry_run``: count only.

        Works in transactions of ``apps_per_batch`` applications, so the server goes on storing
        agents' batches meanwhile; the runs it leaves alone are never touched, so a plan running
        beside it reads what it always did."""
        runs, apps = self._prunable(started_before_ms, keep_newest)
        rows = {t.name: 0 for t in DETAIL_TABLES}
        now = self._clock.now_ms()
        for part in chunks(apps, apps_per_batch):
            if dry_run:
                with self._read() as conn:
                    for t in DETAIL_TABLES:
                        rows[t.name] += int(conn.execute(sa.select(sa.func.count()).select_from(t)
                                                         .where(t.c.application_id.in_(part))).scalar_one())
                continue
            with self._write() as conn:
                for t in DETAIL_TABLES:
                    rows[t.name] += conn.execute(t.delete().where(t.c.application_id.in_(part))).rowcount
                conn.execute(APP.update().where(APP.c.application_id.in_(part))
                             .values(detail_pruned_at_ms=now))
        horizon = min(started_before_ms, now - RESEND_HORIZON_MS)
        rows[BA.name] = self._delete_keyed(BA, (BA.c.agent_id, BA.c.batch_id), BA.c.received_ms < horizon, dry_run)
        rows[AG.name] = self._delete_keyed(AG, (AG.c.agent_id,), AG.c.last_seen_ms < horizon, dry_run)
        return PruneReport(runs=runs, applications=len(apps), rows=rows)

    def _prunable(self, started_before_ms: int, keep_newest: int) -> tuple[int, list[str]]:
        """(how many runs have detail to prune, the applications to prune: those of the runs that
        started before the cutoff, each project's newest ``keep_newest`` excepted, that no other run
        shares and that were not pruned before)."""
        order = (RUN.c.start_ms.desc(), RUN.c.id.desc())
        # Newest first, as `RunRepository.newest_first` orders a project's runs.
        rank = sa.func.row_number().over(partition_by=RUN.c.project_id, order_by=order).label("rank")
        ranked = sa.select(RUN.c.id, RUN.c.start_ms, rank).subquery()
        old = sa.select(ranked.c.id).where(ranked.c.start_ms < started_before_ms, ranked.c.rank > keep_newest)
        with self._read() as conn:
            old_ids = {int(i) for (i,) in conn.execute(old)}
            if not old_ids:
                return 0, []
            links = conn.execute(sa.select(LINK.c.run_id, LINK.c.application_id)).all()
            done = {a for (a,) in conn.execute(sa.select(APP.c.application_id)
                                               .where(APP.c.detail_pruned_at_ms.is_not(None)))}
        kept = {a for r, a in links if int(r) not in old_ids}
        apps: dict[str, None] = {}
        runs: set[int] = set()
        for r, a in sorted(links):
            if int(r) in old_ids and a not in kept and a not in done:
                apps[a] = None
                runs.add(int(r))
        return len(runs), list(apps)

    def _delete_keyed(self, table: sa.Table, key: Sequence[sa.Column], where: sa.ColumnElement[bool],
                      dry_run: bool) -> int:
        """Delete ``table``'s rows matching ``where`` ``KEYS_PER_BATCH`` at a time (count them, dry)."""
        if dry_run:
            with self._read() as conn:
                return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one())
        deleted = 0
        while True:
            with self._write() as conn:
                keys = conn.execute(sa.select(*key).where(where).limit(KEYS_PER_BATCH)).all()
                if keys:
                    match = sa.and_(*(c == sa.bindparam(f"k{i}") for i, c in enumerate(key)))
                    conn.execute(table.delete().where(match),
                                 [{f"k{i}": v for i, v in enumerate(k)} for k in keys])
            deleted += len(keys)
            if len(keys) < KEYS_PER_BATCH:
                return deleted

    def detail_pruned_at(self, application_ids: Iterable[str]) -> int | None:
        """When the detail of any of these applications was pruned (the latest); None: never."""
        ids = list(dict.fromkeys(application_ids))
        found: list[int] = []
        with self._read() as conn:
            for part in chunks(ids, 500):
                at = conn.execute(sa.select(sa.func.max(APP.c.detail_pruned_at_ms))
                                  .where(APP.c.application_id.in_(part))).scalar()
                if at is not None:
                    found.append(int(at))
        return max(found, default=None)

    def history_counts(self, project_id: int) -> tuple[int, int]:
        """(runs, recommendations) of the project."""
        with self._read() as conn:
            return tuple(int(conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.project_id == project_id))
                             .scalar_one()) for t in (RUN, REC))  # type: ignore[return-value]

    def purge_project(self, project_id: int, name: str) -> PurgeReport:
        """Delete a detached or orphaned project with all its history, in one transaction: its runs,
        their costs, its recommendations, and its runs' Spark applications with everything stored of
        them (stages, executors, peaks, events), but an application another project's run shares.
        An attached project raises `FailedPrecondition`: Trimtab still steers its job's cluster, and
        detaching puts the cluster back first."""
        with self._write() as conn:
            row = conn.execute(sa.select(PROJ.c.detached, PROJ.c.orphaned).where(PROJ.c.id == project_id)
                               .with_for_update()).first()
            if row is None:
                raise NotFound(f"project {name} not found")
            if not (row.detached or row.orphaned):
                raise FailedPrecondition(f"project {name} is attached: Trimtab still manages its job's cluster; "
                                         f"`trimtab project detach {name}` first, then remove it")
            run_ids = [int(i) for (i,) in conn.execute(sa.select(RUN.c.id).where(RUN.c.project_id == project_id))]
            mine = sa.select(RUN.c.id).where(RUN.c.project_id == project_id)
            shared = sa.select(LINK.c.application_id).where(LINK.c.run_id.not_in(mine))
            apps = [a for (a,) in conn.execute(sa.select(LINK.c.application_id).where(LINK.c.run_id.in_(mine))
                                               .where(LINK.c.application_id.not_in(shared)).distinct())]
            rows: dict[str, int] = {}
            for t in (*DETAIL_TABLES, ST, EV, APP):
                rows[t.name] = sum(conn.execute(t.delete().where(t.c.application_id.in_(part))).rowcount
                                   for part in chunks(apps, 500))
            for t in (LINK, COST):
                rows[t.name] = sum(conn.execute(t.delete().where(t.c.run_id.in_(part))).rowcount
                                   for part in chunks(run_ids, 500))
            rows[RUN.name] = conn.execute(RUN.delete().where(RUN.c.project_id == project_id)).rowcount
            rows[REC.name] = conn.execute(REC.delete().where(REC.c.project_id == project_id)).rowcount
            rows[PROJ.name] = conn.execute(PROJ.delete().where(PROJ.c.id == project_id)).rowcount
        return PurgeReport(project=name, rows=rows)
