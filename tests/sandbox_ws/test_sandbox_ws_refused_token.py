"""A token the workspace does not take is answered as real workspaces answer it: 403 with a numeric
``error_code`` and "Invalid access token." (a revoked PAT; an OAuth access token revoked or, on many
workspaces, expired), or 401 on workspaces that answer so (`set_refused_token_status`). The real SDK
reads the 403 as `PermissionDenied`, which is why Trimtab must read its message, not its class."""

from __future__ import annotations

import pytest
import requests
from databricks.sdk.errors import PermissionDenied, Unauthenticated

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.clock import FakeClock
from tests.sandbox_ws.conftest import Sandbox, client


def _access_token(ws: RunningWorkspace, client_id: str, secret: str) -> str:
    reply = requests.post(ws.host + "/oidc/v1/token", auth=(client_id, secret), timeout=5,
                          data={"grant_type": "client_credentials", "scope": "all-apis"})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def _jobs_list(ws: RunningWorkspace, token: str) -> requests.Response:
    return requests.get(ws.host + "/api/2.2/jobs/list", headers={"Authorization": f"Bearer {token}"}, timeout=5)


def test_a_revoked_pat_is_answered_as_databricks_does(sandbox: Sandbox) -> None:
    ws = sandbox.start()
    extra = ws.add_token()
    ws.revoke_token(extra)
    reply = _jobs_list(ws, extra)
    assert reply.status_code == 403
    assert reply.json() == {"error_code": 403, "message": "Invalid access token."}
    assert reply.headers["X-Databricks-Reason-Phrase"] == "Invalid access token."
    with pytest.raises(PermissionDenied, match="Invalid access token"):
        list(client(ws, token=extra).jobs.list())

    ws.set_refused_token_status(401)
    assert _jobs_list(ws, extra).status_code == 401
    with pytest.raises(Unauthenticated):
        list(client(ws, token=extra).jobs.list())
    with pytest.raises(ValueError, match="401 or 403"):
        ws.set_refused_token_status(500)


@pytest.mark.parametrize(("setting", "revoked", "expired"), [(None, 403, 401), (403, 403, 403), (401, 401, 401)])
def test_a_revoked_or_expired_oauth_access_token_is_answered_as_set(
        sandbox: Sandbox, setting: int | None, revoked: int, expired: int) -> None:
    clock = FakeClock(start=1_000.0)
    ws = sandbox.start(clock=clock)
    ws.set_refused_token_status(setting)
    client_id, secret = ws.add_service_principal()
    token = _access_token(ws, client_id, secret)
    assert _jobs_list(ws, token).status_code == 200
    assert ws.workspace.oauth.revoke_tokens(client_id) == 1
    reply = _jobs_list(ws, token)
    assert reply.status_code == revoked and "Invalid access token" in reply.json()["message"]

    # The secret still works; the new token, once expired, is refused as set.
    fresh = _access_token(ws, client_id, secret)
    assert _jobs_list(ws, fresh).status_code == 200
    clock.advance(3_600.0)
    assert _jobs_list(ws, fresh).status_code == expired


def test_a_rotated_secret_leaves_the_tokens_issued_with_it_working(sandbox: Sandbox) -> None:
    """As an OAuth server commonly does (a deleted secret fetches no new token; the access tokens it
    fetched are not revoked with it): `revoke_tokens` is for a workspace that ends them at once."""
    ws = sandbox.start()
    client_id, secret = ws.add_service_principal()
    token = _access_token(ws, client_id, secret)
    ws.workspace.oauth.rotate_secret(client_id)
    assert _jobs_list(ws, token).status_code == 200
    refused = requests.post(ws.host + "/oidc/v1/token", auth=(client_id, secret), timeout=5,
                            data={"grant_type": "client_credentials", "scope": "all-apis"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
