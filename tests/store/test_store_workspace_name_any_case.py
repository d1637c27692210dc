"""A workspace name a person types is resolved in any case, once, to the name as stored
(`stored_name`, `named`); the store's own lookups by a stored name (a project's workspace) stay exact,
so a project of a removed `sb` never finds a workspace `SB` added since. SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest

from server.domain import Project, Workspace
from server.errors import NotFound
from server.store import Store


def test_a_typed_name_finds_the_workspace_in_any_case_and_a_stored_one_only_itself(store: Store) -> None:
    store.workspaces.add(Workspace(name="sb", host="http://127.0.0.1:9", cloud="aws"), "enc")
    store.projects.add(Project(workspace="sb", job_id=1, cluster_key="main", job_name="nightly"))
    assert [store.workspaces.stored_name(n) for n in ("sb", "SB", "sB", "sbb", "")] == ["sb", "sb", "sb", None, None]
    assert store.workspaces.named("SB").name == "sb"
    assert store.projects.find("SB/1/main").name == "sb/1/main"
    with pytest.raises(NotFound, match="project 'SB/1/MAIN' not found"):  # the cluster key stays exact
        store.projects.find("SB/1/MAIN")
    token, _ = store.tokens.create("agent-sb", "agent", workspace="SB")
    assert token.workspace == "sb" and [t.workspace for t in store.tokens.list()] == ["sb"]
    with pytest.raises(NotFound, match="workspace 'SBB' not found"):
        store.tokens.create("agent-x", "agent", workspace="SBB")

    # sb removed (its project detached, kept), SB added since: the project's workspace is not SB.
    store.projects.update(dataclasses.replace(store.projects.find("sb/1/main"), detached=True))
    assert store.workspaces.remove("sb").attached == []
    store.workspaces.add(Workspace(name="SB", host="http://127.0.0.1:10", cloud="aws"), "enc")
    with pytest.raises(NotFound):
        store.workspaces.get("sb")
    assert store.projects.find("sb/1/main").workspace == "sb"
    assert store.workspaces.named("sb").name == "SB"  # a person typing sb now means the one connected
