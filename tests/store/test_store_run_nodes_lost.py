"""runs.nodes_lost / nodes_replaced (0030): how many nodes a run's cluster lost, and how many were
replaced, round-trip; runs stored before the revision read None (unknown), not 0 (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from server.domain import Project, Run
from server.store import Store, migrate, open_store
from tests.store.conftest import downgraded_to, seeded_at
from tests.store.old_schema import add_project_row


def test_nodes_lost_round_trips(store: Store) -> None:
    pid = int(store.projects.add(Project(workspace="prod", job_id=42, cluster_key="A")).id or 0)
    lossy = store.runs.add(Run(project_id=pid, databricks_run_id=1, runtime_s=900.0, anomalies=("spot_loss",),
                               nodes_lost=5, nodes_replaced=3))
    store.runs.add(Run(project_id=pid, databricks_run_id=2, runtime_s=560.0, nodes_lost=0, nodes_replaced=0))
    store.runs.add(Run(project_id=pid, databricks_run_id=3, runtime_s=560.0))
    assert [(r.nodes_lost, r.nodes_replaced) for r in store.runs.history(pid)] == [(5, 3), (0, 0), (None, None)]
    store.runs.update(dataclasses.replace(lossy, nodes_replaced=4))
    assert store.runs.get(int(lossy.id or 0)).nodes_replaced == 4


def test_upgrade_from_0029_reads_older_runs_as_unknown(db_url: str) -> None:
    def seed(conn: sa.Connection) -> int:
        project_id = add_project_row(conn)
        conn.execute(sa.text(
            "INSERT INTO runs (project_id, databricks_run_id, cluster_id, start_ms, end_ms, runtime_s, outcome, "
            "anomalies, phase, created_at_ms, message, setup_s, wait_s, not_learned, peak_workers, sla_s) VALUES "
            f"({project_id}, 900, 'c-1', 1000, 811000, 810.0, 'succeeded', '[\"spot_loss\"]', 'learning', 5, '', "
            "200.0, NULL, '', 8, NULL)"))
        return project_id

    project_id = seeded_at(db_url, "0029", seed)
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        [run] = store.runs.history(project_id)
        assert (run.anomalies, run.nodes_lost, run.nodes_replaced) == (("spot_loss",), None, None)
        store.runs.update(dataclasses.replace(run, nodes_lost=2, nodes_replaced=2))
        assert store.runs.get(int(run.id or 0)).nodes_lost == 2
    finally:
        store.close()
    engine = downgraded_to(db_url, "0029")
    try:
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
            assert not columns & {"nodes_lost", "nodes_replaced"}
            assert conn.execute(sa.text("SELECT peak_workers FROM runs")).scalar_one() == 8
    finally:
        engine.dispose()
