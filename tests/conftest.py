"""Fixtures every test folder may use.

PostgreSQL: `.ci/run` starts the server and exports ``TRIMTAB_TEST_POSTGRES_URL``.
In CI (``CI=true``) a missing database is a failure, never a silent skip; on a
developer's machine without PostgreSQL those tests are skipped with the reason.

Two kinds of fresh database, both per test:

- empty (``db_url``, ``postgres_schema_url``, ``sqlite_url``): nothing in it, for the tests of
  migrations, ``trimtab db upgrade``/``status`` and of what an empty database does;
- migrated (``migrated_db_url``, ``migrated_postgres_url``, ``migrated_sqlite_url``, and the
  stores ``any_store`` and ``sqlite_store``): a copy of a database `open_store` migrated once per
  session, for every test that opens a store on it anyway. Opening one finds it at head and
  migrates nothing; copying it is cheaper than migrating (PostgreSQL: CREATE DATABASE ... TEMPLATE;
  SQLite: a file copy).

A PostgreSQL database a test is done with is reset to a fresh one of its kind and handed to a later
test, or dropped when it cannot be (tests/pg_databases.py): a DROP DATABASE waits for a checkpoint.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg_databases import PostgresDatabases

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_collection_finish(session: pytest.Session) -> None:
    """When the session's tests use the real Spark applications (tests/agent/conftest.py
    `SPARK_RUNS`), starts running them now, on a thread, so they overlap the tests that come first."""
    agent_conftest = sys.modules.get("tests.agent.conftest")  # it defines those fixtures: none without it
    if agent_conftest is None or session.config.option.collectonly:
        return
    if hasattr(session.config, "workerinput"):
        # Under pytest-xdist every worker collects every test, but only the one handed the Spark
        # group (`pytest_collection_modifyitems`) uses them: starting them ahead on each worker would
        # run every application twice. There they start on first use, while the other worker goes on.
        return
    wanted: list[str] = []  # in the order the tests will first ask for them
    for item in session.items:
        wanted += [name for name in getattr(item, "fixturenames", ())
                   if name in agent_conftest.SPARK_RUNS and name not in wanted]
    if wanted:
        # The object the tmp_path_factory fixture hands out (no fixture can be asked for here).
        agent_conftest.run_spark_apps_ahead(session.config, session.config._tmp_path_factory, wanted)


# tryfirst: xdist's worker appends each test's group to its node id in its own hook of this name, the
# only place the scheduler reads it from; a group marked after that hook is silently ignored.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``, `.ci/run`), which tests share a worker: every test
    that uses the session's Spark process goes to one worker (two would each start a JVM, ~1 GiB and
    most of a core while it starts, and run the same applications twice), and every other test goes
    with the rest of its file, so a module's fixtures (the demo's two invocations, a module's server)
    are made once, not once per worker."""
    agent_conftest = sys.modules.get("tests.agent.conftest")
    spark_fixtures = set(agent_conftest.SPARK_RUNS) if agent_conftest is not None else set()
    for item in items:
        if item.get_closest_marker("spark") or spark_fixtures.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("spark"))
        else:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


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


@pytest.fixture(scope="session")
def postgres_databases(postgres_url: str) -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(postgres_url)
    try:
        yield databases
    finally:
        try:
            databases.close()
        except RuntimeError as exc:
            pytest.fail(str(exc))


def _one_database(databases: PostgresDatabases, *, migrated: bool) -> Iterator[str]:
    name = databases.create(migrated=migrated)
    try:
        yield databases.url(name)
    finally:
        databases.give_back(name)


@pytest.fixture
def postgres_schema_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """A fresh, EMPTY PostgreSQL database per test, dropped afterwards, so tests never share rows."""
    yield from _one_database(postgres_databases, migrated=False)


@pytest.fixture
def migrated_postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """A fresh PostgreSQL database per test already at the latest migration, dropped afterwards."""
    yield from _one_database(postgres_databases, migrated=True)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'trimtab.db'}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file `open_store` migrated once per session (closed: its WAL is checkpointed away)."""
    from server.store import open_store

    path = tmp_path_factory.mktemp("sqlite-template") / "trimtab.db"
    open_store(f"sqlite:///{path}").close()
    return path


def migrated_sqlite_file(template: Path, path: Path) -> str:
    """``path`` made a copy of the migrated ``template`` (owner-only, as open_store makes a new file);
    an existing file is left as it is. Its URL."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(template, path)
        path.chmod(0o600)
    return f"sqlite:///{path}"


@pytest.fixture
def migrated_sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """The file of ``sqlite_url``, already at the latest migration."""
    return migrated_sqlite_file(sqlite_template, tmp_path / "trimtab.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Runs a store test once on SQLite and once on PostgreSQL, each on an EMPTY database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trimtab.db'}"
    else:
        yield request.getfixturevalue("postgres_schema_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_db_url(request: pytest.FixtureRequest) -> str:
    """``db_url`` already at the latest migration: for tests that open a store on it anyway."""
    name = "migrated_sqlite_url" if request.param == "sqlite" else "migrated_postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def sqlite_store(migrated_sqlite_url: str):
    """An opened (migrated) store on a fresh SQLite file, closed afterwards."""
    from server.store import open_store

    opened = open_store(migrated_sqlite_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def any_store(migrated_db_url: str):
    """An opened store, once on SQLite and once on PostgreSQL."""
    from server.store import open_store

    opened = open_store(migrated_db_url)
    try:
        yield opened
    finally:
        opened.close()
