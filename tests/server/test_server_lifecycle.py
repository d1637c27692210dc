"""Durability across kill -9, and graceful shutdown (in-flight calls finish)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.trimtab.v1 import admin_pb2, admin_pb2_grpc, ingest_pb2_grpc
from server.store import open_store
from tests.server.conftest import Harness, event_batch


def _md(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def test_acknowledged_batch_survives_kill_9(server_process, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trimtab.db'}"
    store = open_store(url)
    _, agent = store.tokens.create("agent", "agent")
    _, admin = store.tokens.create("admin", "admin")
    store.close()
    first = server_process(url)
    with grpc.insecure_channel(first.address) as channel:
        ack = ingest_pb2_grpc.IngestServiceStub(channel).SendBatch(event_batch("b1", 40), metadata=_md(agent))
    assert ack.stored_events == 40
    first.proc.send_signal(signal.SIGKILL)
    assert first.proc.wait(30) == -signal.SIGKILL

    second = server_process(url)
    with grpc.insecure_channel(second.address) as channel:
        app = admin_pb2_grpc.RunServiceStub(channel).GetApplication(
            admin_pb2.GetApplicationRequest(application_id="app-1"), metadata=_md(admin))
        assert app.stage_count == 40
        again = ingest_pb2_grpc.IngestServiceStub(channel).SendBatch(event_batch("b1", 40), metadata=_md(agent))
    assert (again.stored_events, again.duplicate_events) == (0, 40)


def test_sigterm_flips_health_then_exits_cleanly(server_process, tmp_path: Path) -> None:
    proc = server_process(f"sqlite:///{tmp_path / 'trimtab.db'}")
    with grpc.insecure_channel(proc.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        proc.proc.send_signal(signal.SIGTERM)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert proc.proc.wait(30) == 0
    assert proc.proc.stdout is not None and proc.proc.stdout.read().strip() == "stopped"


class _GatedIngest:
    """The real ingest repository, held at the door until the test opens it."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def prepare(self, batch):
        return self._inner.prepare(batch)

    def write(self, batches):
        self.entered.set()
        assert self.release.wait(30)
        return self._inner.write(batches)


def test_stop_lets_in_flight_calls_finish(harness: Harness) -> None:
    gate = _GatedIngest(harness.store.ingest)
    harness.store.ingest = gate  # type: ignore[assignment]
    watch = health_pb2_grpc.HealthStub(harness.channel).Watch(health_pb2.HealthCheckRequest())
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    in_flight = harness.ingest.SendBatch.future(event_batch("b1", 25), metadata=harness.agent)
    assert gate.entered.wait(30)
    stopper = threading.Thread(target=harness.running.stop, args=(30,))
    stopper.start()
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    watch.cancel()  # an open watch stream would itself hold shutdown for the whole grace
    gate.release.set()
    assert in_flight.result(30).stored_events == 25
    stopper.join(30)
    assert harness.running.wait(0) and harness.store.applications.event_count() == 25
    # Once stopped, nothing is served.
    with pytest.raises(grpc.RpcError) as err:
        harness.ingest.SendBatch(event_batch("b2", 1, first=100), metadata=harness.agent, timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
