"""`WorkspaceRepository.polled_ok_at`: when a collector poll of a workspace last worked, as
`record_polled` wrote it (what `project show` dates a workspace's collection trouble from)."""

from __future__ import annotations

from server.domain import Workspace
from server.store import Store


def test_polled_ok_at_reads_what_record_polled_wrote(any_store: Store) -> None:
    any_store.workspaces.add(Workspace(name="sbx", host="http://127.0.0.1:9", cloud="aws"), "enc")
    assert any_store.workspaces.polled_ok_at("sbx") is None
    any_store.workspaces.record_polled("sbx", 1_765_000_000_123, polled_host="http://127.0.0.1:9")
    assert any_store.workspaces.polled_ok_at("sbx") == 1_765_000_000_123
    assert any_store.workspaces.polled_ok_at("nope") is None
