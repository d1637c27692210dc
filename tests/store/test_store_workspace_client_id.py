"""workspaces.client_id (0018): the service principal a workspace authenticates as (OAuth M2M), its
client secret kept where a PAT is; migrated up from 0017 (every workspace a PAT) and down again on
SQLite and PostgreSQL, the downgrade refused while a workspace would lose its way in."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from server.domain import Workspace
from server.store import Store, migrate, open_store
from tests.store.conftest import downgraded_to, seeded_at
from tests.store.test_store_workspace_bill_reads import _insert_workspace


def test_client_id_is_kept_with_the_secret_and_replaced_with_it(store: Store) -> None:
    store.workspaces.add(Workspace(name="prod", host="https://p", cloud="aws", client_id="sp-1"), "enc-secret")
    assert store.workspaces.get("prod").auth == "oauth-m2m"
    assert store.workspaces.secrets("prod").client_id == "sp-1"
    store.workspaces.set_token("prod", "enc-2", "d…2")  # client_id None: as stored
    assert store.workspaces.secrets("prod").client_id == "sp-1"
    store.workspaces.set_token("prod", "enc-pat", "dapi…1", client_id="")
    assert (store.workspaces.get("prod").auth, store.workspaces.secrets("prod").client_id) == ("pat", "")
    store.workspaces.set_host("prod", "https://q", "enc-3", "d…3", client_id="sp-2")
    assert store.workspaces.get("prod").client_id == "sp-2"


def test_upgrade_from_0017_and_downgrade(db_url: str) -> None:
    seeded_at(db_url, "0017", _insert_workspace)
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        [old] = store.workspaces.list()
        assert (old.name, old.client_id, old.auth, old.token_masked) == ("prod", "", "pat", "dapi…1f2e")
        store.workspaces.set_token("prod", "enc-secret", "dose…9a0b", client_id="sp-1")
    finally:
        store.close()
    # A workspace that authenticates as a service principal: an older Trimtab would send its secret as
    # a PAT, so the downgrade refuses and says what to do.
    with pytest.raises(RuntimeError, match="authenticate as a service principal"):
        downgraded_to(db_url, "0017")
    store = open_store(db_url)
    try:
        assert store.workspaces.get("prod").client_id == "sp-1"  # nothing changed
        store.workspaces.set_token("prod", "enc-pat", "dapi…2", client_id="")
    finally:
        store.close()
    engine = downgraded_to(db_url, "0017")
    try:
        assert "client_id" not in {c["name"] for c in sa.inspect(engine).get_columns("workspaces")}
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name, token_encrypted FROM workspaces")).one() == ("prod", "enc-pat")
    finally:
        engine.dispose()
