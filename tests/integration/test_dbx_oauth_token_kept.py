"""A service principal's access token is fetched once per workspace and process and kept while it lasts
(docs/operations.md: about an hour), though a gateway is built for every collector poll and command:
not one OIDC discovery and one token request per use (60 an hour at the default poll interval). A new
secret (`add --replace`) fetches a new token, and a removed workspace's token is dropped.

Real parts: the CLI against a real server, the collector, the sandbox emulator's OIDC discovery and
token endpoint over HTTP, the real SDK."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.databricks.m2m_tokens import TOKEN_SOURCES
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT


def test_polls_and_commands_share_one_access_token_until_the_secret_changes(
        trimtab: Callable[..., tuple[int, str, str]], store: Store, server_key: str, emulator: RunningWorkspace,
        gateway: DatabricksGateway, job_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    client_id, secret = emulator.add_service_principal()
    monkeypatch.setenv("TT_SP_SECRET", secret)
    oauth = emulator.workspace.oauth
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--client-id", client_id,
                           "--client-secret-env", "TT_SP_SECRET", "--cloud", "aws", "--region", "us-east-1")
    assert code == 0, err
    code, _, err = trimtab("workspace", "import", "sbx", "--job", str(job_ids[0]))
    assert code == 0, err
    box = SecretBox(server_key)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, box, ws), clock=SystemClock(),
                          catalog=load_catalog())
    for _ in range(5):
        collector.poll_once()
    code, out, err = trimtab("workspace", "import", "sbx", "--dry-run")
    assert code == 0, err
    # The add's check fetched it; the import, five polls and a dry run used it (before: 8 fetched).
    assert len(oauth.issued) == 1
    assert store.workspaces.get("sbx").status == "ok"

    # Gateways built on several threads at once (the collector's and the servicers') share it too.
    errors: list[BaseException] = []

    def check() -> None:
        try:
            workspaces.gateway_for(store, box, "sbx").check_token()
        except BaseException as err:  # noqa: BLE001 (reported by the assertion below)
            errors.append(err)

    threads = [threading.Thread(target=check) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(oauth.issued) == 1

    # A new secret: the next use fetches a token with it, and that one is kept in turn.
    new_secret = oauth.rotate_secret(client_id)
    monkeypatch.setenv("TT_SP_SECRET", new_secret)
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--client-id", client_id,
                           "--client-secret-env", "TT_SP_SECRET", "--cloud", "aws", "--region", "us-east-1",
                           "--replace")
    assert code == 0, err
    assert len(oauth.issued) == 2
    collector.poll_once()
    code, out, err = trimtab("workspace", "import", "sbx", "--dry-run")
    assert code == 0, err
    assert len(oauth.issued) == 2
    # One source per workspace: the old secret's was dropped when the new one's was kept.
    assert sum(1 for key in TOKEN_SOURCES._sources if key[0] == "sbx") == 1


def test_a_kept_token_the_workspace_no_longer_takes_is_dropped_and_fetched_anew(
        store: Store, server_key: str, emulator: RunningWorkspace) -> None:
    """A kept access token refused before it expires (the principal disabled, then enabled again) was
    reused by every gateway of the process, each refused, until its expiry (up to an hour); the call that
    meets the refusal now fetches a new one, which the working secret gets, and succeeds
    (tests/integration/test_dbx_token_invalid.py: 401 and 403 alike); every later use shares it."""
    client_id, secret = emulator.add_service_principal()
    box = SecretBox(server_key)
    workspaces.add_workspace(store, box, "sbx", emulator.host, secret, "aws", client_id=client_id)
    oauth = emulator.workspace.oauth
    workspaces.gateway_for(store, box, "sbx").check_token()
    fetched = len(oauth.issued)
    assert oauth.revoke_tokens(client_id) >= 1
    workspaces.gateway_for(store, box, "sbx").check_token()  # a new token: the secret still works
    workspaces.gateway_for(store, box, "sbx").check_token()
    assert len(oauth.issued) == fetched + 1
