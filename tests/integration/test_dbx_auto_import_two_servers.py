"""Two servers on one PostgreSQL database, each with auto-import on, find the same new job in the same
moment. Both onboarded it and each sent its own jobs/update (its own TRIMTAB_SERVER), so Databricks held
the second server's wiring while the store recorded the first's. The import of a job now holds that job's
lock across servers (`server.services.import_lock`) from reading it to recording its projects, and
auto-import checks again under it: the second server finds the first one's project and leaves the job.

Two import services on two stores (two engines: two database sessions, as two server processes have) over
one PostgreSQL database and one workspace emulator, each a real `AutoImport` pass on its own thread."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.clock import SystemClock
from server.collect.discovery import AutoImport
from server.databricks import DatabricksGateway, GatewayConfig
from server.domain import ImportLimits, ImportResult
from server.onboard import SERVER_ENV
from server.services import workspaces
from server.services.job_import import REASON_IMPORTED_ELSEWHERE
from server.services.secrets import SecretBox
from server.spec import find_cluster_spec
from server.store import Store, open_store
from tests.integration.conftest import NOOP_INIT, WIRING, etl_job

WIRINGS = {"a": dataclasses.replace(WIRING, server_address="10.0.0.1:50051"),
           "b": dataclasses.replace(WIRING, server_address="10.0.0.2:50051")}


@pytest.fixture
def stores(migrated_postgres_url: str) -> Iterator[dict[str, Store]]:
    """Server a's and server b's stores on one database (PostgreSQL only: SQLite is one server's)."""
    opened = {name: open_store(migrated_postgres_url) for name in WIRINGS}
    try:
        yield opened
    finally:
        for store in opened.values():
            store.close()


class _Meeting:
    """Each server's gateway: its first jobs/get of the new job waits (at most 3 s) until the other server's
    has been made too, so both read it before either onboards it, as two passes in the same moment do; every
    jobs/update is counted."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=3)
        self.updates: list[tuple[str, int]] = []
        self._met: set[str] = set()

    def gateway(self, inner: DatabricksGateway, server: str) -> Any:
        meeting = self

        class Gateway:
            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

            def get_job(self, job_id: int) -> dict[str, Any]:
                if server not in meeting._met:
                    meeting._met.add(server)
                    # Broken: the other server waits for this job's lock instead, and reads the job after.
                    with contextlib.suppress(threading.BrokenBarrierError):
                        meeting.barrier.wait()
                return inner.get_job(job_id)

            def update_job(self, job_id: int, update: dict[str, Any]) -> None:
                meeting.updates.append((server, job_id))
                inner.update_job(job_id, update)

        return Gateway()


def test_two_servers_auto_import_a_new_job_once(stores: dict[str, Store], emulator: RunningWorkspace,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    secrets = SecretBox(Fernet.generate_key())  # both servers' key: they share the database's secrets
    setup = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20), clock=SystemClock())
    setup.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(stores["a"], secrets, "sbx", emulator.host, emulator.token, "aws", auto_import=True)
    job_id = setup.create_job(etl_job({**aws_cluster("m5d.xlarge", 2), "spark_version": "15.4.x-scala2.12"}))

    meeting = _Meeting()
    server_of = threading.local()
    real = workspaces._integration.gateway_factory

    def factory(config: GatewayConfig, clock: Any) -> Any:
        return meeting.gateway(real(config, clock), server_of.name)

    monkeypatch.setattr(workspaces._integration, "gateway_factory", factory)

    def importer(name: str) -> Callable[..., ImportResult]:
        def import_jobs(workspace: str, ids: list[int], *, limits: ImportLimits) -> ImportResult:
            return workspaces.import_jobs(stores[name], secrets, workspace, ids, limits=limits, wiring=WIRINGS[name])
        return import_jobs

    results: dict[str, ImportResult] = {}
    errors: list[BaseException] = []

    def auto_import(name: str) -> None:
        server_of.name = name
        try:
            store = stores[name]
            ws = store.workspaces.get("sbx")
            gateway = workspaces.gateway_for(store, secrets, ws)
            results[name] = AutoImport(store, importer(name), clock=SystemClock()).run(ws, gateway)
        except BaseException as err:  # reported by the test, not lost with the thread
            errors.append(err)

    caplog.set_level(logging.INFO, logger="server.services.workspaces")
    threads = [threading.Thread(target=auto_import, args=(name,), name=f"server-{name}") for name in WIRINGS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors

    # Was: both servers onboarded the job, each with its own jobs/update ([("a", 7), ("b", 7)]).
    assert [job for _, job in meeting.updates] == [job_id]
    (winner,) = [name for name, result in results.items() if result.projects]
    (loser,) = set(WIRINGS) - {winner}
    assert [p.project.job_id for p in results[winner].projects] == [job_id]
    assert [(s.job_id, s.reason) for s in results[loser].skipped] == [(job_id, REASON_IMPORTED_ELSEWHERE)]
    assert any("already imported by another server" in r.getMessage() and r.levelno == logging.INFO
               for r in caplog.records)
    # The job and the store agree: the winner's wiring, recorded as the project's spec.
    (project,) = stores[loser].projects.list()
    live = find_cluster_spec(setup.get_job(job_id)["settings"], "main")
    assert live is not None
    assert live["spark_env_vars"][SERVER_ENV] == WIRINGS[winner].server_address
    assert project.current_spec["spark_env_vars"][SERVER_ENV] == WIRINGS[winner].server_address
