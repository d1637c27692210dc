"""Shared fixtures of the collection tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.domain import Workspace
from server.store import Store, open_store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A store (SQLite, then PostgreSQL) with one AWS workspace, ``w``, for projects to belong to."""
    opened = open_store(db_url)
    try:
        opened.workspaces.add(Workspace(name="w", host="http://x", cloud="aws"), "tok", "creds")
        yield opened
    finally:
        opened.close()
