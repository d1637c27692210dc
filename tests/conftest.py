"""Fixtures every test folder may use.

PostgreSQL: `.ci/run` starts the server and exports ``TRIMTAB_TEST_POSTGRES_URL``.
In CI (``CI=true``) a missing database is a failure, never a silent skip; on a
developer's machine without PostgreSQL those tests are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _require(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} not available on this machine")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of an empty-able PostgreSQL database for tests (see `.ci/run`)."""
    url = os.environ.get("TRIMTAB_TEST_POSTGRES_URL", "")
    if not url:
        _require("PostgreSQL (TRIMTAB_TEST_POSTGRES_URL)")
    return url


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database per test, dropped afterwards, so tests never share rows."""
    import sqlalchemy as sa

    name = f"tt_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(postgres_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'trimtab.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """Runs a store test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trimtab.db'}"
    else:
        yield request.getfixturevalue("postgres_schema_url")


@pytest.fixture
def sqlite_store(sqlite_url: str):
    """An opened (migrated) store on a fresh SQLite file, closed afterwards."""
    from server.store import open_store

    opened = open_store(sqlite_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def any_store(db_url: str):
    """An opened store, once on SQLite and once on PostgreSQL."""
    from server.store import open_store

    opened = open_store(db_url)
    try:
        yield opened
    finally:
        opened.close()
