"""Migrations and table classes agree, on both engines; the server refuses an old schema."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from server.domain import Run
from server.errors import FailedPrecondition
from server.store import migrate, open_store
from server.store.engine import make_engine
from server.store.tables import metadata
from tests.store.old_schema import add_project_row


def _literal(default: str | None) -> str | None:
    """A column default without the parentheses and quotes SQLite reflects it with (``('')`` for a
    migration's ``server_default=""``); alembic renders a table class's string default unquoted."""
    if default is None:
        return None
    return re.sub(r"^'(.*)'$", r"\1", re.sub(r"^\((.*)\)$", r"\1", default))


def _sqlite_default_differs(_context: MigrationContext, _inspected_column: sa.Column[Any],
                            _metadata_column: sa.Column[Any], inspected_default: str | None,
                            _metadata_default: Any, rendered_metadata_default: str | None) -> bool:
    # Alembic's own SQLite comparison strips quotes only around a non-empty literal, so every
    # server_default="" column read as changed ("''" against ""): quoting, not a difference. A default
    # that differs still does ('MUTATED' against "('')", a true() against '0').
    return _literal(inspected_default) != _literal(rendered_metadata_default)


def test_migrations_match_table_classes(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with store.engine.connect() as conn:
            # Server defaults too: they are what rows written by an older server, or added by a
            # migration to a table with rows, hold.
            compare_default = _sqlite_default_differs if conn.dialect.name == "sqlite" else True
            ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "compare_server_default": compare_default})
            diff = compare_metadata(ctx, metadata)
        assert diff == []
        assert migrate.current_revision(store.engine) == migrate.head_revision()
    finally:
        store.close()


def test_upgrade_from_0001_keeps_projects_and_adds_no_schedule(db_url: str) -> None:
    """A database made by an older server: its projects come through with no schedule."""
    import sqlalchemy as sa

    engine = make_engine(db_url)
    migrate.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO projects (workspace, job_id, cluster_key, job_name, phase, settings, original_spec, "
            "current_spec, orphaned, detached, project_state, created_at_ms) VALUES "
            "('prod', 42, 'main', 'nightly', 'learning', '{}', '{}', '{}', false, false, '{}', 5)"))
    engine.dispose()
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision() != "0001"
        [project] = store.projects.list()
        assert (project.name, project.job_name, project.schedule) == ("prod/42/main", "nightly", None)
    finally:
        store.close()


def test_upgrade_from_0002_keeps_stages_as_storage_reads(db_url: str) -> None:
    """Stages stored by an older server come through as not read from a cached RDD."""
    import sqlalchemy as sa

    engine = make_engine(db_url)
    migrate.upgrade(engine, "0002")
    metric_cols = [c.name for c in metadata.tables["stages"].columns
                   if c.name not in ("application_id", "stage_id", "attempt_id", "name", "parent_ids",
                                     "failure_reason", "input_from_cache")]
    with engine.begin() as conn:
        conn.execute(sa.text(
            f"INSERT INTO stages (application_id, stage_id, attempt_id, name, parent_ids, failure_reason, "
            f"{', '.join(metric_cols)}) VALUES ('app', 1, 0, 'scan', '[]', '', {', '.join('0' * len(metric_cols))})"))
    engine.dispose()
    store = open_store(db_url)
    try:
        [stage] = store.applications.stages("app")
        assert (stage.name, stage.input_from_cache) == ("scan", False)
    finally:
        store.close()


def test_upgrade_from_0004_adds_run_setup_unknown_for_stored_runs(db_url: str) -> None:
    """Runs stored by an older server come through with their cluster setup unknown, not zero."""
    import sqlalchemy as sa

    engine = make_engine(db_url)
    migrate.upgrade(engine, "0004")
    assert "setup_s" not in {c["name"] for c in sa.inspect(engine).get_columns("runs")}
    with engine.begin() as conn:
        project_id = add_project_row(conn)
        conn.execute(sa.text(
            "INSERT INTO runs (project_id, databricks_run_id, cluster_id, start_ms, end_ms, runtime_s, outcome, "
            "anomalies, phase, created_at_ms) VALUES "
            f"({project_id}, 900, 'c-1', 1000, 371000, 370.0, 'succeeded', '[]', 'learning', 5)"))
    engine.dispose()
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        [old] = store.runs.history(project_id)
        assert (old.databricks_run_id, old.runtime_s, old.setup_s) == (900, 370.0, None)
        new = store.runs.add(Run(project_id=project_id, databricks_run_id=901, runtime_s=300.0, setup_s=200.0))
        assert store.runs.get(int(new.id or 0)).setup_s == 200.0
    finally:
        store.close()


def test_upgrade_twice_is_harmless(db_url: str) -> None:
    open_store(db_url).close()
    store = open_store(db_url)
    assert migrate.current_revision(store.engine) == migrate.head_revision()
    store.close()


def test_unmigrated_database_is_refused_with_the_command_to_run(db_url: str) -> None:
    with pytest.raises(FailedPrecondition, match="trimtab db upgrade"):
        open_store(db_url, upgrade=False)
    engine = make_engine(db_url)
    assert migrate.current_revision(engine) is None  # refusing did not half-migrate
    engine.dispose()
    open_store(db_url).close()
    open_store(db_url, upgrade=False).close()


def test_concurrent_upgrades_do_not_collide(db_url: str) -> None:
    import threading

    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def open_one() -> None:
        start.wait()
        try:
            open_store(db_url).close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    engine = make_engine(db_url)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()
