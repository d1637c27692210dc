"""`trimtab token create --scope agent --workspace W` binds the token to W (security review, ninth
session); `token list` shows each token's workspace ("*": an agent token bound to none, which may
send data for any workspace's clusters). SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from server.domain import Workspace
from server.store import open_store
from tests.inprocess_cli import run_cli as _run


def test_token_create_binds_an_agent_token_to_a_workspace(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(db_url)
    try:
        store.workspaces.add(Workspace(name="prod", host="https://prod.example", cloud="aws"), token_encrypted="x")
    finally:
        store.close()

    code, out, err = _run(capsys, "token", "create", "--name", "agent-prod", "--scope", "agent",
                          "--workspace", "prod", "--db", db_url, "--json")
    assert code == 0, err
    bound = json.loads(out)
    assert bound["workspace"] == "prod" and bound["token"].startswith("tt_")
    code, out, err = _run(capsys, "token", "create", "--name", "loose", "--scope", "agent", "--db", db_url)
    assert code == 0 and "bound to no workspace, it may send data for any workspace's clusters" in err
    assert "--workspace W binds it" in err and out.strip().startswith("tt_")

    code, out, err = _run(capsys, "token", "create", "--name", "x", "--scope", "agent", "--workspace", "nope",
                          "--db", db_url)
    assert code == 1 and "workspace 'nope' not found" in err and out == ""
    code, out, err = _run(capsys, "token", "create", "--name", "ops", "--scope", "admin", "--workspace", "prod",
                          "--db", db_url)
    assert code == 2 and "--workspace" in err and "only an agent token" in err and out == ""

    code, out, _ = _run(capsys, "token", "list", "--db", db_url)
    assert code == 0
    header, _, *rows = out.strip().splitlines()  # the header, its underline, the rows
    assert header.split() == ["ID", "NAME", "SCOPE", "WORKSPACE", "STATE"]
    assert [r.split()[1:5] for r in rows] == [["agent-prod", "agent", "prod", "active"],
                                              ["loose", "agent", "*", "active"]]
    code, out, _ = _run(capsys, "token", "list", "--json", "--db", db_url)
    assert [t["workspace"] for t in json.loads(out)] == ["prod", None]
