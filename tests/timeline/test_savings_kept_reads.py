"""`trimtab savings` reads only what changed: on PostgreSQL a warm call reads no run of a project whose
runs, costs, settings, change points and plan are unchanged (it read every run's figures on every call:
9.4 s of 13.5 s at 327,000 runs), and concurrent calls read the runs once, the others waiting without a
connection (20 concurrent GetSavings ran the 8+8 pool dry: UNAVAILABLE)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from benchmarks.savings import fill
from server.domain import Run, Workspace
from server.services.savings import get_savings, savings_from_history
from server.store import Store, open_store
from server.store.tables import StageRow
from server.timeline import CODE_CHANGE

DAY_MS = 86_400_000
FIGURES = "CAST(runs.config AS"  # in the statement that reads runs' figures (FIGURE_COLUMNS), alone
STAGES = "stages.name"  # in the statement that reads stages for the runs' code signatures


@contextmanager
def figure_reads(store: Store, marker: str = FIGURES) -> Iterator[list[set[int]]]:
    """The ids bound to each statement holding ``marker`` (the runs' figures: project ids) while inside."""
    reads: list[set[int]] = []

    def record(_conn: object, _cursor: object, statement: str, parameters: Any, *_: object) -> None:
        if marker in statement:
            values = parameters.values() if isinstance(parameters, dict) else parameters
            reads.append({v for v in values if isinstance(v, int)})

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield reads
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)


def _filled(store: Store) -> Store:
    store.workspaces.add(Workspace(name="ws", host="https://ws.example", cloud="aws", plan="premium",
                                   region="us-east-1"), token_encrypted="x")
    fill(store, 12, 30)  # code changes (with Spark stages), regressions, re-priced runs
    return store


@pytest.fixture
def pg_store(migrated_postgres_url: str) -> Iterator[Store]:
    store = open_store(migrated_postgres_url)
    try:
        yield _filled(store)
    finally:
        store.close()


def _next_run(store: Store, pid: int) -> Run:
    last = store.runs.history(pid)[-1]
    return store.runs.add(dataclasses.replace(last, id=None, databricks_run_id=last.databricks_run_id + 1,
                                              start_ms=last.start_ms + DAY_MS, end_ms=last.end_ms + DAY_MS))


def test_a_warm_call_reads_the_runs_of_the_projects_that_changed_alone(pg_store: Store) -> None:
    first = get_savings(pg_store)
    assert first == savings_from_history(pg_store)
    with figure_reads(pg_store) as reads:
        assert get_savings(pg_store) == first
    assert reads == []

    ids = [p.project_id for p in first.projects]
    # A new run, stored by another process (another store on the database).
    elsewhere = open_store(pg_store.engine.url.render_as_string(hide_password=False))
    try:
        _next_run(elsewhere, ids[0])
    finally:
        elsewhere.close()
    with figure_reads(pg_store) as reads:
        assert get_savings(pg_store) == savings_from_history(pg_store)
    assert reads == [{ids[0]}]

    # A cost replaced in place (a bill) and a run read again as failed: no run added, still seen.
    run = pg_store.runs.history(ids[1])[-3]
    assert run.cost is not None and run.id is not None
    pg_store.runs.set_cost(run.id, dataclasses.replace(run.cost, source="billed", total=run.cost.total * 0.5))
    with figure_reads(pg_store) as reads:
        billed = get_savings(pg_store)
    assert reads == [{ids[1]}] and billed == savings_from_history(pg_store) != first
    other = pg_store.runs.history(ids[2])[-2]
    pg_store.runs.update(dataclasses.replace(other, outcome="failed"))
    with figure_reads(pg_store) as reads:
        assert get_savings(pg_store) == savings_from_history(pg_store)
    assert reads == [{ids[2]}]


def test_a_warm_call_reads_no_stages_until_a_code_changed_projects_stages_change(pg_store: Store) -> None:
    """A code-changed project compares its runs by their Spark stages: read once, and again only when
    they change (the agent's events arrive after the run), not on every call."""
    first = get_savings(pg_store)
    changed = [p.project_id for p in first.projects if p.workload_change == CODE_CHANGE]
    assert changed
    with figure_reads(pg_store, STAGES) as reads:
        assert get_savings(pg_store) == first
    assert reads == []
    # Stages resent for the later runs of one project: the old code again.
    runs = pg_store.runs.history(changed[0])
    apps = pg_store.runs.application_ids_by_run([int(r.id or 0) for r in runs])
    late = [a for r in runs[len(runs) * 3 // 5:] for a in apps.get(int(r.id or 0), ())]
    stages = StageRow.__table__  # type: ignore[attr-defined]
    with pg_store.engine.begin() as conn:
        conn.execute(sa.delete(stages).where(stages.c.application_id.in_(late)))
        conn.execute(sa.insert(stages), [dict(application_id=a, stage_id=s, attempt_id=0, name=name,
                                              parent_ids=[s - 1] if s else [])
                                         for a in late for s, name in enumerate(["read", "join", "write"])])
    with figure_reads(pg_store, STAGES) as reads:
        after = get_savings(pg_store)
    assert len(reads) == 1 and after == savings_from_history(pg_store) != first
