"""A host with a user name and password in it (``http://user:pw@host``) is refused by `workspace add`
and `workspace set --host`, naming --host and never echoing the password. Before, it was stored and
`workspace list` showed the password (review 9).

Real parts: the CLI against a real Trimtab server (gRPC on 127.0.0.1:0), the sandbox emulator, SQLite
and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.workspace import RunningWorkspace
from server.domain import Workspace
from server.errors import InvalidArgument
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store

Trimtab = Callable[..., tuple[int, str, str]]
PASSWORD = "s3cret-Pw"


def _with_userinfo(host: str, userinfo: str) -> str:
    scheme, rest = host.split("://", 1)
    return f"{scheme}://{userinfo}@{rest}"


@pytest.mark.parametrize("userinfo", [f"user:{PASSWORD}", "user", f":{PASSWORD}"])
def test_workspace_add_refuses_a_host_with_a_user_or_password(
        trimtab: Trimtab, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch, userinfo: str) -> None:
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    code, out, err = trimtab("workspace", "add", "sbx", "--host", _with_userinfo(emulator.host, userinfo),
                             "--token-env", "TT_DBX_TOKEN", "--cloud", "aws")
    assert code != 0 and "--host" in err and "must not carry a user name or password" in err, err
    assert PASSWORD not in out + err
    code, out, err = trimtab("workspace", "list")
    assert code == 0 and "sbx" not in out and PASSWORD not in out + err


def test_workspace_set_refuses_a_host_with_a_password(
        trimtab: Trimtab, connected: Workspace, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    code, out, err = trimtab("workspace", "set", "sbx", "--host", _with_userinfo(emulator.host, f"u:{PASSWORD}"),
                             "--token-env", "TT_DBX_TOKEN")
    assert code != 0 and "--host" in err and PASSWORD not in out + err, err


def test_a_non_http_host_with_a_password_is_not_echoed(store: Store, secrets: SecretBox) -> None:
    """The userinfo check comes before the messages that show the host."""
    with pytest.raises(InvalidArgument) as caught:
        workspaces.add_workspace(store, secrets, "sbx", f"ftp://u:{PASSWORD}@host:99999", "dapi-x", "aws")
    assert PASSWORD not in str(caught.value) and "--host" in str(caught.value)


def test_an_at_sign_after_the_host_is_no_userinfo() -> None:
    assert workspaces.check_host("https://h.example.com/path@x/") == "https://h.example.com/path@x"
