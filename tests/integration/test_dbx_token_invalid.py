"""A token the workspace refuses outright, answered 403 "Invalid access token." as often as 401
(databricks-sdk-go issues #873, #917: ``{"error_code": 403, "message": "Invalid access token."}``), is
a refused token, not a missing permission. For a service principal (OAuth M2M) the kept access token is
dropped and a new one fetched within the same call, once; still refused, the error names the principal's
token or secret, never its grants. A PAT's revoked token reads as such, also on calls whose 403 is
otherwise one permission's (the artifact allowlist). A secret deleted (rotated) leaves the kept token
working until it ends: collection goes on until then, as documented in docs/operations.md.

Real parts: the sandbox emulator over HTTP (its OIDC token endpoint and refused-token answers), the real
SDK, the store on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.faults import Fault
from server.clock import SystemClock
from server.databricks import DatabricksGateway, GatewayConfig
from server.databricks.errors import WorkspaceAuthError
from server.databricks.translate import DatabricksPermissionDenied
from server.render.workspace_text import M2M_NO_PERMISSION, status_hint
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store

INVALID = "Invalid access token."


def _m2m(store: Store, secrets: SecretBox, emulator: RunningWorkspace) -> str:
    """A workspace "sbx" authenticating as a new service principal (its first token fetched by the add's
    check); the principal's client id."""
    client_id, secret = emulator.add_service_principal()
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, secret, "aws", client_id=client_id)
    return client_id


@pytest.mark.parametrize("status", [403, 401])
def test_a_kept_token_refused_is_fetched_anew_within_the_call(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, status: int) -> None:
    emulator.set_refused_token_status(status)
    client_id = _m2m(store, secrets, emulator)
    oauth = emulator.workspace.oauth
    fetched = len(oauth.issued)
    assert oauth.revoke_tokens(client_id) >= 1  # the principal disabled and enabled again, say
    gateway = workspaces.gateway_for(store, secrets, "sbx")
    gateway.check_token()  # before: WorkspaceAuthError "lacks access to the workspace or a permission"
    assert len(oauth.issued) == fetched + 1
    # On a call whose 403 is otherwise one permission's, too.
    oauth.revoke_tokens(client_id)
    gateway.get_artifact_allowlist()
    assert len(oauth.issued) == fetched + 2


def test_a_token_still_refused_names_the_principals_token_not_its_grants(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace) -> None:
    _m2m(store, secrets, emulator)
    oauth = emulator.workspace.oauth
    fetched = len(oauth.issued)
    # Every token refused (a fault comes after the token check: the fresh token meets it too).
    emulator.server.faults.add(Fault("GET", "jobs/list", status=403, error_code=403, message=INVALID))
    with pytest.raises(WorkspaceAuthError) as refused:
        workspaces.gateway_for(store, secrets, "sbx").check_token()
    message = str(refused.value)
    assert M2M_NO_PERMISSION not in message, message
    assert "refused the service principal's OAuth access token" in message and "a new one" in message, message
    assert len(oauth.issued) == fetched + 1  # one new token, not one per try
    hint = status_hint("error", message, "sbx", client_id="sp") or ""
    assert "make a new one" in hint and "is given access" not in hint


def test_a_403_for_a_missing_permission_keeps_the_token(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace) -> None:
    _m2m(store, secrets, emulator)
    oauth = emulator.workspace.oauth
    fetched = len(oauth.issued)
    fault = emulator.inject_fault("GET", "jobs/list", status=403, error_code="PERMISSION_DENIED")
    with pytest.raises(WorkspaceAuthError, match=M2M_NO_PERMISSION):
        workspaces.gateway_for(store, secrets, "sbx").check_token()
    emulator.clear_fault(fault)
    workspaces.gateway_for(store, secrets, "sbx").check_token()
    assert len(oauth.issued) == fetched  # before: the working token was dropped and fetched again


@pytest.mark.parametrize("status", [403, 401])
def test_a_revoked_pat_is_a_refused_token_on_every_call(emulator: RunningWorkspace, status: int) -> None:
    emulator.set_refused_token_status(status)
    token = emulator.add_token()
    gateway = DatabricksGateway(GatewayConfig(emulator.host, token, retry_timeout_s=20), clock=SystemClock())
    gateway.check_token()
    emulator.revoke_token(token)
    with pytest.raises(WorkspaceAuthError, match=r"refused the token \(revoked or expired\)"):
        gateway.check_token()
    # Before: DatabricksPermissionDenied, as if only the allowlist's grant were missing.
    with pytest.raises(WorkspaceAuthError, match="refused the token"):
        gateway.get_artifact_allowlist()
    with pytest.raises(WorkspaceAuthError, match="refused the token"):
        gateway.get_cluster_policy("p-1")


def test_a_permission_403_on_the_allowlist_is_still_that_permission(emulator: RunningWorkspace) -> None:
    emulator.set_manage_allowlist(False)
    gateway = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20),
                                clock=SystemClock())
    with pytest.raises(DatabricksPermissionDenied):
        gateway.get_artifact_allowlist()


def test_a_deleted_secret_keeps_the_kept_token_until_it_ends_then_names_the_secret(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace) -> None:
    client_id = _m2m(store, secrets, emulator)
    oauth = emulator.workspace.oauth
    fetched = len(oauth.issued)
    oauth.rotate_secret(client_id)  # the stored secret deleted in the account
    # Databricks does not end the access tokens fetched with it: calls go on with the kept one.
    workspaces.gateway_for(store, secrets, "sbx").check_token()
    assert len(oauth.issued) == fetched
    # Once it ends (expired, or a workspace that revokes it), the new fetch is refused: the secret's words.
    oauth.revoke_tokens(client_id)
    with pytest.raises(WorkspaceAuthError, match="token endpoint refused service principal") as refused:
        workspaces.gateway_for(store, secrets, "sbx").check_token()
    assert "make a new one" in (status_hint("error", str(refused.value), "sbx", client_id=client_id) or "")
