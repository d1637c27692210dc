"""workspaces.host in its normal form (0019): hosts an older Trimtab stored as typed
(``HTTP://LocalHost:38717/``) were shown so beside new ones in the normal form (review upgrade2 2);
migrated up from 0018 on SQLite and PostgreSQL, and down again keeping the normal form."""

from __future__ import annotations

import sqlalchemy as sa

from server.services.workspace_checks import normal_host
from server.store import migrate, open_store
from tests.store.conftest import downgraded_to, seeded_at

HOSTS = {"a": "HTTP://LocalHost:38717/", "b": "https://DBC-1.cloud.databricks.com.:443/",
         "c": "https://adb-1.2.azuredatabricks.net", "d": "not a url/"}


def _seed(conn: sa.Connection) -> None:
    for name, host in HOSTS.items():
        conn.execute(sa.text("INSERT INTO workspaces (name, host, cloud, plan, region, token_encrypted, token_masked, "
                             "status, last_error, created_at_ms, auto_import) VALUES "
                             "(:n, :h, 'aws', 'premium', '', 'enc', 'dapi…1', 'ok', '', 0, false)"),
                     {"n": name, "h": host})


def test_hosts_stored_as_typed_are_migrated_to_their_normal_form(db_url: str) -> None:
    seeded_at(db_url, "0018", _seed)
    store = open_store(db_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        hosts = {w.name: w.host for w in store.workspaces.list()}
        assert hosts == {"a": "http://localhost:38717", "b": "https://dbc-1.cloud.databricks.com",
                         "c": "https://adb-1.2.azuredatabricks.net", "d": "not a url"}
        assert all(hosts[n] == normal_host(h) for n, h in HOSTS.items())  # the server's form, to the letter
    finally:
        store.close()
    engine = downgraded_to(db_url, "0018")
    try:
        with engine.connect() as conn:
            assert dict(conn.execute(sa.text("SELECT name, host FROM workspaces")).all())["a"] == "http://localhost:38717"
    finally:
        engine.dispose()
