"""Shared fixtures of the collection tests."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace, start_workspace
from server.clock import FakeClock, SystemClock
from server.databricks import DatabricksGateway, GatewayConfig
from server.domain import Workspace
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store, open_store
from tests.integration.conftest import NOOP_INIT, WIRING, etl_job


@pytest.fixture
def store(any_store: Store) -> Store:
    """A store (SQLite, then PostgreSQL) with one AWS workspace, ``w``, for projects to belong to."""
    any_store.workspaces.add(Workspace(name="w", host="http://x", cloud="aws"), "tok", "creds")
    return any_store


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningWorkspace]:
    """The sandbox workspace emulator over HTTP, with the integration tests' wiring (a no-op init
    script on DBFS) for imports through the real services."""
    for name in list(os.environ):  # the SDK's Config reads DATABRICKS_* for anything not passed
        if name.startswith("DATABRICKS_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(workspaces._integration, "wiring", WIRING)
    running = start_workspace(tmp_path / "workspace", speed=20000)
    try:
        DatabricksGateway(GatewayConfig(running.host, running.token, retry_timeout_s=20),
                          clock=SystemClock()).put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
        yield running
    finally:
        running.stop()


def run_and_wait(emulator: RunningWorkspace, job_id: int, token: str = "") -> None:
    """Run the job now (with ``token``, "" for the emulator's first) and wait until it has finished."""
    DatabricksGateway(GatewayConfig(emulator.host, token or emulator.token, retry_timeout_s=20),
                      clock=SystemClock()).run_now(job_id)
    assert emulator.wait_idle(120), "the emulator did not finish the run"


# A job cluster of the idle-poll tests: on demand, so nothing is lost to spot.
ETL_SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 2,
            "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


def imported_jobs_run_once(store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch,
                           count: int) -> tuple[FakeClock, SecretBox, DatabricksGateway, list[int]]:
    """``count`` ETL jobs made in the emulator, imported into workspace ``sbx`` on a fake clock, each
    run once to the end: (the clock, the secrets, an admin's gateway, the job ids)."""
    clock = FakeClock()
    monkeypatch.setattr(workspaces._integration, "clock", clock)
    secrets = SecretBox(Fernet.generate_key())
    admin = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20), clock=SystemClock())
    ids = [admin.create_job(etl_job(ETL_SPEC, name=f"job-{i}")) for i in range(count)]
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    workspaces.import_jobs(store, secrets, "sbx", ids, wiring=WIRING)
    for job_id in ids:
        admin.run_now(job_id)
    assert emulator.wait_idle(120)
    return clock, secrets, admin, ids


class CountedGateway:
    """The real gateway, its public calls counted by name (``per_job``: ``get_job`` by job id too,
    as ``"get_job <id>"``)."""

    def __init__(self, inner: Any, calls: Counter[str], *, per_job: bool = False) -> None:
        self._inner, self._calls, self._per_job = inner, calls, per_job

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls[name] += 1
            if name == "get_job" and self._per_job:
                self._calls[f"get_job {args[0]}"] += 1
            return attr(*args, **kwargs)

        return counted


# A PostgreSQL store of a test's own (the lock tests need a second session on the same database).
@pytest.fixture
def pg_store(migrated_postgres_url: str) -> Iterator[Store]:
    opened = open_store(migrated_postgres_url)
    try:
        yield opened
    finally:
        opened.close()
