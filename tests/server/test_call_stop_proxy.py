"""The collector's stop ends a GET waiting on a host that never answers when the workspace is reached
through an HTTP proxy too (HTTP(S)_PROXY, as many corporate networks require): requests sends proxied
traffic through a pool manager of its own, which kept urllib3's plain connections, so the read waited
its whole timeout (review owndiff: 28.5 s after the stop). A real gateway and real sockets on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from server.clock import SystemClock
from server.databricks import DatabricksGateway, GatewayConfig
from server.databricks.call_stop import CallStop, calls_end_on


@pytest.fixture
def silent_ports() -> Iterator[list[int]]:
    """Listeners that take connections and never answer; their ports."""
    listeners: list[socket.socket] = []
    held: list[socket.socket] = []

    def make() -> int:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        listeners.append(s)

        def accept() -> None:
            while True:
                try:
                    held.append(s.accept()[0])
                except OSError:
                    return

        threading.Thread(target=accept, daemon=True).start()
        return int(s.getsockname()[1])

    ports = [make(), make()]
    yield ports
    for s in [*listeners, *held]:
        s.close()


def test_a_stop_ends_a_proxied_read_from_a_host_that_never_answers(
        silent_ports: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    target, proxy = silent_ports
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    gateway = DatabricksGateway(GatewayConfig(f"http://databricks.internal.example:{target}", "dapi-x",
                                              retry_timeout_s=60), clock=SystemClock())
    stop = CallStop()
    ended: list[str] = []

    def call() -> None:
        with calls_end_on(stop):
            try:
                gateway.get_job(1)
                ended.append("answered")
            except BaseException as err:  # noqa: BLE001 (CallStopped is a BaseException: what it ended with)
                ended.append(type(err).__name__)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    time.sleep(1.5)  # the GET is waiting on the proxy by now
    stopped = time.monotonic()
    stop.set()
    thread.join(20)
    assert not thread.is_alive(), "still blocked 20 s after the stop"
    assert time.monotonic() - stopped < 5, time.monotonic() - stopped
    assert ended and ended[0] != "answered"
