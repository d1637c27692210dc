"""The tests' PostgreSQL databases (tests/pg_databases.py): one given back is handed to a later test
only as a fresh one would be, and never where the earlier test's leftovers can reach it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from server.domain import Workspace
from server.store import open_store
from tests.pg_databases import PostgresDatabases

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def databases(postgres_url: str) -> Iterator[PostgresDatabases]:
    """A pool of this module's own, so that what it hands out follows from these tests alone."""
    made = PostgresDatabases(postgres_url)
    try:
        yield made
    finally:
        made.close()


def _exists(databases: PostgresDatabases, name: str) -> bool:
    with databases.admin.connect() as conn:
        return bool(conn.execute(sa.text("SELECT EXISTS (SELECT FROM pg_database WHERE datname = :n)"),
                                 {"n": name}).scalar())


def _add_workspace(url: str, name: str) -> int:
    store = open_store(url)
    try:
        store.tokens.create("cli", "admin")
        return int(store.workspaces.add(Workspace(name=name, host=f"https://{name}.example", cloud="aws",
                                                  plan="premium"), "enc").id or 0)
    finally:
        store.close()


def test_a_database_given_back_comes_back_without_the_rows_and_with_ids_from_the_start(
        databases: PostgresDatabases) -> None:
    first = databases.create(migrated=True)
    assert _add_workspace(databases.url(first), "a") == 1
    assert _add_workspace(databases.url(first), "b") == 2
    databases.give_back(first)
    databases.settle()
    again = databases.create(migrated=True)  # the last one reset: this one
    assert again != first and not _exists(databases, first)  # renamed: the old name leads nowhere
    store = open_store(databases.url(again))
    try:
        assert store.workspaces.list() == [] and store.tokens.list() == []
    finally:
        store.close()
    assert _add_workspace(databases.url(again), "c") == 1
    databases.give_back(again)


def test_a_session_the_test_left_open_ends_and_its_client_cannot_reach_the_next_tests_database(
        databases: PostgresDatabases) -> None:
    first = databases.create(migrated=True)
    left = sa.create_engine(databases.url(first))
    conn = left.connect()
    conn.execute(sa.text("SELECT pg_advisory_lock(42)"))
    databases.give_back(first)
    databases.settle()
    with pytest.raises(DBAPIError):
        conn.execute(sa.text("SELECT 1"))
    conn.invalidate()
    with pytest.raises(DBAPIError, match="does not exist"):
        left.connect()
    left.dispose()
    again = databases.create(migrated=True)
    engine = sa.create_engine(databases.url(again))
    with engine.connect() as fresh:
        assert fresh.execute(sa.text("SELECT pg_try_advisory_lock(42)")).scalar() is True
    engine.dispose()
    databases.give_back(again)


def _change(databases: PostgresDatabases, name: str, change: str) -> None:
    engine = sa.create_engine(databases.url(name))
    with engine.connect() as conn:
        index = conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'runs' "
                                     "AND indexname NOT LIKE '%pkey' ORDER BY 1 LIMIT 1")).scalar()
    change = change.format(index=f'"{index}"', name=f'"{name}"')
    if change.startswith("ALTER DATABASE"):  # not from inside it
        with databases.admin.connect() as conn:
            conn.execute(sa.text(change))
    else:
        with engine.begin() as conn:
            conn.execute(sa.text(change))
    engine.dispose()


@pytest.mark.parametrize(("change", "comes_back_migrated"), [
    ("ALTER DATABASE {name} SET default_transaction_read_only = on", True),  # its settings: reset
    ("ALTER DATABASE {name} ALLOW_CONNECTIONS false", True),
    ("DROP INDEX {index}", False),  # its schema: emptied
    ("UPDATE alembic_version SET version_num = '0019'", False),  # the rows a fresh one has: emptied
])
def test_a_database_its_test_changed_comes_back_as_a_fresh_one(
        databases: PostgresDatabases, change: str, comes_back_migrated: bool) -> None:
    name = databases.create(migrated=True)
    _change(databases, name, change)
    databases.give_back(name)
    databases.settle()
    again = databases.create(migrated=comes_back_migrated)  # the last one reset: this one
    engine = sa.create_engine(databases.url(again))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW default_transaction_read_only")).scalar() == "off"
        tables = conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar()
    engine.dispose()
    if comes_back_migrated:
        assert tables and _add_workspace(databases.url(again), "a") == 1
    else:
        assert tables == 0
    databases.give_back(again)


def test_a_database_with_more_than_its_public_schema_is_dropped_not_handed_on(databases: PostgresDatabases) -> None:
    name = databases.create(migrated=True)
    _change(databases, name, "CREATE SCHEMA mine")
    databases.settle()
    ready, dropped = {k: list(v) for k, v in databases._ready.items()}, databases.dropped
    databases.give_back(name)
    databases.settle()
    assert databases.dropped == dropped + 1 and databases._ready == ready


def test_an_empty_database_is_handed_on_as_empty_or_as_migrated_when_its_test_migrated_it(
        databases: PostgresDatabases) -> None:
    databases.template()  # what a migrated one is: known from the session's template

    def ready() -> tuple[int, int]:
        databases.settle()
        return len(databases._ready[False]), len(databases._ready[True])

    empty = databases.create(migrated=False)
    empties, migrated = ready()
    databases.give_back(empty)
    assert ready() == (empties + 1, migrated)
    again = databases.create(migrated=False)  # the one just given back
    engine = sa.create_engine(databases.url(again))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar() == 0
    engine.dispose()
    open_store(databases.url(again)).close()  # its test migrates it
    databases.give_back(again)
    assert ready() == (empties, migrated + 1)


def test_a_database_its_test_dropped_is_no_error(databases: PostgresDatabases) -> None:
    name = databases.create(migrated=True)
    with databases.admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}"'))
    databases.settle()
    ready = {k: list(v) for k, v in databases._ready.items()}
    databases.give_back(name)
    databases.settle()
    assert databases._errors == [] and databases._ready == ready


def _setting(databases: PostgresDatabases, name: str, setting: str) -> str:
    engine = sa.create_engine(databases.url(name))
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text(f"SHOW {setting}")).scalar())
    finally:
        engine.dispose()


@pytest.mark.parametrize("migrated", [False, True])
def test_every_database_handed_out_commits_without_waiting_for_the_disk(
        databases: PostgresDatabases, migrated: bool) -> None:
    """``synchronous_commit = off`` (`SETTINGS`): on a new database, and again on one handed on after its test
    reset every setting of the database's own."""
    name = databases.create(migrated=migrated)
    assert _setting(databases, name, "synchronous_commit") == "off"
    _change(databases, name, "ALTER DATABASE {name} RESET ALL")
    databases.give_back(name)
    databases.settle()
    again = databases.create(migrated=migrated)  # the last one reset: this one
    assert again != name and _setting(databases, again, "synchronous_commit") == "off"
    databases.give_back(again)
