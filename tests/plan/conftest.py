"""A real store with one AWS workspace ("ws", premium plan) for the planner's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.domain import Workspace
from server.store import Store, open_store


@pytest.fixture
def store(migrated_sqlite_url: str) -> Iterator[Store]:
    s = open_store(migrated_sqlite_url)
    s.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws", plan="premium"), "enc")
    yield s
    s.close()
