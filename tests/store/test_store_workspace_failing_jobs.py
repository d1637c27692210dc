"""workspaces.failing_jobs (0017): the collector's failing jobs kept across a restart (written whole,
read back as they were, none stored as NULL), migrated up from 0016 and down again on SQLite and
PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from server.domain import FailingJob, Workspace
from server.store import Store, migrate, open_store
from tests.store.conftest import downgraded_to, seeded_at
from tests.store.test_store_workspace_bill_reads import _insert_workspace


def test_failing_jobs_are_kept_whole(store: Store) -> None:
    store.workspaces.add(Workspace(name="prod", host="https://p", cloud="aws"), "tok")
    assert store.workspaces.failing_jobs("prod") == {}
    jobs = {12: FailingJob(12, 3, 1_000, 9_000, "GET /api/2.2/jobs/get: 500\n(injected)", "etl \u202e"),
            7: FailingJob(7, 1, 2_000, 3_000, "boom")}
    store.workspaces.set_failing_jobs("prod", jobs)
    assert store.workspaces.failing_jobs("prod") == jobs
    store.workspaces.set_failing_jobs("prod", {7: jobs[7]})
    assert store.workspaces.failing_jobs("prod") == {7: jobs[7]}
    store.workspaces.set_failing_jobs("prod", {})
    assert store.workspaces.failing_jobs("prod") == {}
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT failing_jobs FROM workspaces")).scalar() is None
    # A workspace removed meanwhile: nothing read, nothing written.
    store.workspaces.set_failing_jobs("gone", jobs)
    assert store.workspaces.failing_jobs("gone") == {}


def test_upgrade_from_0016_and_downgrade_keep_workspaces(db_url: str) -> None:
    seeded_at(db_url, "0016", _insert_workspace)
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        assert store.workspaces.failing_jobs("prod") == {}
        store.workspaces.set_failing_jobs("prod", {5: FailingJob(5, 2, 1, 2, "500")})
    finally:
        store.close()
    engine = downgraded_to(db_url, "0016")
    try:
        assert "failing_jobs" not in {c["name"] for c in sa.inspect(engine).get_columns("workspaces")}
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name, cloud_credentials_encrypted FROM workspaces")).one() == ("prod", "creds")
    finally:
        engine.dispose()
