"""runs.not_learned (0021): the planner's reason for not learning a run round-trips, only through
`set_not_learned`; runs stored before the revision read "" until a plan writes theirs (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from server.domain import Project, Run
from server.store import Store, migrate, open_store
from tests.store.conftest import seeded_at
from tests.store.old_schema import add_project_row


def test_not_learned_round_trips_and_a_whole_row_write_leaves_it(store: Store) -> None:
    pid = int(store.projects.add(Project(workspace="prod", job_id=42, cluster_key="A")).id or 0)
    lost = store.runs.add(Run(project_id=pid, databricks_run_id=1, runtime_s=236.0, anomalies=("spot_loss",)))
    kept = store.runs.add(Run(project_id=pid, databricks_run_id=2, runtime_s=560.0))
    assert lost.not_learned == ""
    store.runs.set_not_learned({int(lost.id or 0): "spot_loss: runtime 236s is not this configuration's normal",
                                int(kept.id or 0): ""})
    assert [r.not_learned for r in store.runs.history(pid)] == [
        "spot_loss: runtime 236s is not this configuration's normal", ""]
    # The collector's write of a copy read earlier (and a run built afresh) keeps the planner's reason.
    store.runs.update(dataclasses.replace(lost, message="why", not_learned="an older copy"))
    assert store.runs.get(int(lost.id or 0)).not_learned.startswith("spot_loss: runtime 236s")
    store.runs.set_not_learned({int(lost.id or 0): ""})
    assert store.runs.get(int(lost.id or 0)).not_learned == ""


def test_upgrade_from_0020_reads_older_runs_as_not_yet_explained(db_url: str) -> None:
    def seed(conn: sa.Connection) -> int:
        project_id = add_project_row(conn)
        conn.execute(sa.text(
            "INSERT INTO runs (project_id, databricks_run_id, cluster_id, start_ms, end_ms, runtime_s, outcome, "
            "anomalies, phase, created_at_ms, message, setup_s, wait_s) VALUES "
            f"({project_id}, 900, 'c-1', 1000, 237000, 236.0, 'succeeded', '[\"spot_loss\"]', 'learning', 5, '', "
            "20.0, NULL)"))
        return project_id

    project_id = seeded_at(db_url, "0020", seed)
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        [run] = store.runs.history(project_id)
        assert (run.runtime_s, run.anomalies, run.not_learned) == (236.0, ("spot_loss",), "")
        store.runs.set_not_learned({int(run.id or 0): "spot_loss: runtime 236s is not this configuration's normal"})
        assert store.runs.get(int(run.id or 0)).not_learned.startswith("spot_loss")
    finally:
        store.close()
