"""A call's retry budget bounds it: a Retry-After longer than the time left, and a host that takes
the connection and never answers, end the call by its deadline with the cause in words.

Before: the SDK slept a whole Retry-After (600 s against a 60 s budget, the collector's one thread
and every other workspace with it) and the error said "cannot reach" a host that had answered; a
host that never answered held each try for the whole HTTP timeout (a 10 s check took 41 s)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace, start_workspace
from server.clock import FakeClock, SystemClock
from server.collect import Collector
from server.databricks import DatabricksGateway, DatabricksUnavailable, GatewayConfig
from server.errors import FailedPrecondition
from server.render.workspace_text import status_hint
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import NOOP_INIT, WIRING

TOKEN = "dapi" + "x" * 32


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: what is stored does not depend on the engine here."""
    return sqlite_store


class Throttling:
    """A loopback HTTP server answering each request with ``answers`` in turn (the last one repeated):
    (status, Retry-After or None). A status of 0 passes the request on to ``target``."""

    def __init__(self, answers: list[tuple[int, str | None]], target: str = "") -> None:
        self.answers = answers
        self.target = target
        self.hits: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                status, retry_after = outer.answers[min(len(outer.hits), len(outer.answers) - 1)]
                outer.hits.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                if status == 0:
                    status, body = outer._forward(method, self.path, data, self.headers)
                else:
                    error = "REQUEST_LIMIT_EXCEEDED" if status == 429 else "TEMPORARILY_UNAVAILABLE"
                    body = json.dumps({"error_code": error, "message": "Too many requests"}).encode()
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                self._answer("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._answer("POST")

            def log_message(self, *args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.host = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _forward(self, method: str, path: str, data: bytes | None, headers: Any) -> tuple[int, bytes]:
        request = urllib.request.Request(self.target + path, data=data, method=method, headers={
            k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def throttling() -> Iterator[list[Throttling]]:
    started: list[Throttling] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def silent_host() -> Iterator[str]:
    """A host that accepts connections and never answers (a hung proxy, an overloaded API)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(50)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for conn in held:
        conn.close()


def _throttled(throttling: list[Throttling], answers: list[tuple[int, str | None]], target: str = "") -> Throttling:
    server = Throttling(answers, target)
    throttling.append(server)
    return server


def test_a_retry_after_longer_than_the_budget_fails_at_once_saying_rate_limited(
        throttling: list[Throttling]) -> None:
    server = _throttled(throttling, [(429, "600")])
    clock = FakeClock()
    gateway = DatabricksGateway(GatewayConfig(server.host, TOKEN, retry_timeout_s=60), clock=clock)
    start = clock.monotonic()
    with pytest.raises(DatabricksUnavailable) as caught:
        gateway.check_token()
    assert clock.monotonic() - start < 1 and len(server.hits) == 1  # no wait at all, not 600 s
    message = caught.value.message
    assert message.startswith(f"GET /api/2.2/jobs/list: rate limited by the workspace {server.host} "
                              "(HTTP 429, Retry-After 600s): Too many requests"), message
    assert "cannot reach" not in message and "after the 60s retry budget" in message, message


def test_retry_afters_within_the_budget_are_waited_then_the_one_past_it_is_not(
        throttling: list[Throttling]) -> None:
    server = _throttled(throttling, [(503, "20")])
    clock = FakeClock()
    gateway = DatabricksGateway(GatewayConfig(server.host, TOKEN, retry_timeout_s=60), clock=clock)
    start = clock.monotonic()
    with pytest.raises(DatabricksUnavailable) as caught:
        gateway.check_token()
    spent = clock.monotonic() - start
    # Two waits of 20 s (plus the SDK's < 1 s jitter each) fit in 60 s; a third would end past it.
    assert len(server.hits) == 3 and 40 <= spent < 42, (server.hits, spent)
    message = caught.value.message
    assert f"the workspace {server.host} is unavailable (HTTP 503, Retry-After 20s)" in message, message
    assert f"(gave up after {spent:.0f}s: the next try would come after the 60s retry budget)" in message
    assert "cannot reach" not in message


def test_a_retry_after_within_the_budget_is_still_honoured(
        throttling: list[Throttling], emulator: RunningWorkspace) -> None:
    server = _throttled(throttling, [(429, "5"), (0, None)], target=emulator.host)  # then passes on
    clock = FakeClock()
    gateway = DatabricksGateway(GatewayConfig(server.host, emulator.token, retry_timeout_s=60), clock=clock)
    start = clock.monotonic()
    gateway.check_token()
    assert 5 <= clock.monotonic() - start < 6 and len(server.hits) == 2


def test_workspace_add_check_on_a_throttled_host_says_rate_limited_in_seconds(
        throttling: list[Throttling], monkeypatch: pytest.MonkeyPatch) -> None:
    server = _throttled(throttling, [(429, "15")])
    monkeypatch.setattr(workspaces._integration, "clock", SystemClock())
    start = time.monotonic()
    with pytest.raises(FailedPrecondition) as caught:
        workspaces.check_reaches("w", server.host, TOKEN, "added")
    assert time.monotonic() - start < 5  # was 15 s (the whole Retry-After) for a 10 s check
    message = caught.value.message
    assert message.startswith(f"workspace 'w' not added: GET /api/2.2/jobs/list: rate limited by the workspace "
                              f"{server.host} (HTTP 429, Retry-After 15s)"), message
    assert "cannot reach" not in message


def test_a_host_that_never_answers_costs_the_budget_not_the_http_timeout(silent_host: str) -> None:
    # The HTTP timeout (30 s) is cut to the 2 s budget; each try used to wait all of it.
    gateway = DatabricksGateway(GatewayConfig(silent_host, TOKEN, retry_timeout_s=2, http_timeout_s=30),
                                clock=SystemClock())
    start = time.monotonic()
    with pytest.raises(DatabricksUnavailable) as caught:
        gateway.check_token()
    spent = time.monotonic() - start
    assert 1.5 <= spent < 4, spent
    message = caught.value.message
    assert f"{silent_host} took the connection but did not answer in time (read timed out)" in message, message
    assert "cannot reach" not in message and "gave up after 2.0s" in message, message


def test_a_post_to_a_host_that_never_answers_is_not_sent_again_and_says_so(silent_host: str) -> None:
    # A POST that timed out may have been carried out: the SDK does not send it again.
    gateway = DatabricksGateway(GatewayConfig(silent_host, TOKEN, retry_timeout_s=2, http_timeout_s=30),
                                clock=SystemClock())
    start = time.monotonic()
    with pytest.raises(DatabricksUnavailable, match="took the connection but did not answer in time"):
        gateway.run_now(1)
    assert time.monotonic() - start < 4


def test_a_throttled_workspace_does_not_stall_the_collector_for_the_others(
        store: Store, secrets: SecretBox, integration_clock: FakeClock, tmp_path: Path,
        throttling: list[Throttling]) -> None:
    a = start_workspace(tmp_path / "a", speed=20000)
    b = start_workspace(tmp_path / "b", speed=20000)
    proxy = _throttled(throttling, [(0, None)], target=a.host)
    try:
        jobs = {}
        for name, ws, host in (("a-throttled", a, proxy.host), ("b-healthy", b, b.host)):
            gateway = DatabricksGateway(GatewayConfig(ws.host, ws.token), clock=SystemClock())
            gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
            job = ws.seed_jobs()[0]
            workspaces.add_workspace(store, secrets, name, host, ws.token, "aws")
            workspaces.import_jobs(store, secrets, name, [job], wiring=WIRING)
            jobs[name] = (gateway, job, ws)
        collector = Collector(store, lambda w: workspaces.gateway_for(store, secrets, w), clock=integration_clock)
        collector.poll_once()
        for gateway, job, ws in jobs.values():
            gateway.run_now(job)
            assert ws.wait_idle(60)
        proxy.answers[:] = [(429, "600")]
        start = integration_clock.monotonic()
        runs = collector.poll_once()
        assert integration_clock.monotonic() - start < 60  # was 600 s: the whole Retry-After
        healthy = store.workspaces.get("b-healthy")
        assert healthy.status == "ok" and {r.project_id for r in runs} == {
            p.id for p in store.projects.list() if p.workspace == "b-healthy"}
        throttled = store.workspaces.get("a-throttled")
        assert throttled.status != "ok" and "rate limited by the workspace" in throttled.last_error
        assert "Retry-After 600s" in throttled.last_error and "cannot reach" not in throttled.last_error
        # What `workspace show` and the dashboard say of the status names rate limiting too.
        hint = status_hint(throttled.status, throttled.last_error, throttled.name) or ""
        assert "rate limiting Trimtab or unavailable (429/503" in hint, hint
    finally:
        a.stop()
        b.stop()
