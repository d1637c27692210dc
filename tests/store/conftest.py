from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.clock import FakeClock
from server.store import Store, open_store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(migrated_db_url: str, clock: FakeClock) -> Iterator[Store]:
    """A migrated store on SQLite, then on PostgreSQL."""
    s = open_store(migrated_db_url, clock=clock)
    yield s
    s.close()
