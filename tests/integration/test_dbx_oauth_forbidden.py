"""A service principal refused with 403 (authenticated, no permission) is told so: its client secret
works, so the remedy is access granted and `add --replace` with the same secret, not a new secret
(which a 401 or a refused secret still names). A PAT's refusal reads as before.

Real parts: the CLI against a real server, the sandbox emulator (its 403 injected on the jobs calls)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.workspace import RunningWorkspace
from server.databricks import DatabricksGateway
from server.domain import ClusterConfig, Recommendation
from server.render.workspace_text import status_hint
from server.store import Store
from tests.integration.conftest import NOOP_INIT


def test_a_403_asks_for_the_principals_access_not_a_new_secret(
        trimtab: Callable[..., tuple[int, str, str]], store: Store, emulator: RunningWorkspace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    client_id, secret = emulator.add_service_principal()
    monkeypatch.setenv("TT_SP_SECRET", secret)
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--client-id", client_id,
                           "--client-secret-env", "TT_SP_SECRET", "--cloud", "aws", "--region", "us-east-1")
    assert code == 0, err
    fault = emulator.inject_fault("GET", "jobs/list", status=403, error_code="PERMISSION_DENIED")
    code, _, err = trimtab("workspace", "import", "sbx")
    assert code == 1 and "lacks access to the workspace or a permission" in err, err
    assert "client secret" not in err and "removed from the workspace, disabled" not in err
    code, out, _ = trimtab("workspace", "show", "sbx")
    assert "status:      error" in out and "is given access" in out and "with the same secret" in out, out
    assert "make a new one" not in out

    # Access granted: `add --replace` with the same secret resumes.
    emulator.clear_fault(fault)
    code, out, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--client-id", client_id,
                             "--client-secret-env", "TT_SP_SECRET", "--cloud", "aws", "--replace")
    assert code == 0 and "status:      ok" in out, err


def test_a_refused_secret_or_access_token_still_names_the_secret() -> None:
    refused = ("the workspace's OAuth token endpoint refused service principal sp-1 (invalid client id or client "
               "secret, or the secret expired or was deleted): invalid_client")
    assert "make a new one" in (status_hint("error", refused, "sbx", client_id="sp-1") or "")
    unauthenticated = "the workspace refused the service principal's OAuth access token (...): Invalid access token"
    assert "make a new one" in (status_hint("error", unauthenticated, "sbx", client_id="sp-1") or "")
    # A PAT's hint is the token's, 401 or 403 alike; tried again on a backoff, not stopped (a permission
    # granted resumes it by itself).
    hint = status_hint("error", "refused", "sbx") or ""
    assert "Databricks refuses the token" in hint and "collects by itself once it is accepted" in hint
    assert "`trimtab workspace add sbx ... --replace`" in hint and "stopped" not in hint


def test_apply_without_can_manage_names_the_service_principal_not_a_token(
        trimtab: Callable[..., tuple[int, str, str]], store: Store, emulator: RunningWorkspace,
        gateway: DatabricksGateway, job_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    client_id, secret = emulator.add_service_principal()
    monkeypatch.setenv("TT_SP_SECRET", secret)
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--client-id", client_id,
                           "--client-secret-env", "TT_SP_SECRET", "--cloud", "aws", "--region", "us-east-1")
    assert code == 0, err
    code, _, err = trimtab("workspace", "import", "sbx", "--job", str(job_ids[0]))
    assert code == 0, err
    (project,) = store.projects.list()
    store.recommendations.add(Recommendation(project_id=int(project.id or 0), reason="fewer, larger nodes",
                                             config=ClusterConfig(node_type_id="m5d.2xlarge", num_workers=2)))
    emulator.set_job_manage(project.job_id, False)
    code, _, err = trimtab("recommendation", "apply", project.name)
    assert code == 1 and f"the service principal needs CAN_MANAGE on job {project.job_id}" in err, err
    assert "token" not in err.lower().replace("access token", ""), err
