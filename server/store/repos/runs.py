"""Runs with their cost breakdown and the Spark applications tied to them."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from server.domain import CostBreakdown, Run
from server.errors import AlreadyExists, InvalidArgument, NotFound
from server.store import convert
from server.store.repos.base import Repository
from server.store.tables import RunApplicationRow, RunCostRow, RunRow, StageRow

T = RunRow.__table__  # type: ignore[attr-defined]
C = RunCostRow.__table__  # type: ignore[attr-defined]
A = RunApplicationRow.__table__  # type: ignore[attr-defined]
S = StageRow.__table__  # type: ignore[attr-defined]  # read for `stage_versions` alone
IDS_PER_QUERY = 5000  # run ids bound in one IN (...): well under SQLite's and PostgreSQL's limits


class RunRepository(Repository):
    def add(self, run: Run) -> Run:
        """Store a new run with its cost and applications; `AlreadyExists` if the
        project already has this Databricks run."""
        if run.created_at_ms == 0:
            run = dataclasses.replace(run, created_at_ms=self._clock.now_ms())
        with self._write() as conn:
            clash = conn.execute(sa.select(T.c.id).where(T.c.project_id == run.project_id,
                                                         T.c.databricks_run_id == run.databricks_run_id)).first()
            if clash is not None:
                raise AlreadyExists(f"run {run.databricks_run_id} of project {run.project_id} already stored")
            run_id = conn.execute(T.insert().values(**convert.run_values(run)).returning(T.c.id)).scalar_one()
            self._write_parts(conn, run_id, run.cost, run.application_ids)
        return self.get(run_id)

    def update(self, run: Run) -> Run:
        """Write every field of `run` (found by id), its cost and its applications."""
        if run.id is None:
            raise NotFound("run has no id (add it first)")
        with self._write() as conn:
            if not conn.execute(T.update().where(T.c.id == run.id).values(**convert.run_values(run))).rowcount:
                raise NotFound(f"run {run.id} not found")
            conn.execute(C.delete().where(C.c.run_id == run.id))
            conn.execute(A.delete().where(A.c.run_id == run.id))
            self._write_parts(conn, run.id, run.cost, run.application_ids)
        return self.get(run.id)

    def set_not_learned(self, reasons: Mapping[int, str]) -> None:
        """Set why the planner did not learn each of these runs (run id -> reason, "" for a run it learned),
        in one transaction. Apart from `update`, which the collector calls with a run it read before its
        Databricks calls: a whole-row write there would put back the reason of an older plan."""
        if not reasons:
            return
        with self._write() as conn:
            for run_id, why in sorted(reasons.items()):
                conn.execute(T.update().where(T.c.id == run_id).values(not_learned=convert.storable_text(why)))

    def set_cost(self, run_id: int, cost: CostBreakdown) -> Run:
        """Replace the cost breakdown of a run (costing, bill reconciliation)."""
        with self._write() as conn:
            if conn.execute(sa.select(T.c.id).where(T.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id} not found")
            conn.execute(C.delete().where(C.c.run_id == run_id))
            conn.execute(C.insert().values(run_id=run_id, **convert.cost_values(cost)))
        return self.get(run_id)

    def get(self, run_id: int) -> Run:
        runs = self._load(sa.select(T).where(T.c.id == run_id))
        if not runs:
            raise NotFound(f"run {run_id} not found")
        return runs[0]

    def get_by_databricks_run(self, project_id: int, databricks_run_id: int) -> Run | None:
        runs = self._load(sa.select(T).where(T.c.project_id == project_id,
                                             T.c.databricks_run_id == databricks_run_id))
        return runs[0] if runs else None

    def list(self, project_id: int, limit: int = 50, before_id: int | None = None) -> list[Run]:
        """A project's most recently *stored* runs, highest id first; pass the last id as `before_id`
        for the next. What the collector, planner and prior read as "the runs stored before this
        one"; people read `newest_first`, ordered by when a run started (a backfilled past run is
        stored after newer ones)."""
        query = sa.select(T).where(T.c.project_id == project_id).order_by(T.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(T.c.id < before_id)
        return self._load(query)

    def newest_first(self, project_id: int, limit: int = 50,
                     after: tuple[int, int] | None = None) -> list[Run]:
        """A page of a project's runs, latest start first (ties by id, highest first): what
        `trimtab run list` shows. Pass the last run's (start_ms, id) as `after` for the next page:
        a keyset, so runs stored meanwhile neither repeat nor push runs off a page (an offset
        would). `ix_runs_project_start` serves the order."""
        query = (sa.select(T).where(T.c.project_id == project_id)
                 .order_by(T.c.start_ms.desc(), T.c.id.desc()).limit(limit))
        if after is not None:
            start_ms, run_id = after
            query = query.where(sa.or_(T.c.start_ms < start_ms,
                                       sa.and_(T.c.start_ms == start_ms, T.c.id < run_id)))
        return self._load(query)

    def ended_with_cost_source(self, project_id: int, source: str, ended_from_ms: int, ended_to_ms: int,
                               limit: int) -> list[Run]:
        """A project's runs on a cluster whose stored cost has ``source`` and whose bill window (the
        cost's ``window_end_ms``, else the run's ``end_ms``: `server.costing.recost.bill_window`) ended
        in [``ended_from_ms``, ``ended_to_ms``], oldest end first, at most ``limit``: what bill
        re-costing looks at. Runs without a cost (no cost row) are left out.

        Selected by time, not as the newest N runs: a job every 5 minutes has 864 runs in a 72 h
        re-cost window, and its 100th newest ended 8 h ago, before any bill lands. The scan is the
        project's runs (its index); a window ends at or after its run (the cluster outlives the
        run), so ``end_ms <= ended_to_ms`` is a sound first cut."""
        if limit < 1:
            raise InvalidArgument(f"limit: {limit} runs, must be at least 1")
        window_end = sa.func.coalesce(C.c.window_end_ms, T.c.end_ms)
        query = (sa.select(T).join(C, C.c.run_id == T.c.id)
                 .where(T.c.project_id == project_id, T.c.end_ms <= ended_to_ms, T.c.cluster_id != "",
                        C.c.source == source, window_end >= ended_from_ms, window_end <= ended_to_ms)
                 .order_by(window_end, T.c.id).limit(limit))
        return self._load(query)

    def unpriced_since(self, project_id: int, ended_from_ms: int, not_tried: str, limit: int) -> list[Run]:
        """A project's runs on a cluster with no cost, that ended at or after ``ended_from_ms`` and whose
        message does not hold ``not_tried`` (the note of a pricing already tried with this catalog),
        oldest end first, at most ``limit``: what re-pricing looks at. Selected by time, not as the
        newest N runs (a job every 5 minutes has 864 runs in 72 h)."""
        if limit < 1:
            raise InvalidArgument(f"limit: {limit} runs, must be at least 1")
        query = (sa.select(T).outerjoin(C, C.c.run_id == T.c.id)
                 .where(T.c.project_id == project_id, T.c.end_ms >= ended_from_ms, T.c.cluster_id != "",
                        C.c.run_id.is_(None), sa.not_(T.c.message.contains(not_tried, autoescape=True)))
                 .order_by(T.c.end_ms, T.c.id).limit(limit))
        return self._load(query)

    def cost_noted_since(self, project_id: int, ended_from_ms: int, note: str, limit: int) -> list[Run]:
        """A project's runs whose cost's note holds ``note`` and that ended at or after ``ended_from_ms``,
        oldest end first, at most ``limit``: the runs the collector prices again for what the note says
        (`server.collect.collector.PRICED_ON_DEMAND_NOTE`)."""
        if limit < 1:
            raise InvalidArgument(f"limit: {limit} runs, must be at least 1")
        query = (sa.select(T).join(C, C.c.run_id == T.c.id)
                 .where(T.c.project_id == project_id, T.c.end_ms >= ended_from_ms, T.c.cluster_id != "",
                        C.c.note.contains(note, autoescape=True))
                 .order_by(T.c.end_ms, T.c.id).limit(limit))
        return self._load(query)

    def stored_since(self, project_id: int, outcomes: Collection[str], created_from_ms: int, limit: int, *,
                     without_anomaly: str = "") -> list[Run]:
        """A project's runs with one of ``outcomes``, stored (``created_at_ms``) at or after
        ``created_from_ms``, without the anomaly ``without_anomaly`` (when given), newest first, at
        most ``limit``: the failed runs the collector reads again for a repair. Selected by time, not
        among the newest N runs: a job every 5 minutes pushed a failure out of its newest 50 in
        about 4 hours, well inside a 7-day window."""
        if limit < 1:
            raise InvalidArgument(f"limit: {limit} runs, must be at least 1")
        if not outcomes:
            return []
        query = sa.select(T).where(T.c.project_id == project_id, T.c.outcome.in_(sorted(outcomes)),
                                   T.c.created_at_ms >= created_from_ms)
        if without_anomaly:
            # Anomalies are a JSON list of strings: the quoted label never matches a longer one.
            query = query.where(sa.not_(sa.cast(T.c.anomalies, sa.Text).contains(f'"{without_anomaly}"',
                                                                                 autoescape=True)))
        return self._load(query.order_by(T.c.id.desc()).limit(limit))

    def newest_ids(self, project_ids: Collection[int]) -> dict[int, int]:
        """Each of these projects' newest run id (projects without runs are left out), in one query."""
        if not project_ids:
            return {}
        with self._read() as conn:
            rows = conn.execute(sa.select(T.c.project_id, sa.func.max(T.c.id))
                                .where(T.c.project_id.in_(sorted(project_ids)))
                                .group_by(T.c.project_id)).all()
        return {int(pid): int(newest) for pid, newest in rows}

    def history(self, project_id: int, *, offset: int = 0, limit: int | None = None) -> list[Run]:
        """Every run of a project, oldest first (what the models and the timeline read); with ``offset``
        and ``limit``, that part of it (what a plan reads, `server.plan.reads.plan_window`)."""
        query = sa.select(T).where(T.c.project_id == project_id).order_by(T.c.start_ms, T.c.id)
        if offset > 0:
            query = query.offset(offset)
        return self._load(query if limit is None else query.limit(max(limit, 0)))

    def count_from(self, project_id: int, run_id: int) -> int | None:
        """How many of the project's runs are ``run_id`` or after it in `history`'s order (start, then
        id); None when the project has no run ``run_id``."""
        with self._read() as conn:
            at = conn.execute(sa.select(T.c.start_ms, T.c.id)
                              .where(T.c.project_id == project_id, T.c.id == run_id)).first()
            if at is None:
                return None
            later = sa.or_(T.c.start_ms > at.start_ms, sa.and_(T.c.start_ms == at.start_ms, T.c.id >= at.id))
            return int(conn.execute(sa.select(sa.func.count()).select_from(T)
                                    .where(T.c.project_id == project_id, later)).scalar_one())

    def newest_flagged(self, project_id: int, anomaly: str) -> Run | None:
        """The project's newest run in `history`'s order whose anomalies name ``anomaly``; None without one."""
        # The JSON list's text holds the label quoted on both engines (PostgreSQL's text of it puts a
        # space after each comma, which the quotes leave alone): one query, not the whole history.
        query = (sa.select(T.c.id, T.c.anomalies)
                 .where(T.c.project_id == project_id,
                        sa.cast(T.c.anomalies, sa.Text).contains(f'"{anomaly}"', autoescape=True))
                 .order_by(T.c.start_ms.desc(), T.c.id.desc()))
        with self._read() as conn:
            # The text match is a filter only (a label that merely contains the quoted word); the list decides.
            run_id = next((row.id for row in conn.execute(query) if anomaly in (row.anomalies or ())), None)
        return None if run_id is None else self.get(int(run_id))

    def count_configured(self, project_id: int) -> int:
        """How many of the project's runs have a known configuration (`Run.config` not None), the runs
        the planner makes observations of."""
        text = sa.cast(T.c.config, sa.Text)
        # A run without a configuration is stored as SQL NULL or JSON null (`convert.config_to_json`);
        # an empty object reads back as None too (`convert.config_from_json`).
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(T).where(
                T.c.project_id == project_id, T.c.config.is_not(None), text.not_in(("null", "{}")))).scalar_one())

    def count(self, project_id: int) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(T)
                                    .where(T.c.project_id == project_id)).scalar_one())

    def versions(self) -> dict[int, tuple[int, int]]:
        """Per project with runs: (how many, the newest run id), in one query: what changed since."""
        with self._read() as conn:
            rows = conn.execute(sa.select(T.c.project_id, sa.func.count(), sa.func.max(T.c.id))
                                .group_by(T.c.project_id)).all()
        return {int(pid): (int(n), int(newest)) for pid, n, newest in rows}

    # What a project's figures read of each run (`figures_by_project`): everything `stored_project_savings`
    # and the projects page read but the Spark applications (JSON as its stored text). execution_only
    # is last, so the columns before it keep their places.
    FIGURE_COLUMNS = (T.c.id, T.c.databricks_run_id, T.c.start_ms, T.c.runtime_s, T.c.outcome,
                      sa.cast(T.c.config, sa.Text), T.c.input_bytes, sa.cast(T.c.anomalies, sa.Text),
                      T.c.recommendation_id, T.c.setup_s, C.c.run_id, C.c.dbu_cost, C.c.compute_cost,
                      C.c.storage_cost, C.c.total, C.c.dbus, C.c.currency, C.c.source, C.c.billed_cloud_cost,
                      C.c.cost_per_input_gb, C.c.used_by_models, T.c.execution_only, T.c.sla_s)

    # What a project listing needs of each run (`server.services.projects.summaries`): execution_only
    # and the SLA it was collected under for its SLA verdict (`server.timeline.met_sla`, `sla_in_force`),
    # the anomalies (JSON text) for an edit outside Trimtab that pauses auto-apply
    # (`server.plan.planner.edit_hold`).
    OUTLINE_COLUMNS = (T.c.id, T.c.start_ms, T.c.runtime_s, T.c.outcome, T.c.execution_only,
                       sa.cast(T.c.anomalies, sa.Text), T.c.sla_s)

    def figures_by_project(self, project_ids: Collection[int],
                           columns: Sequence[Any] = FIGURE_COLUMNS) -> Iterator[tuple[int, list[tuple]]]:
        """Each of these projects' runs as plain tuples of ``columns`` (`FIGURE_COLUMNS`: id first,
        start_ms third, runtime_s fourth, outcome fifth, execution_only last; or `OUTLINE_COLUMNS`),
        oldest id first, one project at a time; projects without runs are left out. Streamed in one
        query, so a store of 100,000 runs is never in memory at once and no run is made into a `Run`
        (what the projects page reads to tell what changed, and what a listing counts)."""
        if not project_ids:
            return
        query = (sa.select(T.c.project_id, *columns).select_from(T.outerjoin(C, C.c.run_id == T.c.id))
                 .where(T.c.project_id.in_(sorted(project_ids))).order_by(T.c.project_id, T.c.id)
                 .execution_options(yield_per=5000))
        with self._read() as conn:
            current: int | None = None
            rows: list[tuple] = []
            for row in conn.execute(query):
                if row[0] != current:
                    if current is not None:
                        yield current, rows
                    current, rows = int(row[0]), []
                rows.append(tuple(row)[1:])
            if current is not None:
                yield current, rows

    def figures_read(self, project_ids: Collection[int],
                     columns: Sequence[Any] = FIGURE_COLUMNS) -> dict[int, list[tuple]]:
        """`figures_by_project` read whole, by project id: the transaction ends, and its connection goes
        back to the pool, before the caller makes anything of the rows. A generator holds its
        connection while its consumer works between rows: under 20 concurrent `trimtab savings` each
        read took past the 60 s deadline and the pool ran dry, though PostgreSQL was answering."""
        if not project_ids:
            return {}
        query = (sa.select(T.c.project_id, *columns).select_from(T.outerjoin(C, C.c.run_id == T.c.id))
                 .where(T.c.project_id.in_(sorted(project_ids))).order_by(T.c.project_id, T.c.id))
        with self._read() as conn:
            rows = conn.execute(query).all()
        out: dict[int, list[tuple]] = {}
        for row in rows:
            out.setdefault(int(row[0]), []).append(tuple(row)[1:])
        return out

    def figure_versions(self, project_ids: Collection[int]) -> dict[int, tuple[int, ...]] | None:
        """Per project with runs, a value that changes whenever any of its runs or their costs is added,
        changed or removed, in one aggregate query (no run is sent): what a kept figure of the project
        is compared by instead of reading every run again. None where the database cannot tell (SQLite).

        PostgreSQL: each row version's ``xmin`` (the transaction that wrote it); an UPDATE, and the
        DELETE and INSERT that replace a cost, write rows with a newer transaction id, so the sums
        grow; a removed row changes the counts (or, replaced by another, the sums). The value is
        reliable up to transaction-id wraparound (4 billion transactions), which would need a
        change to land on exactly the sum it replaced. SQLite has no row version to read, and a
        sum of the columns' values would miss an edit that keeps them (a config's node type from
        m5.xlarge to r5.xlarge): its callers read the runs."""
        if self._engine.dialect.name != "postgresql":
            return None
        if not project_ids:
            return {}

        query = (sa.select(T.c.project_id, sa.func.count(T.c.id), sa.func.max(T.c.id), sa.func.count(C.c.run_id),
                           _xmin_sum(T), _xmin_sum(C))
                 .select_from(T.outerjoin(C, C.c.run_id == T.c.id))
                 .where(T.c.project_id.in_(sorted(project_ids))).group_by(T.c.project_id))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return {int(pid): tuple(int(v) for v in values) for pid, *values in rows}

    def stage_versions(self, project_ids: Collection[int]) -> dict[int, tuple[int, ...]] | None:
        """Per project whose runs have Spark applications, a value that changes whenever a run's
        application link or one of those applications' stages is added, changed or removed (row
        versions, as `figure_versions`), in one aggregate query: what a code change's stage signatures
        are kept by (the agent's stages arrive after their run). None on SQLite."""
        if self._engine.dialect.name != "postgresql":
            return None
        if not project_ids:
            return {}

        query = (sa.select(T.c.project_id, sa.func.count(A.c.run_id), _xmin_sum(A), sa.func.count(S.c.stage_id),
                           _xmin_sum(S))
                 .select_from(T.join(A, A.c.run_id == T.c.id).outerjoin(S, S.c.application_id == A.c.application_id))
                 .where(T.c.project_id.in_(sorted(project_ids))).group_by(T.c.project_id))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return {int(pid): tuple(int(v) for v in values) for pid, *values in rows}

    def by_ids(self, run_ids: Collection[int]) -> list[Run]:
        """These runs (an id not stored is left out), by id, in one read."""
        return self._load(sa.select(T).where(T.c.id.in_(sorted(run_ids))).order_by(T.c.id)) if run_ids else []

    def application_ids_by_run(self, run_ids: Collection[int]) -> dict[int, tuple[str, ...]]:
        """The Spark applications of these runs, by run id, each in `Run.application_ids`' order; a run
        without any is left out. A few queries however many runs (what `history` would read whole)."""
        ids = sorted(set(run_ids))
        out: dict[int, list[str]] = {}
        with self._read() as conn:
            for i in range(0, len(ids), IDS_PER_QUERY):
                for run_id, app in conn.execute(sa.select(A.c.run_id, A.c.application_id)
                                                .where(A.c.run_id.in_(ids[i:i + IDS_PER_QUERY]))
                                                .order_by(A.c.run_id, A.c.application_id)):
                    out.setdefault(int(run_id), []).append(app)
        return {run_id: tuple(apps) for run_id, apps in out.items()}

    def for_application(self, application_id: str) -> Run | None:
        with self._read() as conn:
            run_id = conn.execute(sa.select(A.c.run_id).where(A.c.application_id == application_id)
                                  .order_by(A.c.run_id.desc()).limit(1)).scalar()
        return self.get(run_id) if run_id is not None else None

    def _load(self, query: sa.Select) -> list[Run]:
        with self._read() as conn:
            rows = conn.execute(query).all()
            ids = [r.id for r in rows]
            if not ids:
                return []
            costs = {c.run_id: c for c in conn.execute(sa.select(C).where(C.c.run_id.in_(ids))).all()}
            apps: dict[int, list[str]] = {}
            for link in conn.execute(sa.select(A).where(A.c.run_id.in_(ids))
                                     .order_by(A.c.application_id)).all():
                apps.setdefault(link.run_id, []).append(link.application_id)
        return [convert.run(r, costs.get(r.id), tuple(apps.get(r.id, ()))) for r in rows]

    @staticmethod
    def _write_parts(conn: sa.Connection, run_id: int, cost: CostBreakdown | None,
                     application_ids: Iterable[str]) -> None:
        if cost is not None:
            conn.execute(C.insert().values(run_id=run_id, **convert.cost_values(cost)))
        links: Sequence[dict] = [{"run_id": run_id, "application_id": a} for a in dict.fromkeys(application_ids)]
        if links:
            conn.execute(A.insert(), links)


def _xmin_sum(table: sa.Table) -> sa.ColumnElement[Any]:
    """PostgreSQL: the sum of ``table``'s row versions (``xmin``, the writing transaction's id) over a
    group; it moves whenever a row of the group is written (`RunRepository.figure_versions`)."""
    return sa.func.coalesce(sa.func.sum(sa.cast(sa.cast(sa.literal_column(f"{table.name}.xmin"), sa.Text),
                                                sa.BigInteger)), 0)
