"""runs.peak_workers (0024): the most workers a run's cluster had up at once round-trips; runs stored
before the revision read None, not known (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from server.domain import Project, Run
from server.store import Store, migrate, open_store
from tests.store.conftest import downgraded_to, seeded_at
from tests.store.old_schema import add_project_row


def test_peak_workers_round_trips(store: Store) -> None:
    pid = int(store.projects.add(Project(workspace="prod", job_id=42, cluster_key="A")).id or 0)
    burst = store.runs.add(Run(project_id=pid, databricks_run_id=1, runtime_s=900.0, peak_workers=6))
    store.runs.add(Run(project_id=pid, databricks_run_id=2, runtime_s=560.0))
    assert [r.peak_workers for r in store.runs.history(pid)] == [6, None]
    assert store.runs.update(dataclasses.replace(burst, peak_workers=7)).peak_workers == 7
    assert store.runs.get(int(burst.id or 0)).peak_workers == 7


def test_upgrade_from_0023_reads_older_runs_as_not_known(db_url: str) -> None:
    def seed(conn: sa.Connection) -> int:
        project_id = add_project_row(conn)
        conn.execute(sa.text(
            "INSERT INTO runs (project_id, databricks_run_id, cluster_id, start_ms, end_ms, runtime_s, outcome, "
            "anomalies, phase, created_at_ms, message, setup_s, wait_s, not_learned) VALUES "
            f"({project_id}, 900, 'c-1', 1000, 811000, 810.0, 'succeeded', '[]', 'learning', 5, '', 200.0, NULL, '')"))
        return project_id

    project_id = seeded_at(db_url, "0023", seed)
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        [run] = store.runs.history(project_id)
        assert (run.runtime_s, run.peak_workers) == (810.0, None)
        store.runs.update(dataclasses.replace(run, peak_workers=5))
        assert store.runs.get(int(run.id or 0)).peak_workers == 5
    finally:
        store.close()
    engine = downgraded_to(db_url, "0023")
    try:
        with engine.connect() as conn:
            assert "peak_workers" not in {c["name"] for c in sa.inspect(conn).get_columns("runs")}
            assert conn.execute(sa.text("SELECT runtime_s FROM runs")).scalar_one() == 810.0
    finally:
        engine.dispose()
