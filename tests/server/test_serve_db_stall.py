"""A PostgreSQL connection that stops answering no longer wedges ingest for good.

Through a relay that black-holes every open connection (as a failover or partition without a
reset does): acknowledgements stopped forever, health still said SERVING, and SIGTERM hung on
the writer. Now the stuck transaction fails within ``db_timeout_seconds``, health says
NOT_SERVING while batches wait without a commit, the writer reconnects and health is SERVING
again, and stop returns within its grace even with the writer stuck.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.trimtab.v1 import ingest_pb2_grpc
from server.config import ServerConfig
from server.serve import RunningServer, start_server
from server.store import open_store
from tests.server.conftest import event_batch
from tests.store.blackhole import BlackHoleRelay

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


class _Agent:
    """Sends batch after batch, retrying each until acknowledged, like an agent does."""

    def __init__(self, address: str, token: str) -> None:
        self._channel = grpc.insecure_channel(address)
        self._stub = ingest_pb2_grpc.IngestServiceStub(self._channel)
        self._md = (("authorization", f"Bearer {token}"),)
        self.acked = 0
        self.codes: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        b = 0
        while not self._stop.is_set():
            try:
                self._stub.SendBatch(event_batch(f"b{b}", 20, first=b * 20), metadata=self._md, timeout=5)
                self.acked += 1
                b += 1
            except grpc.RpcError as exc:
                self.codes.append(exc.code().name)
                time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._channel.close()


def _wait(what: str, seconds: float, ok) -> float:
    started = time.monotonic()
    while not ok():
        assert time.monotonic() - started < seconds, f"not {what} after {seconds}s"
        time.sleep(0.05)
    return time.monotonic() - started


def _blackhole_inside_the_next_write(running: RunningServer, relay: BlackHoleRelay) -> None:
    """Black-hole the relay as the ingest writer begins its next transaction, so that it is caught in
    the middle of a transaction (between transactions, the check-out ping would just replace the
    connection). Its first statement is swallowed like the rest."""
    fired = threading.Event()

    def before(*_args: object) -> None:
        if threading.current_thread().name == "trimtab-ingest-writer" and not fired.is_set():
            fired.set()
            relay.blackhole()

    sa.event.listen(running.store.engine, "begin", before)


@pytest.fixture
def relay(postgres_schema_url: str) -> Iterator[BlackHoleRelay]:
    r = BlackHoleRelay(postgres_schema_url)
    yield r
    r.close()  # frees anything still stuck on a black hole, so a failing test cannot hang


def test_a_database_that_stops_answering_stalls_ingest_only_for_a_while(
        relay: BlackHoleRelay, postgres_schema_url: str, tmp_path: Path) -> None:
    config = ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state", db_url=relay.url, collect=0,
                          db_timeout_seconds=2.0, ingest_stall_seconds=1.0, db_busy_timeout_ms=1000)
    running: RunningServer = start_server(config)
    _, token = running.store.tokens.create("agent", "agent")
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(running.address))

    def status(service: str = "") -> int:
        return health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status

    agent = _Agent(running.address, token)
    stopper: threading.Thread | None = None
    try:
        _wait("acknowledging", 15, lambda: agent.acked >= 5)
        assert status() == SERVING
        _blackhole_inside_the_next_write(running, relay)
        stuck_at = agent.acked
        # Stalled: health says so (the whole server and IngestService) instead of SERVING.
        _wait("NOT_SERVING", 10, lambda: status() == NOT_SERVING)
        assert status("trimtab.v1.IngestService") == NOT_SERVING
        assert agent.acked <= stuck_at + 1
        # The stuck transaction fails within its deadline; the writer reconnects and commits again.
        _wait("acknowledging again", 15, lambda: agent.acked >= stuck_at + 5)
        _wait("SERVING again", 5, lambda: status() == SERVING)
        assert "UNAVAILABLE" in agent.codes or "DEADLINE_EXCEEDED" in agent.codes
        agent.stop()
        # Every acknowledged batch is stored (the one cut off was resent and de-duplicated).
        check = open_store(postgres_schema_url)
        try:
            assert check.applications.event_count() == agent.acked * 20
        finally:
            check.close()

        # Shutdown with the writer stuck on a dead connection returns within its grace (it hung).
        _blackhole_inside_the_next_write(running, relay)
        caller: list[str] = []

        def send() -> None:
            try:
                ingest_pb2_grpc.IngestServiceStub(grpc.insecure_channel(running.address)).SendBatch(
                    event_batch("late", 20, first=100_000), metadata=(("authorization", f"Bearer {token}"),))
                caller.append("OK")
            except grpc.RpcError as exc:
                caller.append(exc.code().name)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        _wait("NOT_SERVING", 10, lambda: status() == NOT_SERVING)  # the writer is stuck now
        started = time.monotonic()
        stopper = threading.Thread(target=running.stop, args=(0.5,), daemon=True)
        stopper.start()
        stopper.join(5)
        assert not stopper.is_alive(), "stop hung on the stuck writer"
        assert time.monotonic() - started < 1.5
        sender.join(5)
        assert caller and caller[0] != "OK"  # not acknowledged: its agent resends it
    finally:
        agent.stop()
        relay.close()
        if stopper is None:
            running.stop(0)
