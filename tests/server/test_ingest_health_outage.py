"""Health stays NOT_SERVING through a continuing database outage, until the database answers.

Agents back off while their batches fail. With nothing waiting any more, the writer no longer
read as stalled, so health went back to SERVING and the log said "ingest writer commits again"
though the database was still down and nothing had committed. Now health is SERVING again only
after a commit, or, when no batch waits, after the database takes a write transaction.

PostgreSQL through a small TCP relay the test takes down (every connection cut, new ones closed at
once: a database restarting or out of reach) and brings back; and SQLite with its write lock held.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.trimtab.v1 import ingest_pb2_grpc
from server.config import ServerConfig
from server.errors import Unavailable
from server.serve import RunningServer, start_server
from server.store import Store, open_store
from tests.server.conftest import event_batch
from tests.store.blackhole import relay_endpoints

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
STALL_S = 1.0


class SwitchRelay:
    """A TCP relay to PostgreSQL that can be switched off (every open connection cut, a new one
    closed as soon as it is accepted) and on again."""

    def __init__(self, postgres_url: str) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._upstream, self.url = relay_endpoints(postgres_url, self._listener)
        self._lock = threading.Lock()
        self._down = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name="switch-relay", daemon=True).start()

    def down(self) -> None:
        with self._lock:
            self._down = True
            sockets, self._sockets = self._sockets, []
        _close(sockets)

    def up(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self.down()
        _close([self._listener])

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._down:
                    _close([client])
                    continue
                family, address = self._upstream
                server = socket.socket(family, socket.SOCK_STREAM)
                server.connect(address)
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        _close([src, dst])


def _close(sockets: list[socket.socket]) -> None:
    for s in sockets:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()


def _wait(what: str, seconds: float, ok: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not ok():
        assert time.monotonic() < deadline, f"not {what} after {seconds}s"
        time.sleep(0.05)


class _Server:
    def __init__(self, running: RunningServer, token: str) -> None:
        self.running = running
        self._channel = grpc.insecure_channel(running.address)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._ingest = ingest_pb2_grpc.IngestServiceStub(self._channel)
        self._md = (("authorization", f"Bearer {token}"),)
        self._sent = 0

    def status(self, service: str = "") -> int:
        return self._health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status

    def send(self) -> grpc.StatusCode:
        """One batch, as an agent sends it; OK or the code it failed with."""
        self._sent += 1
        try:
            self._ingest.SendBatch(event_batch(f"b{self._sent}", 5, first=self._sent * 5), metadata=self._md,
                                   timeout=5)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[attr-defined, no-any-return]
        return grpc.StatusCode.OK

    def stall(self) -> None:
        """Send into the outage (every batch refused) until health says NOT_SERVING."""
        deadline = time.monotonic() + 15
        while self.status() != NOT_SERVING:
            assert time.monotonic() < deadline, "not NOT_SERVING after 15s of refused batches"
            assert self.send() != grpc.StatusCode.OK
            time.sleep(0.05)
        assert self.status("trimtab.v1.IngestService") == NOT_SERVING

    def close(self) -> None:
        self._channel.close()
        self.running.stop(grace=2)


@pytest.fixture
def relay(postgres_schema_url: str) -> Iterator[SwitchRelay]:
    r = SwitchRelay(postgres_schema_url)
    yield r
    r.close()


@pytest.fixture
def server(relay: SwitchRelay, tmp_path: Path) -> Iterator[_Server]:
    config = ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state", db_url=relay.url, collect=0,
                          db_timeout_seconds=2.0, ingest_stall_seconds=STALL_S, db_busy_timeout_ms=1000)
    running = start_server(config)
    _, token = running.store.tokens.create("agent", "agent")
    s = _Server(running, token)
    yield s
    s.close()


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "server.serve"]


def test_health_stays_not_serving_while_the_database_is_down_and_nothing_waits(
        server: _Server, relay: SwitchRelay, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="server.serve")
    assert server.send() == grpc.StatusCode.OK
    assert server.status() == SERVING
    relay.down()
    server.stall()
    # The agents back off: nothing waits. The outage continues: health stays NOT_SERVING (before:
    # SERVING again once nothing had waited STALL_S, logged as "ingest writer commits again").
    until = time.monotonic() + 4 * STALL_S + 1
    while time.monotonic() < until:
        assert server.status() == NOT_SERVING
        assert server.status("trimtab.v1.IngestService") == NOT_SERVING
        time.sleep(0.1)
    lines = _lines(caplog)
    assert not [line for line in lines if line.startswith("ingest writer commits again") or line.endswith("health SERVING")], lines
    still = [line for line in lines if line.startswith("ingest still stalled: no batch is waiting")]
    assert len(still) == 1, lines  # said once, not at every check
    assert "health stays NOT_SERVING" in still[0]
    # The database is back; no agent has sent anything yet: the check finds it, health SERVING.
    relay.up()
    _wait("SERVING once the database answers", 10, lambda: server.status() == SERVING)
    assert server.status("trimtab.v1.IngestService") == SERVING
    assert [line for line in _lines(caplog) if "SERVING" in line and "NOT_SERVING" not in line] == [
        "ingest: the database takes writes again (checked; no batch was waiting): health SERVING"]
    assert server.send() == grpc.StatusCode.OK


def test_health_serving_again_when_the_writer_commits(
        server: _Server, relay: SwitchRelay, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="server.serve")
    assert server.send() == grpc.StatusCode.OK
    relay.down()
    server.stall()
    relay.up()
    # Agents resending: the first commit ends the stall, said as such.
    _wait("a batch acknowledged", 15, lambda: server.send() == grpc.StatusCode.OK)
    _wait("SERVING after the commit", 5, lambda: server.status() == SERVING)
    serving = [line for line in _lines(caplog) if "SERVING" in line and "NOT_SERVING" not in line]
    assert serving == ["ingest writer commits again: health SERVING"], _lines(caplog)


def test_the_write_check_fails_while_sqlite_is_locked(tmp_path: Path) -> None:
    """The check takes the write lock (a read would pass while writes cannot)."""
    store: Store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}", busy_timeout_ms=200)
    try:
        store.ingest.check_writable()
        store.ping()
        holder = sa.create_engine(f"sqlite:///{tmp_path / 'trimtab.db'}", isolation_level=None)
        with holder.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            with pytest.raises(Unavailable):
                store.ingest.check_writable()
            store.ping()  # reads still pass
            conn.exec_driver_sql("ROLLBACK")
        holder.dispose()
        store.ingest.check_writable()
    finally:
        store.close()
