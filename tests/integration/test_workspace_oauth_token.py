"""`workspace add` and `workspace set --host` given an OAuth access token (a JWT) refuse it before
anything is stored or any workspace is reached: stored, it expired within about an hour and every
poll, import and apply then failed as with a revoked token (review creds, item 3).

Real parts: a real Trimtab server (gRPC on 127.0.0.1:0) driven through the CLI, the sandbox emulator,
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.workspace import RunningWorkspace
from server.store import Store
from tests.server.test_oauth_token_refused import ACCESS_TOKEN

Trimtab = Callable[..., tuple[int, str, str]]


def test_an_oauth_access_token_is_refused_by_add_and_set(trimtab: Trimtab, store: Store, emulator: RunningWorkspace,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TT_OAUTH", ACCESS_TOKEN)
    monkeypatch.setenv("TT_PAT", emulator.token)
    code, _, err = trimtab("workspace", "add", "prod", "--host", emulator.host, "--token-env", "TT_OAUTH",
                           "--cloud", "aws")
    assert code == 2, err
    assert "OAuth access token (a JWT), which expires in about an hour" in err and ACCESS_TOKEN not in err
    assert store.workspaces.list() == []

    code, _, err = trimtab("workspace", "add", "prod", "--host", emulator.host, "--token-env", "TT_PAT", "--cloud", "aws")
    assert code == 0, err
    code, _, err = trimtab("workspace", "add", "prod", "--host", emulator.host, "--token-env", "TT_OAUTH",
                           "--cloud", "aws", "--replace")
    assert code == 2 and "--client-id ID --client-secret-env VAR" in err and "not supported" not in err, err
    code, _, err = trimtab("workspace", "set", "prod", "--host", emulator.host.replace("127.0.0.1", "localhost"),
                           "--token-env", "TT_OAUTH")
    assert code == 2 and "OAuth access token" in err, err
    assert store.workspaces.get("prod").host == emulator.host


def test_an_oauth_secret_given_as_a_token_is_refused_with_the_way_to_give_it(
        trimtab: Trimtab, store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    _, secret = emulator.add_service_principal()
    monkeypatch.setenv("TT_SP_SECRET", secret)
    code, _, err = trimtab("workspace", "add", "prod", "--host", emulator.host, "--token-env", "TT_SP_SECRET",
                           "--cloud", "aws")
    assert code == 1 and "refused the token" in err, err
    assert "this looks like a service principal's OAuth secret: use --client-id ID --client-secret-env VAR" in err
    assert secret not in err and store.workspaces.list() == []
    # A refused token that does not look like one gets no such hint.
    monkeypatch.setenv("TT_BAD_PAT", "dapi" + "0" * 32)
    code, _, err = trimtab("workspace", "add", "prod", "--host", emulator.host, "--token-env", "TT_BAD_PAT",
                           "--cloud", "aws")
    assert code == 1 and "refused the token" in err and "OAuth secret" not in err, err
