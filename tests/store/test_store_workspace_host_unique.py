"""One host is one workspace by the database (0028), not only by `refuse_host_taken`'s check: two
`workspace add` calls at once with one host and two names both passed it (review grpcapi), and the
second name's import took the first's agents. An upgrade over a database that already holds one host
under two names (in any spelling) stops naming them, with their attached projects, and changes
nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from server.domain import Workspace
from server.errors import AlreadyExists
from server.store import Store, migrate, open_store
from server.store.engine import make_engine
from server.store.tables import WorkspaceRow
from tests.store.conftest import assert_upgrade_refused, downgraded_to, seeded_at

T = WorkspaceRow.__table__  # type: ignore[attr-defined]


def _insert(conn: sa.Connection, name: str, host: str) -> None:
    """A workspace row in the columns every schema since 0018 has (as an older Trimtab wrote it)."""
    conn.execute(sa.text(
        "INSERT INTO workspaces (name, host, cloud, plan, region, token_encrypted, token_masked, status, "
        "last_error, created_at_ms) VALUES (:name, :host, 'aws', 'premium', '', 'enc', '', 'ok', '', 5)"),
        {"name": name, "host": host})


def _project(conn: sa.Connection, workspace: str, job_id: int, *, detached: bool = False) -> None:
    conn.execute(sa.text(
        "INSERT INTO projects (workspace, job_id, cluster_key, job_name, phase, orphaned, detached, settings, "
        "original_spec, current_spec, project_state, created_at_ms) VALUES (:w, :j, 'main', 'job', 'learning', :f, :d, "
        "'{}', '{}', '{}', '{}', 5)"), {"w": workspace, "j": job_id, "f": False, "d": detached})


def test_the_database_refuses_a_second_workspace_at_a_host(store: Store) -> None:
    store.workspaces.add(Workspace(name="wa", host="https://dbc-1.cloud.databricks.com", cloud="aws"), "enc")
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        _insert(conn, "wb", "https://dbc-1.cloud.databricks.com")
    # What the store's own insert says: ALREADY_EXISTS (the service names the host and the other name).
    with pytest.raises(AlreadyExists):
        store.workspaces.add(Workspace(name="wb", host="https://dbc-1.cloud.databricks.com", cloud="aws"), "enc")
    store.workspaces.add(Workspace(name="wc", host="https://dbc-2.cloud.databricks.com", cloud="aws"), "enc")
    with pytest.raises(AlreadyExists):
        store.workspaces.set_host("wc", "https://dbc-1.cloud.databricks.com", "enc", "")
    assert [(w.name, w.host) for w in store.workspaces.list()] == [
        ("wa", "https://dbc-1.cloud.databricks.com"), ("wc", "https://dbc-2.cloud.databricks.com")]


def test_upgrade_from_0027_with_one_host_under_two_names_stops_naming_them(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    def seed(conn: sa.Connection) -> None:
        _insert(conn, "wa", "http://127.0.0.1:8080")
        _insert(conn, "wb", "HTTP://127.0.0.1:8080/")  # another spelling of the same host
        _insert(conn, "prod", "https://dbc-1.cloud.databricks.com")
        _insert(conn, "dev", "https://dbc-2.cloud.databricks.com")
        _insert(conn, "prod-2", "https://dbc-1.cloud.databricks.com")
        _project(conn, "wa", 7)
        _project(conn, "wb", 8)
        _project(conn, "wb", 9)
        _project(conn, "prod-2", 1, detached=True)

    seeded_at(db_url, "0027", seed)
    expected = ("cannot make workspace hosts unique: these workspaces are one Databricks workspace (one host): "
                "http://127.0.0.1:8080: 'wa' (id 1, 1 attached project(s)) and 'wb' (id 2, 2 attached project(s)); "
                "https://dbc-1.cloud.databricks.com: 'prod' (id 3, 0 attached project(s)) and 'prod-2' (id 5, 0 "
                "attached project(s)). Nothing was changed (the schema stays at its revision): keep one name for "
                "each host (the one whose import last wrote the agents' token secret), and with the Trimtab version "
                "that made them `trimtab project detach` the others' projects (their runs stay) and `trimtab "
                "workspace remove NAME`, then upgrade again")
    assert_upgrade_refused(db_url, capsys, expected, stays_at="0027")
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, name, host FROM workspaces ORDER BY id")).all()
            projects = conn.execute(sa.text("SELECT COUNT(*) FROM projects")).scalar()
        assert [tuple(r) for r in rows] == [
            (1, "wa", "http://127.0.0.1:8080"), (2, "wb", "HTTP://127.0.0.1:8080/"),
            (3, "prod", "https://dbc-1.cloud.databricks.com"), (4, "dev", "https://dbc-2.cloud.databricks.com"),
            (5, "prod-2", "https://dbc-1.cloud.databricks.com")]
        assert projects == 4
    finally:
        engine.dispose()


def test_upgrade_from_0027_without_shared_hosts_adds_the_index_and_downgrade_drops_it(db_url: str) -> None:
    def seed(conn: sa.Connection) -> None:
        _insert(conn, "wa", "http://127.0.0.1:8080")
        _insert(conn, "wb", "HTTPS://DBC-1.cloud.databricks.com:443/")  # stored by hand: written in the normal form

    seeded_at(db_url, "0027", seed)
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        assert [(w.name, w.host) for w in store.workspaces.list()] == [
            ("wa", "http://127.0.0.1:8080"), ("wb", "https://dbc-1.cloud.databricks.com")]
        with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
            _insert(conn, "wc", "http://127.0.0.1:8080")
    finally:
        store.close()
    engine = downgraded_to(db_url, "0027")
    try:
        with engine.begin() as conn:
            _insert(conn, "wc", "http://127.0.0.1:8080")  # an older Trimtab's schema: only its check refused it
            assert conn.execute(sa.text("SELECT COUNT(*) FROM workspaces")).scalar() == 3
    finally:
        engine.dispose()
