"""OAuth machine-to-machine in the gateway: the real databricks-sdk, given a service principal's client
id and secret, finds the workspace's token endpoint, fetches short-lived access tokens, keeps one while it
lasts and fetches a new one when it expires; building the gateway makes no call.

Real parts: the sandbox emulator serving Databricks' OIDC discovery document and token endpoint over
HTTP, and the real SDK. The SDK judges a token's expiry on the wall clock (``datetime.now``), which no
clock of ours reaches: the tokens here last seconds, and the test waits them out."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.databricks import DatabricksGateway, DatabricksUnavailable, GatewayConfig, WorkspaceAuthError


def _status_of(emulator: RunningWorkspace, token: str) -> int:
    """The HTTP status the emulator answers jobs/list with ``token`` as the Bearer token."""
    request = urllib.request.Request(f"{emulator.host}/api/2.2/jobs/list?limit=1",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_the_real_sdk_fetches_a_new_access_token_when_the_one_it_holds_expires(emulator: RunningWorkspace) -> None:
    client_id, secret = emulator.add_service_principal()
    oauth = emulator.workspace.oauth
    # Tokens of a few seconds: each expires during the test, and the emulator then refuses it (401).
    emulator.set_oauth_token_lifetime(2)
    gateway = DatabricksGateway(GatewayConfig(emulator.host, secret, client_id=client_id, retry_timeout_s=20),
                                clock=SystemClock())
    gateway.check_token()
    first = oauth.issued[-1]
    assert _status_of(emulator, first) == 200
    time.sleep(2.2)
    assert _status_of(emulator, first) == 401  # expired, as Databricks answers it
    gateway.check_token()  # the same gateway keeps working: the SDK fetched a new token
    assert oauth.issued[-1] != first and _status_of(emulator, oauth.issued[-1]) == 200

    # An hour-long token is kept and sent again, not fetched per call (one token for several calls);
    # the SDK fetches the next one 40 s before it expires, so 42 s tokens are renewed after ~2 s.
    emulator.set_oauth_token_lifetime(42)
    held = DatabricksGateway(GatewayConfig(emulator.host, secret, client_id=client_id, retry_timeout_s=20),
                             clock=SystemClock())
    before = len(oauth.issued)
    held.check_token()
    held.check_token()
    assert len(oauth.issued) == before + 1
    time.sleep(2.5)
    held.check_token()
    assert len(oauth.issued) == before + 2


def test_building_a_service_principal_gateway_makes_no_call() -> None:
    """Discovery of the token endpoint is the first call's, on its deadline: building a gateway on a host
    that refuses connections returns at once (as for a PAT), and the call fails as unreachable."""
    started = time.monotonic()
    gateway = DatabricksGateway(GatewayConfig("http://127.0.0.1:1", "dose" + "0" * 32, client_id="sp-1",
                                              retry_timeout_s=2), clock=SystemClock())
    assert time.monotonic() - started < 1.0
    with pytest.raises(DatabricksUnavailable, match="cannot reach http://127.0.0.1:1"):
        gateway.check_token()


def test_a_wrong_secret_is_refused_in_a_service_principals_words(emulator: RunningWorkspace) -> None:
    client_id, _secret = emulator.add_service_principal()
    gateway = DatabricksGateway(GatewayConfig(emulator.host, "dose" + "0" * 32, client_id=client_id,
                                              retry_timeout_s=5), clock=SystemClock())
    with pytest.raises(WorkspaceAuthError) as refused:
        gateway.check_token()
    message = refused.value.message
    assert f"OAuth token endpoint refused service principal {client_id}" in message
    assert "secret expired" in message and "invalid_client" in message and "0" * 32 not in message
