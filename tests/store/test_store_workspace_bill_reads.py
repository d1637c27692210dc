"""workspaces' bill-read outcome (0015): recorded against the credentials read with, forgotten with
them, and migrated up from 0014 and down again on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from server.domain import Workspace
from server.store import Store, migrate, open_store
from tests.store.conftest import downgraded_to, seeded_at

COLUMNS = {"bills_read_at_ms", "bill_read_failed_at_ms", "bill_read_error"}


def test_outcomes_are_recorded_for_the_credentials_read_with(store: Store) -> None:
    store.workspaces.add(Workspace(name="prod", host="https://p", cloud="aws"), "tok", "creds-1")
    fresh = store.workspaces.get("prod")
    assert (fresh.bills_read_at_ms, fresh.bill_read_failed_at_ms, fresh.bill_read_error) == (None, None, "")

    assert store.workspaces.record_bill_read("prod", "creds-1", failed_at_ms=100, error="AccessDenied")
    failed = store.workspaces.get("prod")
    assert (failed.bills_read_at_ms, failed.bill_read_failed_at_ms, failed.bill_read_error) == (None, 100, "AccessDenied")
    # A success ends the failure; a pass with both keeps the failure after the success.
    assert store.workspaces.record_bill_read("prod", "creds-1", ok_at_ms=200)
    ok = store.workspaces.get("prod")
    assert (ok.bills_read_at_ms, ok.bill_read_failed_at_ms, ok.bill_read_error) == (200, None, "")
    assert store.workspaces.record_bill_read("prod", "creds-1", ok_at_ms=300, failed_at_ms=300, error="throttled")
    both = store.workspaces.get("prod")
    assert (both.bills_read_at_ms, both.bill_read_failed_at_ms, both.bill_read_error) == (300, 300, "throttled")

    # A read with credentials replaced since is not recorded; new credentials have read nothing yet.
    store.workspaces.set_cloud_credentials("prod", "creds-2")
    assert not store.workspaces.record_bill_read("prod", "creds-1", ok_at_ms=400)
    new = store.workspaces.get("prod")
    assert (new.bills_read_at_ms, new.bill_read_failed_at_ms, new.bill_read_error) == (None, None, "")
    store.workspaces.record_bill_read("prod", "creds-2", ok_at_ms=500)
    store.workspaces.set_token("prod", "tok2", "t…2")  # a token alone keeps the credentials and their reads
    assert store.workspaces.get("prod").bills_read_at_ms == 500
    store.workspaces.set_token("prod", "tok3", "t…3", "creds-3")
    assert store.workspaces.get("prod").bills_read_at_ms is None


def _insert_workspace(conn: sa.Connection) -> None:
    conn.execute(sa.text(
        "INSERT INTO workspaces (name, host, cloud, plan, region, token_encrypted, token_masked, "
        "cloud_credentials_encrypted, status, last_error, created_at_ms, auto_import) VALUES "
        "('prod', 'https://p', 'aws', 'premium', '', 'enc', 'dapi…1f2e', 'creds', 'ok', '', 5, false)"))


def test_upgrade_from_0014_and_downgrade_keep_workspaces(db_url: str) -> None:
    seeded_at(db_url, "0014", _insert_workspace)
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        [old] = store.workspaces.list()
        assert (old.name, old.has_cloud_credentials, old.bills_read_at_ms, old.bill_read_error) == ("prod", True, None, "")
        assert store.workspaces.record_bill_read("prod", "creds", failed_at_ms=7, error="denied")
    finally:
        store.close()
    engine = downgraded_to(db_url, "0014")
    try:
        assert not COLUMNS & {c["name"] for c in sa.inspect(engine).get_columns("workspaces")}
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name, cloud_credentials_encrypted, auto_import FROM workspaces")
                                ).one() == ("prod", "creds", False)
    finally:
        engine.dispose()
