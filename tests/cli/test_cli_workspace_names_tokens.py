"""`workspace add SB` beside `sb`, and `workspace remove` with agent tokens bound to the workspace
(reviewer's bad-input findings), through the CLI against a real server on 127.0.0.1:0: `SB` was added
as another workspace, and after `workspace remove SB` `token list` still showed its agent token active
(a workspace added again as SB took it over). Now the name is refused naming `sb`, and removal revokes
the bound tokens and says how many."""

from __future__ import annotations

import json

import pytest

from server.cli.main import main
from server.domain import Workspace
from server.store import Store
from tests.cli.conftest import Trimtab


def test_a_name_differing_only_by_case_is_refused(trimtab: Trimtab, cli_store: Store,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cli_store.workspaces.add(Workspace(name="sb", host="http://127.0.0.1:9", cloud="aws"), "x")
    monkeypatch.setenv("DBX_TOKEN", "dapi0123456789abcdef0123456789abcdef")
    code, out, err = trimtab("workspace", "add", "SB", "--host", "http://127.0.0.1:10", "--token-env", "DBX_TOKEN",
                             "--cloud", "aws")
    assert code == 1, (out, err)
    assert "workspace 'sb' exists already, and workspace names differ by more than case" in err
    assert [w.name for w in cli_store.workspaces.list()] == ["sb"]


def test_remove_revokes_the_workspaces_agent_tokens_and_says_so(trimtab: Trimtab, cli_store: Store,
                                                                migrated_sqlite_url: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    cli_store.workspaces.add(Workspace(name="SB", host="http://127.0.0.1:9", cloud="aws"), "x")
    cli_store.workspaces.add(Workspace(name="other", host="http://127.0.0.1:10", cloud="aws"), "x")
    bound, _ = cli_store.tokens.create("agent-SB", "agent", workspace="SB")
    kept, _ = cli_store.tokens.create("agent-other", "agent", workspace="other")

    code, out, err = trimtab("workspace", "remove", "SB")
    assert code == 0, err
    assert out.strip() == "removed workspace SB; revoked 1 agent token(s) bound to it"

    capsys.readouterr()
    assert main(["--json", "token", "list", "--db", migrated_sqlite_url]) == 0
    listed = {t["token_id"]: t["revoked"] for t in json.loads(capsys.readouterr().out)}
    assert listed[bound.token_id] is True and listed[kept.token_id] is False

    code, out, err = trimtab("--json", "workspace", "remove", "other")
    assert code == 0, err
    assert json.loads(out) == {"kept_projects": [], "revoked_agent_tokens": 1}
