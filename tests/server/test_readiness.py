"""Readiness follows the database and the collector (`server.readiness`).

Before, gRPC health stayed SERVING for every service while the database refused every connection
(only a stalled ingest writer, with batches waiting 30 s, changed it), the dashboard's ``/healthz``
answered a fixed "200 ok", and a collector whose every poll failed showed nowhere a probe looks.
The database is made unreachable as an operator found it: ``ALTER DATABASE ... ALLOW_CONNECTIONS
false`` and every session of it ended. Time is a `FakeClock` the test advances.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import psycopg
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from server.clock import FakeClock
from server.config import ServerConfig
from server.domain import Project, Workspace
from server.readiness import COLLECTOR_SERVICE, DB_PROBE_INTERVAL_S, DatabaseProbe, Readiness
from server.serve import SERVICE_NAMES, RunningServer, start_server
from server.services.secrets import SecretBox
from server.store import Store
from server.store.activity import commits

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
EVERY_SERVICE = ("", *SERVICE_NAMES)


class Cutoff:
    """One PostgreSQL database refusing every connection, its open sessions ended, and back."""

    def __init__(self, admin_url: str, url: str) -> None:
        self._admin = psycopg.connect(admin_url, autocommit=True)
        self.name = sa.make_url(url).database

    def cut(self) -> None:
        self._admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self._admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()", (self.name,))

    def restore(self) -> None:
        self._admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    def close(self) -> None:
        self.restore()
        self._admin.close()


@pytest.fixture
def cutoff(postgres_url: str, migrated_postgres_url: str) -> Iterator[Cutoff]:
    c = Cutoff(postgres_url, migrated_postgres_url)
    yield c
    c.close()


def _status(running: RunningServer, service: str) -> int:
    with grpc.insecure_channel(running.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return reply.status  # type: ignore[no-any-return]


def _statuses(running: RunningServer) -> set[int]:
    return {_status(running, name) for name in EVERY_SERVICE}


def _healthz(running: RunningServer) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(running.dashboard.url + "healthz", timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "server.readiness"]


def _look(running: RunningServer, clock: FakeClock, count: int) -> None:
    """Let the readiness thread make its ``count``-th look of the database."""
    clock.advance(DB_PROBE_INTERVAL_S)
    assert running.readiness_thread is not None
    assert running.readiness_thread.probe.wait_for_looks(count, 30), f"no look {count} within 30s"


def test_health_follows_a_database_that_refuses_every_connection(
        migrated_postgres_url: str, cutoff: Cutoff, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    config = ServerConfig(listen="127.0.0.1:0", http="127.0.0.1:0", state_dir=tmp_path / "state",
                          db_url=migrated_postgres_url, collect=0, db_timeout_seconds=5, db_busy_timeout_ms=1000)
    running = start_server(config, clock=clock)
    caplog.set_level(logging.WARNING, logger="server.readiness")
    try:
        assert _statuses(running) == {SERVING}
        assert _healthz(running) == (200, {"status": "ok"})
        _look(running, clock, 1)  # start-up's own commits (the dashboard's warm-up) count as answers
        cutoff.cut()
        _look(running, clock, 2)
        assert _statuses(running) == {SERVING}  # one failed look is a blip
        _look(running, clock, 3)
        # Before: SERVING for every service, whatever the database did.
        assert _statuses(running) == {NOT_SERVING}
        status, body = _healthz(running)
        assert (status, body) == (503, {"status": "unavailable", "reasons": ["database not answering"]})
        assert cutoff.name not in json.dumps(body)  # /healthz takes no token: the driver's words stay in the log
        (down,) = _said(caplog)
        assert running.store.url in down and "not currently accepting connections" in down, down
        assert "health NOT_SERVING" in down
        _look(running, clock, 4)
        assert len(_said(caplog)) == 1  # said when it flips, not at every look
        cutoff.restore()
        _look(running, clock, 5)  # the first look that answers: SERVING again
        assert _statuses(running) == {SERVING}
        assert _healthz(running) == (200, {"status": "ok"})
        assert _said(caplog)[1:] == [
            f"database {running.store.url} answers again: health SERVING"]
    finally:
        running.stop(grace=1)


def test_no_look_at_the_database_while_other_calls_reach_it(sqlite_store: Store) -> None:
    clock = FakeClock()
    servicer = health.HealthServicer()
    pings: list[float] = []

    def ping() -> None:
        pings.append(clock.monotonic())
        sqlite_store.ping()

    probe = DatabaseProbe(Readiness(servicer, SERVICE_NAMES), ping, commits(sqlite_store.engine), clock, "db")
    probe.tick()
    assert pings == []  # not due yet
    clock.advance(DB_PROBE_INTERVAL_S)
    probe.tick()
    assert len(pings) == 1  # nothing else reached the database: asked
    sqlite_store.tokens.create("ci", "admin")  # a busy server's own calls
    clock.advance(DB_PROBE_INTERVAL_S)
    probe.tick()
    assert len(pings) == 1  # a commit meanwhile says the database answers: not asked
    clock.advance(DB_PROBE_INTERVAL_S)
    probe.tick()
    assert len(pings) == 2  # quiet again (the probe's own commit does not count as another call)


def _check(servicer: health.HealthServicer, service: str) -> int:
    return servicer.Check(health_pb2.HealthCheckRequest(service=service), None).status  # type: ignore[arg-type]


def test_draining_wins_over_a_database_that_answers_again(sqlite_store: Store) -> None:
    clock = FakeClock()
    servicer = health.HealthServicer()
    readiness = Readiness(servicer, SERVICE_NAMES)
    readiness.start()
    answers = [False]

    def ping() -> None:
        if not answers[0]:
            raise ConnectionError("refused")
        sqlite_store.ping()

    probe = DatabaseProbe(readiness, ping, commits(sqlite_store.engine), clock, "db", failures=1)
    clock.advance(DB_PROBE_INTERVAL_S)
    probe.tick()
    assert {_check(servicer, name) for name in EVERY_SERVICE} == {NOT_SERVING}
    readiness.drain()  # SIGTERM
    answers[0] = True
    clock.advance(DB_PROBE_INTERVAL_S)
    probe.tick()
    assert {_check(servicer, name) for name in EVERY_SERVICE} == {NOT_SERVING}
    assert readiness.state() == (False, {"status": "unavailable", "reasons": ["shutting down"]})


def test_an_ingest_stall_and_the_database_are_both_needed_clear(sqlite_store: Store) -> None:
    servicer = health.HealthServicer()
    readiness = Readiness(servicer, SERVICE_NAMES)
    readiness.start()
    readiness.set_problem("ingest", "ingest stalled", ("", SERVICE_NAMES[0]))
    assert _check(servicer, "") == NOT_SERVING and _check(servicer, SERVICE_NAMES[1]) == SERVING
    readiness.set_problem("database", "database not answering")
    readiness.set_problem("ingest", None, ("", SERVICE_NAMES[0]))  # the writer commits: the database still down
    assert {_check(servicer, name) for name in EVERY_SERVICE} == {NOT_SERVING}
    readiness.set_problem("database", None)
    assert {_check(servicer, name) for name in EVERY_SERVICE} == {SERVING}


def test_a_collector_whose_every_poll_fails_is_not_serving_on_its_own_name(
        any_store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A token encrypted with a key this server does not have (the secret key lost): every poll fails.
    box = SecretBox(Fernet.generate_key())
    any_store.workspaces.add(Workspace(name="sb", host="https://adb-1.cloud.databricks.com", cloud="aws"),
                             box.encrypt("dapi-secret"))
    project = any_store.projects.add(Project(workspace="sb", job_id=12, cluster_key="main"))
    clock = FakeClock()
    config = ServerConfig(listen="127.0.0.1:0", http="127.0.0.1:0", state_dir=tmp_path / "state",
                          secret_key=Fernet.generate_key().decode(), collect_interval_seconds=60)
    caplog.set_level(logging.WARNING, logger="server.readiness")
    running = start_server(config, any_store, clock=clock)
    try:
        collector = running.collector
        assert collector.wait_for_poll(1, 30)
        assert _status(running, COLLECTOR_SERVICE) == SERVING  # failing, but not for long yet
        clock.advance(3 * 60 + 1)
        collector.wake()
        assert collector.wait_for_poll(2, 30)
        # Before: no such name (NOT_FOUND), and nothing a probe could watch.
        assert _status(running, COLLECTOR_SERVICE) == NOT_SERVING
        assert _statuses(running) == {SERVING}  # the server itself stays in readiness: agents still send
        status, body = _healthz(running)
        assert status == 200 and body["status"] == "ok" and str(body["collector"]).startswith("every poll failing")
        (line,) = _said(caplog)
        assert "workspace sb" in line and f"health {COLLECTOR_SERVICE} NOT_SERVING" in line, line
        # The workspace is removed: the next poll has nothing that fails, and works.
        any_store.projects.remove_unused(int(project.id or 0))
        assert not any_store.workspaces.remove("sb").attached
        collector.wake()
        assert collector.wait_for_poll(3, 30)
        assert _status(running, COLLECTOR_SERVICE) == SERVING
        assert _healthz(running)[1]["collector"] == "ok"
    finally:
        running.stop(grace=1)


def test_a_collector_on_a_database_that_refuses_connections_is_not_serving(
        migrated_postgres_url: str, cutoff: Cutoff, tmp_path: Path) -> None:
    clock = FakeClock()
    config = ServerConfig(listen="127.0.0.1:0", state_dir=tmp_path / "state", db_url=migrated_postgres_url,
                          collect_interval_seconds=60, db_timeout_seconds=5, db_busy_timeout_ms=1000)
    running = start_server(config, clock=clock)
    try:
        collector = running.collector
        assert collector.wait_for_poll(1, 30)
        assert _status(running, COLLECTOR_SERVICE) == SERVING
        cutoff.cut()
        collector.wake()
        assert collector.wait_for_poll(2, 30)  # failed: the database refuses (the start of the failing)
        clock.advance(3 * 60 + 1)
        collector.wake()
        assert collector.wait_for_poll(3, 30)
        assert _status(running, COLLECTOR_SERVICE) == NOT_SERVING
        cutoff.restore()
        collector.wake()
        assert collector.wait_for_poll(4, 30)
        assert _status(running, COLLECTOR_SERVICE) == SERVING
    finally:
        running.stop(grace=1)
