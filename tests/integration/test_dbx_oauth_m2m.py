"""OAuth machine-to-machine: a workspace connected as a service principal (client id and secret) through
the CLI and a real server, then imported, collected and tuned; its secret refused and rotated (the SDK's
token refresh: test_dbx_oauth_refresh.py).

Real parts: a Trimtab server (gRPC on 127.0.0.1:0) driven through the CLI, the sandbox emulator serving
Databricks' OIDC discovery and token endpoint over HTTP, the real SDK, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.databricks.m2m_tokens import TOKEN_SOURCES
from server.domain import ClusterConfig, Recommendation
from server.services import workspaces
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store
from tests.integration.conftest import NOOP_INIT

Trimtab = Callable[..., tuple[int, str, str]]


def test_a_service_principal_workspace_is_added_imported_collected_and_tuned(
        trimtab: Trimtab, store: Store, server_key: bytes, emulator: RunningWorkspace, gateway: DatabricksGateway,
        job_ids: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    client_id, secret = emulator.add_service_principal()
    monkeypatch.setenv("TT_SP_SECRET", secret)
    monkeypatch.setenv("TT_WRONG_SECRET", "dose" + "0" * 32)
    monkeypatch.setenv("TT_PAT", emulator.token)

    # Usage: one way of authenticating, whole.
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--cloud", "aws")
    assert code == 2 and "--token-env VAR" in err and "--client-id ID --client-secret-env VAR" in err
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_PAT",
                           "--client-id", client_id, "--client-secret-env", "TT_SP_SECRET", "--cloud", "aws")
    assert code == 2 and "not both" in err
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--client-id", client_id,
                           "--cloud", "aws")
    assert code == 2 and "--client-secret-env" in err

    # A wrong secret: refused at `workspace add`, in one clear line, and nothing stored.
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--client-id", client_id,
                           "--client-secret-env", "TT_WRONG_SECRET", "--cloud", "aws")
    (line,) = [e for e in err.splitlines() if e.startswith("error:")]
    assert code == 1 and "FAILED_PRECONDITION" in line and "Traceback" not in err
    assert f"OAuth token endpoint refused service principal {client_id}" in line
    assert "invalid client id or client secret, or the secret expired" in line and "invalid_client" in line
    assert store.workspaces.list() == []

    code, out, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--client-id", client_id,
                             "--client-secret-env", "TT_SP_SECRET", "--cloud", "aws", "--region", "us-east-1")
    assert code == 0, err
    assert secret not in out + err and "OAuth machine-to-machine" in out and client_id in out
    stored = store.workspaces.get("sbx")
    assert stored.client_id == client_id and stored.auth == "oauth-m2m"
    held = store.workspaces.secrets("sbx")
    assert secret not in held.token_encrypted and SecretBox(server_key).decrypt(held.token_encrypted) == secret
    issued = len(emulator.workspace.oauth.issued)
    assert issued >= 1  # the check fetched an access token with the id and secret

    code, out, _ = trimtab("workspace", "show", "sbx")
    assert code == 0 and "status:      ok" in out and secret not in out
    assert "auth:        OAuth machine-to-machine (service principal)" in out and f"client id:   {client_id}" in out
    code, out, _ = trimtab("workspace", "list")
    assert code == 0 and f"oauth-m2m {client_id}" in out and secret not in out

    # Import one job, run it, collect the run, apply a recommendation: all as the service principal.
    code, out, err = trimtab("workspace", "import", "sbx", "--job", str(job_ids[0]))
    assert code == 0 and "created" in out, err
    (project,) = store.projects.list()
    gateway.run_now(project.job_id)
    assert emulator.wait_idle(60)
    box = SecretBox(server_key)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, box, ws), clock=SystemClock(),
                          catalog=load_catalog())
    collected = collector.poll_once()
    assert [r.project_id for r in collected] == [project.id] and collected[0].cost is not None
    store.recommendations.add(Recommendation(project_id=int(project.id or 0), reason="fewer, larger nodes",
                                             config=ClusterConfig(node_type_id="m5d.2xlarge", num_workers=2)))
    code, out, err = trimtab("recommendation", "apply", project.name)
    assert code == 0 and "applied recommendation" in out, err
    assert find_cluster_spec(gateway.get_job(project.job_id)["settings"], "main")["num_workers"] == 2
    # Those calls went with the access token the add's check fetched: kept for the workspace in this
    # process while it lasts (an hour on Databricks), not fetched again per command or poll.
    assert len(emulator.workspace.oauth.issued) == issued == 1

    # The secret stops working (it expired, or was deleted): the workspace says so in a service
    # principal's words, and `add --replace` with the new secret puts it right.
    new_secret = emulator.workspace.oauth.rotate_secret(client_id)
    # The access token already fetched works until it expires (a deleted secret revokes no token issued
    # with it); the server keeps it, so the refusal comes at the next fetch. Its expiry (an hour, judged
    # on the wall clock) stands here as dropping the kept token.
    TOKEN_SOURCES.forget_workspace("sbx")
    code, _, err = trimtab("workspace", "import", "sbx")
    assert code == 1 and "refused service principal" in err and "secret expired" in err, err
    code, out, _ = trimtab("workspace", "show", "sbx")
    assert "status:      error" in out and "refused service principal" in out
    assert "collects by itself once it works" in out and "--client-secret-env VAR --replace" in out
    assert "collects by itself once it is accepted" not in out
    monkeypatch.setenv("TT_NEW_SECRET", new_secret)
    code, out, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--client-id", client_id,
                             "--client-secret-env", "TT_NEW_SECRET", "--cloud", "aws", "--replace")
    assert code == 0 and "replaced the client secret of workspace sbx" in err, err
    assert "status:      ok" in out and new_secret not in out + err
    assert SecretBox(server_key).decrypt(store.workspaces.secrets("sbx").token_encrypted) == new_secret
    code, out, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--client-id", client_id,
                             "--client-secret-env", "TT_NEW_SECRET", "--cloud", "aws", "--replace")
    assert code == 0 and "client secret unchanged" in err, err

    # --replace with a PAT moves the workspace back to a token.
    code, out, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--token-env", "TT_PAT",
                             "--cloud", "aws", "--replace")
    assert code == 0 and "auth:        personal access token" in out, err
    assert store.workspaces.get("sbx").client_id == ""


def test_a_service_principal_workspace_is_re_pointed_with_its_secret_given_again(
        trimtab: Trimtab, store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    client_id, secret = emulator.add_service_principal()
    monkeypatch.setenv("TT_SP_SECRET", secret)
    code, _, err = trimtab("workspace", "add", "sbx", "--host", emulator.host, "--client-id", client_id,
                           "--client-secret-env", "TT_SP_SECRET", "--cloud", "aws")
    assert code == 0, err
    moved = emulator.host.replace("127.0.0.1", "localhost")
    code, _, err = trimtab("workspace", "set", "sbx", "--host", moved, "--client-id", client_id)
    assert code == 2 and "--client-secret-env" in err
    code, out, err = trimtab("workspace", "set", "sbx", "--host", moved, "--client-id", client_id,
                             "--client-secret-env", "TT_SP_SECRET")
    assert code == 0 and f"host {emulator.host} -> {moved}" in err, err
    # Said of what the workspace authenticates as: it holds no token.
    assert f"checked: the service principal is accepted at {moved}" in err and "the token" not in err, err
    assert (store.workspaces.get("sbx").host, store.workspaces.get("sbx").client_id) == (moved, client_id)
    # The same host with a PAT: switching how it authenticates is `add --replace`, which the refusal names.
    monkeypatch.setenv("TT_PAT", emulator.token)
    code, _, err = trimtab("workspace", "set", "sbx", "--host", moved, "--token-env", "TT_PAT")
    assert code == 2 and f"workspace 'sbx' is at {moved} already" in err, err
    assert f"`trimtab workspace add sbx --host {moved} --token-env VAR --replace`" in err, err
    code, _, err = trimtab("workspace", "set", "sbx", "--client-id", client_id, "--client-secret-env", "TT_SP_SECRET")
    assert code == 2 and "go with --host" in err
