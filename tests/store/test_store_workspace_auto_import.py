"""workspaces.auto_import: stored, changed, and false for workspaces from before migration 0006."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from server.domain import Workspace
from server.errors import NotFound
from server.store import Store, migrate, open_store
from server.store.engine import make_engine


def test_auto_import_is_off_by_default_and_round_trips(store: Store) -> None:
    assert store.workspaces.add(Workspace(name="prod", host="https://p", cloud="aws"), "tok").auto_import is False
    on = store.workspaces.add(Workspace(name="dev", host="https://d", cloud="aws", auto_import=True), "tok")
    assert on.auto_import is True

    assert store.workspaces.set_auto_import("prod", True).auto_import is True
    assert store.workspaces.set_auto_import("dev", False).auto_import is False
    assert {w.name: w.auto_import for w in store.workspaces.list()} == {"dev": False, "prod": True}
    # Other writes to the row keep it.
    store.workspaces.set_status("prod", "unreachable", "down")
    store.workspaces.set_token("prod", "tok2", "t…2")
    assert store.workspaces.get("prod").auto_import is True
    with pytest.raises(NotFound, match="workspace 'nope' not found"):
        store.workspaces.set_auto_import("nope", True)


def test_upgrade_from_0005_keeps_workspaces_with_auto_import_off(db_url: str) -> None:
    """A workspace connected by an older server keeps being imported by hand only."""
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0005")
    assert "auto_import" not in {c["name"] for c in sa.inspect(engine).get_columns("workspaces")}
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO workspaces (name, host, cloud, plan, region, token_encrypted, token_masked, status, "
            "last_error, created_at_ms) VALUES "
            "('prod', 'https://p', 'aws', 'premium', '', 'enc', 'dapi…1f2e', 'ok', '', 5)"))
    engine.dispose()
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        [old] = store.workspaces.list()
        assert (old.name, old.token_masked, old.created_at_ms, old.auto_import) == ("prod", "dapi…1f2e", 5, False)
        assert store.workspaces.set_auto_import("prod", True).auto_import is True
    finally:
        store.close()
