"""runs.sla_s (0027): the SLA a run was collected under round-trips; the runs stored before the revision
take the SLA their project had at the upgrade, and a project without one leaves them NULL (SQLite and
PostgreSQL)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from server.domain import Project, ProjectSettings, Run
from server.store import Store, migrate, open_store
from tests.store.conftest import downgraded_to, seeded_at


def test_the_sla_a_run_was_collected_under_round_trips(store: Store) -> None:
    pid = int(store.projects.add(Project(workspace="prod", job_id=42, cluster_key="A",
                                         settings=ProjectSettings(sla_seconds=600.0))).id or 0)
    first = store.runs.add(Run(project_id=pid, databricks_run_id=1, runtime_s=500.0, sla_s=600.0))
    store.runs.add(Run(project_id=pid, databricks_run_id=2, runtime_s=500.0))
    assert [r.sla_s for r in store.runs.history(pid)] == [600.0, None]
    assert store.runs.update(dataclasses.replace(first, sla_s=450.0)).sla_s == 450.0


def test_upgrade_from_0026_gives_older_runs_their_projects_sla(db_url: str) -> None:
    def seed(conn: sa.Connection) -> tuple[int, int]:
        ids = []
        for job, settings in ((42, '{"sla_seconds": 600.0}'), (43, '{}')):
            conn.execute(sa.text(
                "INSERT INTO projects (workspace, job_id, cluster_key, job_name, phase, settings, original_spec, "
                "current_spec, orphaned, detached, project_state, created_at_ms) VALUES "
                f"('prod', {job}, 'main', 'nightly', 'learning', '{settings}', '{{}}', '{{}}', false, false, '{{}}', 5)"))
            pid = int(conn.execute(sa.text(f"SELECT id FROM projects WHERE job_id = {job}")).scalar_one())
            conn.execute(sa.text(
                "INSERT INTO runs (project_id, databricks_run_id, cluster_id, start_ms, end_ms, runtime_s, outcome, "
                "anomalies, phase, created_at_ms, message, setup_s, wait_s, not_learned) VALUES "
                f"({pid}, 900, 'c-1', 1000, 501000, 500.0, 'succeeded', '[]', 'learning', 5, '', 200.0, NULL, '')"))
            ids.append(pid)
        return ids[0], ids[1]

    with_sla, without = seeded_at(db_url, "0026", seed)
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        assert [r.sla_s for r in store.runs.history(with_sla)] == [600.0]
        assert [r.sla_s for r in store.runs.history(without)] == [None]
    finally:
        store.close()
    engine = downgraded_to(db_url, "0026")
    try:
        with engine.connect() as conn:
            assert "sla_s" not in {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    finally:
        engine.dispose()
