"""Review 13b of the agent: an empty agent id file, a driver that dies mid-stage, the REST poller
behind a cluster's http_proxy, and settings out of range."""

from __future__ import annotations

import errno
import os
import socket
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from agent import durable
from agent.config import agent_id, usable_agent_id
from agent.rest import RestPoller
from tests.agent.conftest import AgentThread, agent_config


def _write_log(path: Path, lines: list[dict]) -> None:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))


APP_LINES: list[dict] = [
    {"Event": "SparkListenerLogStart", "Spark Version": "3.5.0"},
    {"Event": "SparkListenerApplicationStart", "App ID": "app-1", "App Name": "x", "Timestamp": 1000,
     "User": "u"},
    {"Event": "SparkListenerApplicationEnd", "Timestamp": 5000},
]


# -- 1. an agent_id file a full disk left empty ------------------------------------------------------
@pytest.mark.parametrize("content", [b"", b"\n", b"   ", b"\x00" * 8, b"\xff\xfe", b"a" * 300])
def test_an_unusable_agent_id_file_gets_a_new_id(tmp_path: Path, content: bytes):
    (tmp_path / "agent_id").write_bytes(content)
    aid = agent_id(tmp_path)
    assert usable_agent_id(aid) and len(aid) == 32
    assert (tmp_path / "agent_id").read_text() == aid  # replaced, so the next start keeps it
    assert agent_id(tmp_path) == aid


def test_a_usable_agent_id_is_kept(tmp_path: Path):
    (tmp_path / "agent_id").write_text("0123abcd\n")
    assert agent_id(tmp_path) == "0123abcd"


def test_a_full_disk_leaves_no_agent_id_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Written atomically: a write that fails leaves no file (was: 0 bytes, read back as "")."""
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(durable.os, "fsync", full)
        aid = agent_id(tmp_path)
    assert usable_agent_id(aid)
    assert sorted(os.listdir(tmp_path)) == []
    assert agent_id(tmp_path) != aid  # a new one next time, never ""


def test_an_empty_agent_id_file_no_longer_gets_batches_parked_by_the_real_server(tmp_path: Path):
    """The real server refuses agent_id "" (INVALID_ARGUMENT): every batch was parked for good."""
    from server.config import ServerConfig
    from server.serve import start_server

    logs = tmp_path / "logs"
    logs.mkdir()
    _write_log(logs / "app-1", APP_LINES)
    state = tmp_path / "state"
    state.mkdir()
    (state / "agent_id").write_bytes(b"")
    running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "server",
                                        db_url=f"sqlite:///{tmp_path / 'server.db'}"))
    try:
        _, token = running.store.tokens.create("agent-test", "agent")
        cfg = replace(agent_config(logs, state, running.address), token=token)
        with AgentThread(cfg) as run:
            a = run.agent
            for _ in range(500):
                if a.saved.get("single:app-1", {}).get("finished") and a.spool.pending()[0] == 0:
                    break
                a.wait_ticks(1, 5)
            run.stop()
        assert a.spool.parked() == 0 and a.spool.pending()[0] == 0
        ids = [s.agent_id for s in running.store.ingest.agents()]
        assert ids == [(state / "agent_id").read_text()] and usable_agent_id(ids[0])
    finally:
        running.stop()


# -- 3. the Spark REST poller on a cluster with an egress proxy --------------------------------------
class _SparkUi(BaseHTTPRequestHandler):
    BODIES: dict[str, object] = {
        "/api/v1/applications?status=running": [{"id": "app-1"}],
        "/api/v1/applications/app-1/executors": [{"id": "driver", "memoryUsed": 5, "maxMemory": 10}],
        "/metrics/json": {"counters": {"LiveListenerBus.queue.eventLog.numDroppedEvents": {"count": 7}}},
    }

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        data = orjson.dumps(self.BODIES.get(self.path))
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_the_rest_poller_reaches_the_driver_ui_directly_despite_http_proxy(monkeypatch: pytest.MonkeyPatch):
    ui = ThreadingHTTPServer(("127.0.0.1", 0), _SparkUi)
    threading.Thread(target=ui.serve_forever, daemon=True).start()
    try:
        proxy = f"http://127.0.0.1:{_dead_port()}"
        with monkeypatch.context() as m:
            for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
                m.setenv(name, proxy)
            m.delenv("no_proxy", raising=False)
            m.delenv("NO_PROXY", raising=False)
            poller = RestPoller(f"http://127.0.0.1:{ui.server_port}")
            events, dropped = poller.poll(1000, lambda spark_id: "app-1" if spark_id == "app-1" else None)
        assert poller.failures == 0
        assert [(e.key, e.application_id) for e in events] == [("gauges/driver/1000", "app-1")]
        assert dropped == {"eventLog": 7}
    finally:
        ui.shutdown()
        ui.server_close()
