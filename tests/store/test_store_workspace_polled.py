"""workspaces.polled_ok_at_ms (0026): the collector's last successful poll of a workspace, kept for a
restart (the metrics' poll age); migrated up from 0025 and down again on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import sqlalchemy as sa

from server.domain import Workspace
from server.store import Store, migrate, open_store
from server.store.counts import workspace_counts
from tests.store.conftest import downgraded_to, seeded_at


def test_a_poll_is_recorded_for_the_host_polled(store: Store) -> None:
    store.workspaces.add(Workspace(name="prod", host="https://p", cloud="aws"), "tok")
    assert workspace_counts(store)["prod"].polled_ok_at_ms is None  # never polled since it was added
    store.workspaces.record_polled("prod", 1_000, polled_host="https://p")
    assert workspace_counts(store)["prod"].polled_ok_at_ms == 1_000
    # A poll of the old host that ends after `workspace set --host` says nothing of the new one.
    store.workspaces.set_host("prod", "https://q", "tok2", "t…2")
    store.workspaces.record_polled("prod", 2_000, polled_host="https://p")
    assert workspace_counts(store)["prod"].polled_ok_at_ms == 1_000
    store.workspaces.record_polled("gone", 3_000, polled_host="https://p")  # removed mid-poll: nothing


def _insert_workspace(conn: sa.Connection) -> None:
    conn.execute(sa.text(
        "INSERT INTO workspaces (name, host, cloud, plan, region, token_encrypted, token_masked, status, "
        "last_error, created_at_ms, auto_import, client_id, bill_read_error) VALUES "
        "('prod', 'https://p', 'aws', 'premium', '', 'enc', 'dapi…1f2e', 'ok', '', 5, false, '', '')"))


def test_upgrade_from_0025_counts_older_workspaces_from_the_upgrade(db_url: str) -> None:
    seeded_at(db_url, "0025", _insert_workspace)
    before = int(time.time() * 1000)
    store = open_store(db_url)
    after = int(time.time() * 1000)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        polled = workspace_counts(store)["prod"].polled_ok_at_ms
        # Its last poll is not known: counted from the upgrade, as the server counted from its start.
        assert polled is not None and before <= polled <= after
    finally:
        store.close()
    engine = downgraded_to(db_url, "0025")
    try:
        assert "polled_ok_at_ms" not in {c["name"] for c in sa.inspect(engine).get_columns("workspaces")}
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name, created_at_ms FROM workspaces")).one() == ("prod", 5)
    finally:
        engine.dispose()
