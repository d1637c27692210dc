"""runs.execution_only (0012): a run backfilled from its event log alone says its runtime is the
execution only; runs stored before the revision come through false, except log-only backfilled runs,
recognised by the note their message carries (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from server.backfill.runs import SETUP_UNKNOWN, SETUP_UNKNOWN_NOTE
from server.domain import Project, Run
from server.store import Store, migrate, open_store
from server.store.engine import make_engine
from tests.store.old_schema import add_project_row


def test_flag_round_trips(store: Store) -> None:
    pid = int(store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main")).id or 0)
    logged = store.runs.add(Run(project_id=pid, databricks_run_id=1, runtime_s=280.0, execution_only=True))
    full = store.runs.add(Run(project_id=pid, databricks_run_id=2, runtime_s=560.0, setup_s=260.0))
    assert [r.execution_only for r in store.runs.history(pid)] == [True, False]
    assert store.runs.update(dataclasses.replace(logged, runtime_s=281.0)).execution_only
    assert not store.runs.get(int(full.id or 0)).execution_only


def test_upgrade_from_0011_marks_log_only_runs(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0011")
    with engine.begin() as conn:
        project_id = add_project_row(conn)
        for run_id, message in ((900, f"{SETUP_UNKNOWN}; {SETUP_UNKNOWN_NOTE}"), (901, "")):
            conn.execute(sa.text(
                "INSERT INTO runs (project_id, databricks_run_id, cluster_id, start_ms, end_ms, runtime_s, outcome, "
                "anomalies, phase, created_at_ms, message) VALUES "
                f"({project_id}, {run_id}, 'c-1', 1000, 281000, 280.0, 'succeeded', '[]', 'learning', 5, :m)"),
                {"m": message})
    engine.dispose()
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        assert [r.execution_only for r in store.runs.history(project_id)] == [True, False]
    finally:
        store.close()
