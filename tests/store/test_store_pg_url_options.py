"""libpq parameters a user writes in a PostgreSQL URL are kept beside Trimtab's own.

Review: `make_engine` passed its own ``options`` (lock and idle timeouts) and ``connect_timeout``,
which replaced the URL's: ``?options=-csearch_path=trimtab`` was dropped without a word and every
table went to ``public``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from server.store import migrate, open_store
from server.store.engine import lock_engine, make_engine
from server.store.tables import metadata


@pytest.fixture
def schema_url(postgres_schema_url: str) -> Iterator[str]:
    """An empty database with a schema ``trimtab``, and its URL putting Trimtab in that schema."""
    admin = sa.create_engine(postgres_schema_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE SCHEMA trimtab"))
    finally:
        admin.dispose()
    url = sa.engine.make_url(postgres_schema_url).update_query_dict(
        {"options": "-c search_path=trimtab", "connect_timeout": "7"})
    yield url.render_as_string(hide_password=False)


def _tables_by_schema(url: str) -> dict[str, int]:
    admin = sa.create_engine(sa.engine.make_url(url).difference_update_query(["options", "connect_timeout"]))
    try:
        with admin.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT table_schema, count(*) FROM information_schema.tables "
                "WHERE table_schema IN ('public', 'trimtab') GROUP BY table_schema")).all()
    finally:
        admin.dispose()
    return {schema: count for schema, count in rows}


def test_a_search_path_in_the_url_puts_the_tables_and_migrations_in_that_schema(schema_url: str) -> None:
    store = open_store(schema_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        assert migrate.status(store.engine).state == "up to date"
        # The store reads its tables there.
        assert store.projects.list() == []
    finally:
        store.close()
    # Every table (and alembic_version) in the URL's schema, none in public.
    assert _tables_by_schema(schema_url) == {"trimtab": len(metadata.tables) + 1}
    # Opened again it finds the schema at head (no second migration into public).
    store = open_store(schema_url, upgrade=False)
    store.close()
    assert _tables_by_schema(schema_url) == {"trimtab": len(metadata.tables) + 1}


def test_the_users_options_and_connect_timeout_are_kept_with_trimtabs_own(schema_url: str) -> None:
    engine = make_engine(schema_url, busy_timeout_ms=4000, timeout_s=60.0)
    try:
        # The pool's connections and the advisory locks' own ones alike.
        for source in (engine, lock_engine(engine)):
            with source.connect() as conn:
                shown = [conn.execute(sa.text(f"SHOW {name}")).scalar_one()
                         for name in ("search_path", "lock_timeout", "idle_in_transaction_session_timeout")]
                params = conn.connection.dbapi_connection.info.get_parameters()
            assert shown == ["trimtab", "4s", "1min"]
            assert params["connect_timeout"] == "7"
    finally:
        engine.dispose()


def test_a_setting_the_user_names_wins_over_trimtabs_default(schema_url: str) -> None:
    url = sa.engine.make_url(schema_url).update_query_dict({"options": "-c lock_timeout=1234"})
    engine = make_engine(url.render_as_string(hide_password=False), busy_timeout_ms=4000)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW lock_timeout")).scalar_one() == "1234ms"
    finally:
        engine.dispose()


def test_pgoptions_is_kept_when_the_url_has_no_options(postgres_schema_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # libpq reads PGOPTIONS only when no `options` is passed, and Trimtab always passes one.
    monkeypatch.setenv("PGOPTIONS", "-c application_name=from_pgoptions")
    engine = make_engine(postgres_schema_url)
    try:
        with engine.connect() as conn:
            shown = [conn.execute(sa.text(f"SHOW {name}")).scalar_one()
                     for name in ("application_name", "lock_timeout")]
        assert shown == ["from_pgoptions", "5s"]
    finally:
        engine.dispose()
