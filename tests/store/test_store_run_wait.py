"""runs.wait_s (0016): how long a run's cluster sat idle between its own tasks (other clusters' tasks
ran) round-trips; runs stored before the revision read None, not measured (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from server.domain import Project, Run
from server.store import Store, migrate, open_store
from server.store.engine import make_engine
from tests.store.old_schema import add_project_row


def test_wait_round_trips(store: Store) -> None:
    pid = int(store.projects.add(Project(workspace="prod", job_id=42, cluster_key="A")).id or 0)
    waited = store.runs.add(Run(project_id=pid, databricks_run_id=1, runtime_s=1489.0, setup_s=250.0,
                                wait_s=678.0))
    store.runs.add(Run(project_id=pid, databricks_run_id=2, runtime_s=560.0, setup_s=260.0))
    assert [r.wait_s for r in store.runs.history(pid)] == [678.0, None]
    assert store.runs.update(dataclasses.replace(waited, wait_s=680.5)).wait_s == 680.5
    assert store.runs.get(int(waited.id or 0)).wait_s == 680.5


def test_upgrade_from_0015_reads_older_runs_as_not_measured(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0015")
    with engine.begin() as conn:
        project_id = add_project_row(conn)
        conn.execute(sa.text(
            "INSERT INTO runs (project_id, databricks_run_id, cluster_id, start_ms, end_ms, runtime_s, outcome, "
            "anomalies, phase, created_at_ms, message, setup_s) VALUES "
            f"({project_id}, 900, 'c-1', 1000, 811000, 810.0, 'succeeded', '[]', 'learning', 5, '', 200.0)"))
    engine.dispose()
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        assert [(r.setup_s, r.wait_s) for r in store.runs.history(project_id)] == [(200.0, None)]
    finally:
        store.close()
