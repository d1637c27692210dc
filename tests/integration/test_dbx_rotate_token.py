"""Rotating a revoked Databricks token: `trimtab workspace add NAME ... --replace` through a real server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.databricks import DatabricksGateway, GatewayConfig
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT

Trimtab = Callable[..., tuple[int, str, str]]


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: the engine does not matter here."""
    return sqlite_store


def test_replace_a_revoked_token_and_collection_works_again(
        trimtab: Trimtab, store: Store, server_key: bytes, emulator: RunningWorkspace, gateway: DatabricksGateway,
        job_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    old_token = emulator.token
    monkeypatch.setenv("TT_DBX_TOKEN", old_token)
    add = ("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN")
    code, _, err = trimtab(*add, "--cloud", "aws", "--region", "us-east-1")
    assert code == 0, err
    code, _, err = trimtab("workspace", "import", "sbx", "--job", str(job_ids[0]))
    assert code == 0, err
    (project,) = store.projects.list()
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, SecretBox(server_key), ws),
                          clock=SystemClock())

    new_token = emulator.add_token()  # the admin makes a new one...
    emulator.revoke_token(old_token)  # ...after the old one was revoked
    gateway_new = DatabricksGateway(GatewayConfig(emulator.host, new_token, retry_timeout_s=20), clock=SystemClock())
    first = gateway_new.run_now(project.job_id)
    assert emulator.wait_idle(60)
    assert collector.poll_once() == []
    code, out, _ = trimtab("workspace", "show", "sbx")
    (error_line,) = [line for line in out.splitlines() if line.startswith("error:")]
    assert "status:      error" in out and "refused the token" in error_line

    # A plain add of an existing name is refused; --replace with another host or cloud is a clear error.
    monkeypatch.setenv("TT_DBX_TOKEN", new_token)
    code, _, err = trimtab(*add, "--cloud", "aws")
    assert code == 1 and "already exists" in err
    code, _, err = trimtab("workspace", "add", "sbx", "--host", "https://elsewhere.example.com",
                           "--token-env", "TT_DBX_TOKEN", "--cloud", "aws", "--replace")
    assert code == 1 and "only rotates the token" in err and "elsewhere.example.com" in err
    code, _, err = trimtab(*add, "--cloud", "azure", "--replace")
    assert code == 1 and "is on aws, not azure" in err
    # The revoked token itself is checked with a real call, and refused.
    monkeypatch.setenv("TT_OLD", old_token)
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_OLD",
                           "--cloud", "aws", "--replace")
    assert code == 1 and "not updated" in err and "refused the token" in err
    assert store.workspaces.get("sbx").status == "error"

    code, out, err = trimtab(*add, "--cloud", "aws", "--replace")
    assert code == 0 and "replaced the token" in err
    assert "status:      ok" in out and "error:" not in out and new_token not in out and new_token[:4] in out
    ws = store.workspaces.get("sbx")
    assert (ws.status, ws.last_error, ws.region, ws.plan) == ("ok", "", "us-east-1", "premium")
    assert SecretBox(server_key).decrypt(store.workspaces.secrets("sbx").token_encrypted) == new_token

    # Collection picks up where it stopped: the run that finished while the token was revoked.
    (run,) = collector.poll_once()
    assert run.databricks_run_id == first and run.project_id == project.id
    code, _, err = trimtab("workspace", "import", "sbx", "--job", str(job_ids[0]))
    assert code == 0, err


def test_replace_keeps_existing_credentials_unless_new_ones_are_given(
        trimtab: Trimtab, store: Store, server_key: bytes, emulator: RunningWorkspace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.token)
    monkeypatch.setenv("TT_CREDS", '{"access_key_id": "A", "secret_access_key": "S"}')
    add = ("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN", "--cloud", "aws")
    # Made-up keys, stored untried (`tests/integration/test_workspace_billing_check.py` tries real ones).
    assert trimtab(*add, "--cloud-credentials-env", "TT_CREDS", "--skip-billing-check")[0] == 0
    box = SecretBox(server_key)

    def credentials() -> str | None:
        stored = store.workspaces.secrets("sbx").cloud_credentials_encrypted
        return box.decrypt(stored) if stored else None

    assert credentials() == '{"access_key_id": "A", "secret_access_key": "S"}'
    monkeypatch.setenv("TT_DBX_TOKEN", emulator.add_token())
    assert trimtab(*add, "--replace")[0] == 0
    assert credentials() == '{"access_key_id": "A", "secret_access_key": "S"}'
    monkeypatch.setenv("TT_CREDS", '{"access_key_id": "B", "secret_access_key": "T"}')
    assert trimtab(*add, "--replace", "--cloud-credentials-env", "TT_CREDS", "--skip-billing-check")[0] == 0
    assert credentials() == '{"access_key_id": "B", "secret_access_key": "T"}'
    code, _, err = trimtab("workspace", "add", "nosuch", "--host", emulator.host, "--token-env", "TT_DBX_TOKEN",
                           "--cloud", "aws", "--replace")
    assert code == 1 and "'nosuch' not found" in err
