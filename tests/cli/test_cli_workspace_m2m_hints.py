"""`workspace show` of a workspace that authenticates as a service principal (OAuth M2M) says so, shows
its client id and its secret masked, and words its status hints for a client secret, not a token."""

from __future__ import annotations

import pytest

from protos.trimtab.v1 import admin_pb2
from server.cli.context import CliContext
from server.cli.workspace import _show


def _shown(ws: admin_pb2.Workspace, capsys: pytest.CaptureFixture[str]) -> str:
    _show(CliContext(server="127.0.0.1:1", token=None, as_json=False, debug=False), ws)
    return capsys.readouterr().out


def test_a_service_principals_workspace_is_shown_and_hinted_in_its_words(capsys: pytest.CaptureFixture[str]) -> None:
    ws = admin_pb2.Workspace(name="prod", host="https://h", cloud="aws", plan="premium", token_masked="dose…9a0b",
                             status="unreachable", last_error="cannot reach https://h", client_id="sp-1", watched=True)
    out = _shown(ws, capsys)
    assert "OAuth machine-to-machine (service principal)" in out and "client id:   sp-1" in out
    assert "secret:      dose…9a0b" in out
    assert "--host URL --client-id ID --client-secret-env VAR" in out and "--token-env" not in out
    ws.status, ws.last_error = "error", "the workspace's OAuth token endpoint refused service principal sp-1"
    out = _shown(ws, capsys)
    assert "collects by itself once it works" in out and "collects by itself once it is accepted" not in out


def test_a_pat_workspace_keeps_its_hints(capsys: pytest.CaptureFixture[str]) -> None:
    ws = admin_pb2.Workspace(name="prod", host="https://h", cloud="aws", token_masked="dapi…1f2e", status="error",
                             last_error="the workspace refused the token", watched=True)
    out = _shown(ws, capsys)
    assert "auth:        personal access token" in out and "token:       dapi…1f2e" in out
    assert "collects by itself once it is accepted" in out


def test_the_dashboard_words_a_service_principals_hint_as_the_cli_does() -> None:
    """The dashboard's workspace line told a service principal's workspace to replace a token."""
    from server.dashboard.pages import _workspace_words
    from server.dashboard.views import WorkspaceState
    from server.domain import Workspace

    ws = Workspace(name="prod", host="https://h", cloud="aws", status="error",
                   last_error="the workspace's OAuth token endpoint refused service principal sp-1", client_id="sp-1")
    words = _workspace_words(WorkspaceState(ws, watched=True))
    assert "collects by itself once it works" in words and "collects by itself once it is accepted" not in words
    pat = _workspace_words(WorkspaceState(Workspace(name="prod", host="https://h", cloud="aws",
                                                    status="error", last_error="refused"), watched=True))
    assert "collects by itself once it is accepted" in pat
