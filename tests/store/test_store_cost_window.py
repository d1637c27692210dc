"""run_costs.window_start_ms/window_end_ms (migration 0008): the span a run's cost was priced over is
stored and read back, and costs from before 0008 come through without one (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from server.domain import CostBreakdown, Project, Run
from server.store import Store, migrate, open_store
from server.store.engine import make_engine
from tests.store.old_schema import add_project_row

START, END = 1_796_428_800_000, 1_796_430_180_000  # past 2**31: BigInteger on PostgreSQL


def test_cost_window_round_trips(store: Store) -> None:
    pid = int(store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="n")).id or 0)
    cost = CostBreakdown(total=2.0, window_start_ms=START, window_end_ms=END)
    run = store.runs.add(Run(project_id=pid, databricks_run_id=1, cluster_id="c-1", cost=cost))
    assert run.cost == cost
    later = store.runs.set_cost(int(run.id or 0), dataclasses.replace(cost, source="billed", total=2.5))
    assert later.cost is not None and (later.cost.window_start_ms, later.cost.window_end_ms) == (START, END)
    plain = store.runs.add(Run(project_id=pid, databricks_run_id=2, cost=CostBreakdown(total=1.0)))
    assert plain.cost is not None and (plain.cost.window_start_ms, plain.cost.window_end_ms) == (None, None)


def test_upgrade_from_0007_keeps_costs_without_a_window(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0007")
    assert "window_start_ms" not in {c["name"] for c in sa.inspect(engine).get_columns("run_costs")}
    with engine.begin() as conn:
        project_id = add_project_row(conn)
        conn.execute(sa.text(
            "INSERT INTO runs (project_id, databricks_run_id, cluster_id, start_ms, end_ms, runtime_s, outcome, "
            "anomalies, phase, created_at_ms, message) VALUES "
            f"({project_id}, 900, 'c-1', 1000, 371000, 370.0, 'succeeded', '[]', 'learning', 5, '')"))
        run_id = conn.execute(sa.text("SELECT id FROM runs")).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO run_costs (run_id, dbu_cost, compute_cost, storage_cost, total, dbus, currency, source, "
            f"used_by_models, note) VALUES ({run_id}, 1.0, 2.0, 0.5, 3.5, 4.0, 'USD', 'estimate', 'estimate', 'x')"))
    engine.dispose()
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        [old] = store.runs.history(project_id)
        assert old.cost is not None and old.cost.total == 3.5
        assert (old.cost.window_start_ms, old.cost.window_end_ms) == (None, None)
        new = store.runs.set_cost(run_id, dataclasses.replace(old.cost, window_start_ms=START, window_end_ms=END))
        assert new.cost is not None and (new.cost.window_start_ms, new.cost.window_end_ms) == (START, END)
    finally:
        store.close()
