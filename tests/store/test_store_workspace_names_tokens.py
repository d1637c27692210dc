"""Workspace names and the agent tokens bound to them (reviewer's bad-input findings): `SB` was added
beside `sb` as another workspace, and `workspace remove` left the agent tokens bound to the removed
workspace live, for a workspace added again under the name to take over. Names are now unique whatever
their case, removal revokes the bound tokens in its own transaction, and migration 0020 revokes those an
older Trimtab left live. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from server.domain import Project, Workspace
from server.errors import AlreadyExists, NotFound
from server.store import Store, migrate, open_store
from server.store.engine import make_engine
from tests.store.conftest import downgraded_to, seeded_at


def _workspace(name: str, host: str = "https://a.example") -> Workspace:
    return Workspace(name=name, host=host, cloud="aws")


def test_a_name_differing_only_by_case_is_refused_naming_the_existing_one(store: Store) -> None:
    store.workspaces.add(_workspace("sb"), "enc")
    for name in ("SB", "Sb", "sB"):
        with pytest.raises(AlreadyExists, match=r"workspace 'sb' already exists, and workspace names differ by more "
                                                 r"than case: '" + name + "'"):
            store.workspaces.add(_workspace(name, "https://b.example"), "enc")
    with pytest.raises(AlreadyExists, match=r"^workspace 'sb' already exists$"):
        store.workspaces.add(_workspace("sb"), "enc")
    assert [w.name for w in store.workspaces.list()] == ["sb"]
    store.workspaces.add(_workspace("sb2", "https://b.example"), "enc")  # another name is another name


def test_remove_revokes_the_agent_tokens_bound_to_the_workspace_only(store: Store) -> None:
    store.workspaces.add(_workspace("SB"), "enc")
    store.workspaces.add(_workspace("sbx", "https://b.example"), "enc")
    bound, _ = store.tokens.create("agent-SB", "agent", workspace="SB")
    other, _ = store.tokens.create("agent-sbx", "agent", workspace="sbx")
    unbound, _ = store.tokens.create("any", "agent")
    admin, _ = store.tokens.create("me", "admin")
    already, _ = store.tokens.create("old", "agent", workspace="SB")
    store.tokens.revoke(already.token_id)

    removal = store.workspaces.remove("SB")
    assert removal.attached == [] and removal.tokens_revoked == 1  # the live one; the revoked stays so
    revoked = {t.token_id: t.revoked for t in store.tokens.list()}
    assert revoked == {bound.token_id: True, other.token_id: False, unbound.token_id: False,
                       admin.token_id: False, already.token_id: True}
    assert bound.token_id in store.tokens.revoked_ids()

    # Added again under the name, the workspace inherits no live token.
    store.workspaces.add(_workspace("SB"), "enc")
    assert not [t for t in store.tokens.list() if t.workspace == "SB" and not t.revoked]
    with pytest.raises(NotFound):
        store.workspaces.remove("nope")


def test_a_refused_remove_revokes_nothing(store: Store) -> None:
    store.workspaces.add(_workspace("sb"), "enc")
    token, _ = store.tokens.create("agent-sb", "agent", workspace="sb")
    store.projects.add(Project(workspace="sb", job_id=3, cluster_key="main", job_name="nightly"))
    removal = store.workspaces.remove("sb")
    assert removal.attached == ["sb/3/main"] and removal.tokens_revoked == 0
    assert [t.revoked for t in store.tokens.list() if t.token_id == token.token_id] == [False]
    assert store.workspaces.get("sb").name == "sb"


def _older_trimtab(conn: sa.Connection) -> None:
    # 0019: names differing by case both stored, and SB's token left live by a removal before 0020.
    for name in ("sb", "SBX"):
        conn.execute(sa.text("INSERT INTO workspaces (name, host, cloud, plan, region, token_encrypted, token_masked, "
                             "status, last_error, created_at_ms, auto_import) VALUES "
                             "(:n, :h, 'aws', 'premium', '', 'enc', 'dapi…1', 'ok', '', 0, false)"),
                     {"n": name, "h": f"https://{name.lower()}.example"})
    conn.execute(sa.text("INSERT INTO workspaces (name, host, cloud, plan, region, token_encrypted, token_masked, "
                         "status, last_error, created_at_ms, auto_import) VALUES "
                         "('sbx', 'https://other.example', 'aws', 'premium', '', 'enc', 'dapi…1', 'ok', '', 0, false)"))
    for token_id, name, scope, workspace, revoked in (
            ("a1", "agent-SB", "agent", "SB", False), ("a2", "agent-sb", "agent", "sb", False),
            ("a3", "any", "agent", None, False), ("a4", "me", "admin", None, False),
            ("a5", "agent-gone", "agent", "gone", True)):
        conn.execute(sa.text("INSERT INTO api_tokens (token_id, name, scope, secret_sha256, created_at_ms, last_used_ms, "
                             "revoked, workspace) VALUES (:i, :n, :s, 'x', 0, 0, :r, :w)"),
                     {"i": token_id, "n": name, "s": scope, "r": revoked, "w": workspace})


def test_migration_0020_revokes_live_tokens_bound_to_a_removed_workspace(db_url: str) -> None:
    seeded_at(db_url, "0019", _older_trimtab)
    # Up to 0022 only: 0023 refuses the two names differing by case that this older database holds
    # (tests/store/test_store_workspace_name_case_unique.py), as the last lines show.
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine, "0022")
        with engine.connect() as conn:
            tokens = conn.execute(sa.text("SELECT token_id, revoked FROM api_tokens")).all()
            names = conn.execute(sa.text("SELECT name FROM workspaces")).scalars().all()
    finally:
        engine.dispose()
    assert {token_id: bool(revoked) for token_id, revoked in tokens} == {
        "a1": True, "a2": False, "a3": False, "a4": False, "a5": True}
    assert sorted(names) == ["SBX", "sb", "sbx"]
    with pytest.raises(RuntimeError, match=r"differ only by case: 'SBX' \(id 2\) and 'sbx' \(id 3\)\. "):
        open_store(db_url)
    engine = downgraded_to(db_url, "0019")
    engine.dispose()
