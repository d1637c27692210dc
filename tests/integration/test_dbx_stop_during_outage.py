"""A server stopped while its collector waits on a workspace that stopped answering stops at once.

The review's case: after `trimtab demo`, the dashboard server on the demo's directory (its sandbox no
longer running) took the whole grace (12 s) to stop on SIGTERM and logged "shutdown: the collector still
busy past the grace": its first poll was inside the gateway's retries against a host that is gone.
Real server on 127.0.0.1:0 owning its SQLite store, real collector thread and gateways on the real
clock; the workspace is a stopped sandbox emulator whose port either refuses connections or, taken by
a listener that accepts and never answers, leaves each request waiting for its read timeout.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import start_workspace
from server.clock import SystemClock
from server.config import ServerConfig
from server.databricks import DatabricksGateway, GatewayConfig
from server.serve import start_server
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import open_store
from tests.integration.conftest import NOOP_INIT, WIRING, etl_job

GRACE_S = 10.0
SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2,
        "aws_attributes": {"availability": "ON_DEMAND"}}


@dataclass
class _Silent:
    """A listener on the workspace's port that accepts connections and never answers."""

    port: int
    accepted: threading.Event = field(default_factory=threading.Event)
    held: list[socket.socket] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.held.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@dataclass
class _Gone:
    config: ServerConfig
    silent: _Silent | None


@pytest.fixture(params=["refused", "silent"])
def gone(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Gone]:
    """A server's state directory with workspace "gone" and one imported job, whose host then stopped."""
    config = ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "server", secret_key=Fernet.generate_key().decode(),
                          grace_seconds=GRACE_S)
    emulator = start_workspace(tmp_path / "workspace", speed=20000)
    try:
        gateway = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20),
                                    clock=SystemClock())
        gateway.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
        job_id = gateway.create_job(etl_job(dict(SPEC)))
        store = open_store(config.database_url)
        try:
            secrets = SecretBox.from_config(config.secret_key, config.state_dir)
            workspaces.add_workspace(store, secrets, "gone", emulator.host, emulator.token, "aws")
            workspaces.import_jobs(store, secrets, "gone", [job_id], wiring=WIRING)
        finally:
            store.close()
        port = int(emulator.host.rsplit(":", 1)[1])
    finally:
        emulator.stop()
    silent = _Silent(port) if request.param == "silent" else None
    try:
        yield _Gone(config, silent)
    finally:
        if silent is not None:
            silent.close()


def test_a_server_stops_at_once_while_its_collector_waits_on_a_workspace_that_is_gone(
        gone: _Gone, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    running = start_server(gone.config)
    # The first poll starts at once: inside the gateway's retries (refused: waiting between tries)
    # or waiting for an answer that never comes (silent: its connection taken).
    if gone.silent is not None:
        assert gone.silent.accepted.wait(30)
    time.sleep(1.0)  # well into the retries; the poll would go on for the call's 60 s budget
    assert running.collector is not None and running.collector.polls == 0
    started = time.monotonic()
    running.stop(GRACE_S)
    took = time.monotonic() - started
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert took < 3.0, (took, errors)  # was the whole grace and the floor: 12 s
    assert errors == []  # no "the collector still busy past the grace"
    # Stopped cleanly: the database closed and the server's claim on it released, so the next server
    # starts at once; and the poll cut short recorded nothing (no outage it did not see to its end).
    again = start_server(dataclasses.replace(gone.config, collect=0))
    try:
        workspace = again.store.workspaces.get("gone")
        assert (workspace.status, workspace.last_error) == ("ok", "")
        assert len(again.store.projects.list("gone")) == 1
    finally:
        again.stop(grace=1)
