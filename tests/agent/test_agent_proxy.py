"""The cluster's egress proxy (lowercase ``https_proxy``/``http_proxy`` in ``spark_env_vars``, set so
pip can reach PyPI) is not the way to the Trimtab server: gRPC honoured it, the proxy refused
CONNECT to the server's port, and nothing was delivered. The agent connects directly unless told
to use the proxy (``use_proxy``, ``TRIMTAB_AGENT_USE_PROXY``)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agent.cli import _config, _parser
from agent.config import describe_proxy, load_config
from tests.agent.conftest import AgentThread, IngestServer, agent_config
from tests.agent.expected import events_of, expected_summary, stored_summary

pytestmark = pytest.mark.spark


class RefusingProxy:
    """An HTTP proxy on 127.0.0.1:0 that answers every request 403, as Squid does to a CONNECT to a
    port other than 443; it records the first line of each request."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.seen = threading.Event()
        threading.Thread(target=self._serve, name="refusing-proxy", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            with conn:
                conn.settimeout(5)
                try:
                    head = conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    continue
            with self.lock:
                self.requests.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
            self.seen.set()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RefusingProxy]:
    """The proxy, named in the variables a cluster's spark_env_vars set (gRPC's C core reads them)."""
    p = RefusingProxy()
    for name in ("no_proxy", "NO_PROXY", "grpc_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("https_proxy", p.url)
    monkeypatch.setenv("http_proxy", p.url)
    yield p
    p.close()


@pytest.fixture
def plain_log(spark_logs: Path, tmp_path: Path) -> Path:
    """One real uncompressed PySpark log, alone in its directory."""
    src = next(p for p in spark_logs.iterdir() if p.is_file() and "." not in p.name)
    (tmp_path / "logs").mkdir()
    dst = tmp_path / "logs" / src.name
    dst.write_bytes(src.read_bytes())
    return dst


def test_proxy_variables_do_not_route_the_agent_by_default(plain_log: Path, ingest: IngestServer, proxy: RefusingProxy,
                                                          tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="trimtab.agent")
    s = ingest.servicer
    with AgentThread(agent_config(plain_log.parent, tmp_path / "s", ingest.address)) as run:
        assert s.wait_for(lambda: s.keys("application_end"), 30), f"nothing delivered: {run.agent.sender.last_error}"
        run.stop()
    assert stored_summary(list(s.stored.values()), plain_log.name) == expected_summary(events_of(plain_log))
    assert proxy.requests == []
    said = [r.getMessage() for r in caplog.records if "proxy" in r.getMessage()]
    assert any("directly" in m and "https_proxy" in m and "TRIMTAB_AGENT_USE_PROXY" in m for m in said), said


def test_use_proxy_goes_through_the_proxy(plain_log: Path, ingest: IngestServer, proxy: RefusingProxy,
                                          tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="trimtab.agent")
    cfg = agent_config(plain_log.parent, tmp_path / "s", ingest.address, use_proxy=True)
    with AgentThread(cfg) as run:
        assert proxy.seen.wait(20), "the agent never asked the proxy"
        run.stop()
    assert any(r.startswith(f"CONNECT {ingest.address} ") for r in proxy.requests), proxy.requests
    assert not ingest.servicer.stored  # this proxy refuses it, as the operator would see in agent.log
    assert any("through the proxy" in r.getMessage() and proxy.url in r.getMessage() for r in caplog.records)


def test_use_proxy_setting_from_environment_and_flag(monkeypatch: pytest.MonkeyPatch):
    env = {"TRIMTAB_TOKEN": "t", "TRIMTAB_AGENT_USE_PROXY": "1"}
    assert load_config({"server": "h:1"}, env=env).use_proxy is True
    assert load_config({"server": "h:1"}, env={"TRIMTAB_TOKEN": "t"}).use_proxy is False
    assert load_config({"server": "h:1", "use_proxy": True}, env={"TRIMTAB_TOKEN": "t"}).use_proxy is True
    assert replace(load_config({"server": "h:1"}, env=env), use_proxy=False).masked()["use_proxy"] == "False"
    monkeypatch.delenv("TRIMTAB_AGENT_USE_PROXY", raising=False)
    assert _config(_parser().parse_args(["config", "--server", "h:1", "--use-proxy"])).use_proxy is True
    assert _config(_parser().parse_args(["config", "--server", "h:1"])).use_proxy is False


def test_start_up_line_never_shows_proxy_credentials():
    cfg = load_config({"server": "h:1"}, env={"TRIMTAB_TOKEN": "t"})
    env = {"https_proxy": "http://user:s3cret@proxy.corp:3128", "http_proxy": "http://other:3128"}
    line = describe_proxy(cfg, env)
    assert "https_proxy (http://proxy.corp:3128)" in line and "s3cret" not in line
    assert "s3cret" not in describe_proxy(replace(cfg, use_proxy=True), env)
    assert describe_proxy(cfg, {}) == "connecting to the server directly"


@pytest.mark.parametrize(("url", "shown"), [
    ("http://user:p@ss@proxy.corp:3128", "http://proxy.corp:3128"),  # review rev15f: 'ss@proxy...' was logged
    ("http://user:se/cret@proxy.corp:3128", "(set)"),  # logged whole before
    ("proxy.corp:3128", "proxy.corp:3128"),
    ("http://[fd00::1]:3128", "http://[fd00::1]:3128"),
])
def test_a_password_with_an_at_sign_or_a_slash_never_reaches_the_log(url: str, shown: str) -> None:
    cfg = load_config({"server": "h:1"}, env={"TRIMTAB_TOKEN": "t"})
    line = describe_proxy(cfg, {"https_proxy": url})
    assert f"https_proxy ({shown})" in line and "ss@" not in line and "cret" not in line, line
