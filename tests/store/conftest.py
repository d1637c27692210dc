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
