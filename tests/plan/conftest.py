"""A real store with one AWS workspace ("ws", premium plan) for the planner's tests."""

from __future__ import annotations

import pytest

from server.domain import Workspace
from server.store import Store


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    sqlite_store.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws", plan="premium"), "enc")
    return sqlite_store
