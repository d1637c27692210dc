"""Review 13b of the agent: an empty agent id file, a driver that dies mid-stage, the REST poller
behind a cluster's http_proxy, and settings out of range."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from agent import durable
from agent.config import ConfigError, agent_id, load_config, usable_agent_id
from agent.rest import RestPoller
from tests.agent.conftest import REPO, AgentThread, agent_config


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


# -- 4. numeric and address settings out of range ----------------------------------------------------
@pytest.mark.parametrize(("env", "words"), [
    ({"TRIMTAB_AGENT_POLL_S": "0"}, r"poll_interval_s \(env TRIMTAB_AGENT_POLL_S\).*at least 0.01"),
    ({"TRIMTAB_AGENT_POLL_S": "-1"}, r"poll_interval_s.*at least 0.01"),
    ({"TRIMTAB_AGENT_POLL_S": "nan"}, r"poll_interval_s.*finite"),
    ({"TRIMTAB_AGENT_RPC_TIMEOUT_S": "0"}, r"rpc_timeout_s.*at least 1"),
    ({"TRIMTAB_AGENT_SPOOL_BYTES": "0"}, r"spool_max_bytes.*at least 1048576"),
    ({"TRIMTAB_AGENT_BATCH_EVENTS": "0"}, r"batch_max_events.*at least 1 and at most 20000"),
    ({"TRIMTAB_AGENT_BATCH_EVENTS": "20001"}, r"batch_max_events.*at most 20000"),
    ({"TRIMTAB_AGENT_READ_BUDGET": "-5"}, r"read_budget_bytes.*at least 4096"),
    ({"TRIMTAB_AGENT_MAX_LINE": "100"}, r"max_line_bytes.*at least 1048576"),
    ({"TRIMTAB_AGENT_BACKOFF_BASE_S": "0"}, r"backoff_base_s.*at least 0.01"),
    ({"TRIMTAB_AGENT_BATCH_AGE_S": "-1"}, r"batch_max_age_s.*at least 0"),
    ({"TRIMTAB_AGENT_SHUTDOWN_FLUSH_S": "inf"}, r"shutdown_flush_s.*finite"),
    ({"TRIMTAB_SERVER": "http://trimtab:50051"}, r"server \(env TRIMTAB_SERVER\).*without a scheme"),
    ({"TRIMTAB_SERVER": "trimtab:50051/"}, r"server.*must be host:port"),
    ({"TRIMTAB_SERVER": "trimtab"}, r"server.*must be host:port"),
    ({"TRIMTAB_SERVER": "trimtab:99999"}, r"server.*port 99999"),
])
def test_settings_out_of_range_are_refused_naming_the_setting(env: dict[str, str], words: str):
    with pytest.raises(ConfigError, match=words):
        load_config({}, env=env)


def test_settings_in_range_and_addresses_are_kept(tmp_path: Path):
    cfg = load_config({}, env={"TRIMTAB_SERVER": " trimtab.example.com:50051\n", "TRIMTAB_AGENT_POLL_S": "0.01",
                               "TRIMTAB_AGENT_BATCH_AGE_S": "0", "TRIMTAB_AGENT_SPOOL_BYTES": str(1024 * 1024)})
    assert (cfg.server, cfg.poll_interval_s, cfg.batch_max_age_s) == ("trimtab.example.com:50051", 0.01, 0.0)
    for address in ("127.0.0.1:1", "[::1]:50051", "my-host_1.internal:443"):
        assert load_config({"server": address}, env={}).server == address
    f = tmp_path / "agent.json"
    f.write_text('{"rpc_timeout_s": 0.5}')
    with pytest.raises(ConfigError, match=rf"rpc_timeout_s.*from config file {f}.*at least 1"):
        load_config({}, env={}, file=f)


def test_the_agent_refuses_to_start_with_a_setting_out_of_range(tmp_path: Path):
    """Exit 2 at start, like a value of the wrong type (the init script reports it, and its supervisor
    does not restart the agent)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIMTAB_")}
    env.update(TRIMTAB_TOKEN="t", TRIMTAB_AGENT_POLL_S="0", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "run", "--eventlog-dir", str(tmp_path),
                           "--server", "127.0.0.1:1", "--state-dir", str(tmp_path / "state")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "bad configuration: bad value '0' for setting poll_interval_s (env TRIMTAB_AGENT_POLL_S)" in proc.stderr
    assert not (tmp_path / "state").exists()
