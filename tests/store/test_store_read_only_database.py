"""A PostgreSQL database that refuses writes (a standby after a failover, or set read-only) is
UNAVAILABLE to writers and fails the ingest health's write check, on PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from server.errors import Unavailable
from server.store import open_store


def test_a_read_only_database_is_unavailable_and_fails_the_write_check(migrated_postgres_url: str) -> None:
    # Review: the check was an empty transaction, which a read-only database accepts, so health went
    # back to SERVING while every insert failed; and the insert's error reached agents as INTERNAL.
    store = open_store(migrated_postgres_url)  # at head already: nothing to migrate first
    try:
        store.ingest.check_writable()  # writable: passes
        name = sa.engine.make_url(migrated_postgres_url).database
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        store.engine.dispose()  # new sessions take the setting
        with pytest.raises(Unavailable, match="read-only"):
            store.ingest.check_writable()
        with pytest.raises(Unavailable, match="read-only"):
            store.tokens.create("ops", "admin")
    finally:
        store.close()
