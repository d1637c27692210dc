from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
import sqlalchemy as sa
from alembic import command

from server.clock import FakeClock
from server.store import Store, migrate, open_store
from server.store.engine import make_engine

T = TypeVar("T")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(migrated_db_url: str, clock: FakeClock) -> Iterator[Store]:
    """A migrated store on SQLite, then on PostgreSQL."""
    s = open_store(migrated_db_url, clock=clock)
    yield s
    s.close()


def seeded_at(db_url: str, revision: str, seed: Callable[[sa.Connection], T]) -> T:
    """The database at ``db_url`` migrated to ``revision`` and ``seed`` run on it in one transaction,
    as a database an older Trimtab wrote (a migration's test then opens it at head)."""
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine, revision)
        with engine.begin() as conn:
            return seed(conn)
    finally:
        engine.dispose()


def downgraded_to(db_url: str, revision: str) -> sa.Engine:
    """The database at ``db_url`` downgraded to ``revision``: its engine, for the caller to read and dispose."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), revision)
    assert migrate.current_revision(engine) == revision
    return engine


def assert_upgrade_refused(db_url: str, capsys: pytest.CaptureFixture[str], expected: str, stays_at: str) -> None:
    """Opening the store and `trimtab db upgrade` both refuse with ``expected`` (the CLI in its one
    error line), and the schema stays at ``stays_at``: a migration that cannot go ahead changes nothing."""
    from server.cli.main import main

    with pytest.raises(RuntimeError) as err:
        open_store(db_url)
    assert str(err.value) == expected
    assert main(["db", "upgrade", "--db", db_url]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {expected}"
    engine = make_engine(db_url)
    try:
        assert migrate.current_revision(engine) == stays_at
    finally:
        engine.dispose()
