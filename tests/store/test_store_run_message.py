"""runs.message: Databricks' reason for a failed run is stored, updated, and "" for runs from before
migration 0007 (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from server.domain import Project, Run
from server.store import Store, migrate, open_store
from server.store.engine import make_engine
from tests.store.old_schema import add_project_row

WHY = ('Cluster validation error: Validation failed for num_workers, the value must be at most 2 (is "4"); '
       "Init script failure: Cluster scoped init script /x.sh failed: Script exit status is non-zero — "
       "ünïcode kept")


def _project(store: Store) -> Project:
    return store.projects.add(Project(workspace="prod", job_id=42, cluster_key="main", job_name="nightly"))


def test_message_round_trips_and_defaults_to_empty(store: Store) -> None:
    pid = int(_project(store).id or 0)
    failed = store.runs.add(Run(project_id=pid, databricks_run_id=1, outcome="failed", message=WHY))
    ok = store.runs.add(Run(project_id=pid, databricks_run_id=2))
    assert (failed.message, ok.message) == (WHY, "")
    assert [r.message for r in store.runs.history(pid)] == [WHY, ""]
    assert [r.message for r in store.runs.list(pid)] == ["", WHY]  # newest first
    got = store.runs.get_by_databricks_run(pid, 1)
    assert got is not None and got.message == WHY
    # Updates (costing, ties) keep it, or change it when asked.
    assert store.runs.update(dataclasses.replace(failed, runtime_s=5.0)).message == WHY
    assert store.runs.update(dataclasses.replace(failed, message="")).message == ""
    assert store.runs.get(int(failed.id or 0)).message == ""


def test_upgrade_from_0006_keeps_stored_runs_with_no_message(db_url: str) -> None:
    """Runs stored by an older server come through with an empty message, and new ones keep theirs."""
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0006")
    assert "message" not in {c["name"] for c in sa.inspect(engine).get_columns("runs")}
    with engine.begin() as conn:
        project_id = add_project_row(conn)
        conn.execute(sa.text(
            "INSERT INTO runs (project_id, databricks_run_id, cluster_id, start_ms, end_ms, runtime_s, outcome, "
            "anomalies, phase, created_at_ms, setup_s) VALUES "
            f"({project_id}, 900, 'c-1', 1000, 371000, 370.0, 'failed', '[\"failure\"]', 'learning', 5, 12.5)"))
    engine.dispose()
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        [old] = store.runs.history(project_id)
        assert (old.databricks_run_id, old.outcome, old.setup_s, old.message) == (900, "failed", 12.5, "")
        new = store.runs.add(Run(project_id=project_id, databricks_run_id=901, outcome="failed", message=WHY))
        assert store.runs.get(int(new.id or 0)).message == WHY
    finally:
        store.close()
