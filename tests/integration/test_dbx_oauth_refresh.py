"""OAuth machine-to-machine in the gateway: the real databricks-sdk, given a service principal's client
id and secret, finds the workspace's token endpoint, fetches short-lived access tokens, keeps one while it
lasts and fetches a new one when it expires; building the gateway makes no call.

Real parts: the sandbox emulator serving Databricks' OIDC discovery document and token endpoint over
HTTP, and the real SDK. The SDK judges a token's expiry on the wall clock (``datetime.now``), which no
clock of ours reaches: the tokens here last seconds, and the test waits them out."""

from __future__ import annotations

import datetime
import http.server
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import SystemClock
from server.databricks import (
    DatabricksGateway,
    DatabricksRequestInvalid,
    DatabricksUnavailable,
    GatewayConfig,
    WorkspaceAuthError,
)
from server.databricks.m2m_tokens import TOKEN_SOURCES, source_key


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


class _Discovery(http.server.BaseHTTPRequestHandler):
    """A host whose OIDC discovery answers, naming ``token_endpoint`` (set per server); its token endpoint
    answers ``token_status`` (a 503: the endpoint failing, not the secret refused)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._json(200, {"token_endpoint": self.server.token_endpoint})  # type: ignore[attr-defined]

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server = self.server
        server.token_posts = getattr(server, "token_posts", 0) + 1  # type: ignore[attr-defined]
        if server.token_status == 200:  # type: ignore[attr-defined]
            self._json(200, {"access_token": f"at-{server.token_posts}", "token_type": "Bearer",  # type: ignore[attr-defined]
                             "expires_in": 3600})
            return
        self._json(server.token_status, {"error": "temporarily_unavailable"})  # type: ignore[attr-defined]

    def _json(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


@pytest.fixture
def discovery() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_token_endpoint_that_never_answers_fails_the_call_within_its_budget(
        discovery: http.server.ThreadingHTTPServer) -> None:
    # Takes connections (the kernel's backlog) and never answers: the SDK's own token request, with no
    # timeout, waited for ever here.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        discovery.token_endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}/oidc/v1/token"  # type: ignore[attr-defined]
        host = f"http://127.0.0.1:{discovery.server_address[1]}"
        gateway = DatabricksGateway(GatewayConfig(host, "dose" + "0" * 32, client_id="sp-1", retry_timeout_s=2),
                                    clock=SystemClock())
        started = time.monotonic()
        with pytest.raises(DatabricksUnavailable, match="did not answer in time"):
            gateway.check_token()
        assert time.monotonic() - started < 10
    finally:
        silent.close()


def test_a_failing_token_endpoint_is_the_workspace_unavailable_not_the_secret_refused(
        discovery: http.server.ThreadingHTTPServer) -> None:
    host = f"http://127.0.0.1:{discovery.server_address[1]}"
    discovery.token_endpoint = f"{host}/oidc/v1/token"  # type: ignore[attr-defined]
    discovery.token_status = 503  # type: ignore[attr-defined]
    gateway = DatabricksGateway(GatewayConfig(host, "dose" + "0" * 32, client_id="sp-1", retry_timeout_s=2),
                                clock=SystemClock())
    with pytest.raises(DatabricksUnavailable, match="OAuth token endpoint answered HTTP 503"):
        gateway.check_token()


class _NotAWorkspace(http.server.BaseHTTPRequestHandler):
    """A host that answers 404 everywhere, as the account console does for a workspace's paths."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        data = b'{"error_code":"ENDPOINT_NOT_FOUND","message":"No API found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


def test_a_host_without_oidc_discovery_is_said_to_be_no_workspace_not_the_calls_404() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotAWorkspace)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        host = f"http://127.0.0.1:{server.server_address[1]}"
        gateway = DatabricksGateway(GatewayConfig(host, "dose" + "0" * 32, client_id="sp-1", retry_timeout_s=2),
                                    clock=SystemClock())
        # Before: "GET /api/2.2/jobs/list: No API found", a call that was never made.
        with pytest.raises(DatabricksRequestInvalid) as raised:
            gateway.check_token()
        assert raised.value.message == (f"{host}/oidc/.well-known/oauth-authorization-server answered 404: is {host} "
                                        "a workspace URL (not the account console)?")
    finally:
        server.shutdown()
        server.server_close()


def test_a_token_endpoint_briefly_down_while_the_token_lasts_costs_no_call(
        discovery: http.server.ThreadingHTTPServer) -> None:
    """The kept token is refreshed in the last part of its life; a refresh that fails then for the
    endpoint's own trouble keeps the token (as the SDK's own token source does), and is not tried again
    on every call. Its GET answers (the discovery document) stand for the workspace's API."""
    host = f"http://127.0.0.1:{discovery.server_address[1]}"
    discovery.token_endpoint = f"{host}/oidc/v1/token"  # type: ignore[attr-defined]
    discovery.token_status = 200  # type: ignore[attr-defined]
    config = GatewayConfig(host, "dose" + "1" * 32, client_id="sp-1", retry_timeout_s=2, workspace="briefly-down")
    DatabricksGateway(config, clock=SystemClock()).check_token()
    DatabricksGateway(config, clock=SystemClock()).check_token()
    assert discovery.token_posts == 1  # type: ignore[attr-defined]

    # The token reaches its stale window (in 40 min on a real one-hour token), and the endpoint is down.
    source = TOKEN_SOURCES.get(source_key("briefly-down", host, "sp-1", config.token))
    source._refresh_after = datetime.datetime.now() - datetime.timedelta(seconds=1)
    discovery.token_status = 503  # type: ignore[attr-defined]
    DatabricksGateway(config, clock=SystemClock()).check_token()  # the kept token still serves
    DatabricksGateway(config, clock=SystemClock()).check_token()  # and the refresh waits a while
    assert discovery.token_posts == 2  # type: ignore[attr-defined]

    # The endpoint back, the next refresh takes a new token.
    discovery.token_status = 200  # type: ignore[attr-defined]
    source._refresh_after = datetime.datetime.now() - datetime.timedelta(seconds=1)
    DatabricksGateway(config, clock=SystemClock()).check_token()
    assert discovery.token_posts == 3 and source.token().access_token == "at-3"  # type: ignore[attr-defined]
    TOKEN_SOURCES.forget_workspace("briefly-down")
