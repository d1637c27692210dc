"""Auto-import meets a job whose import lock another session holds past the wait (`server.services.
import_lock`): one WARNING line naming the workspace, the job and who holds the lock (no stack trace),
and the job is tried again at the next poll, not remembered as a job whose import failed. PostgreSQL
only (on SQLite the lock is a no-op); the real emulator and databricks-sdk, a real `AutoImport` pass."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.clock import FakeClock, SystemClock
from server.collect.discovery import AutoImport
from server.databricks import DatabricksGateway, GatewayConfig
from server.domain import ImportLimits, ImportResult
from server.services import import_lock, workspaces
from server.services.secrets import SecretBox
from server.store import Store, open_store
from tests.integration.conftest import NOOP_INIT, WIRING, etl_job


@pytest.fixture
def two(migrated_postgres_url: str) -> Iterator[tuple[Store, Store]]:
    """Two stores on one database: this server's, and another server's (its own sessions)."""
    ours, theirs = open_store(migrated_postgres_url), open_store(migrated_postgres_url)
    try:
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()


def test_a_job_locked_by_another_import_is_one_warning_and_tried_at_the_next_poll(
        two: tuple[Store, Store], emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    ours, theirs = two
    monkeypatch.setattr(import_lock, "IMPORT_LOCK_WAIT_S", 0.5)
    secrets = SecretBox(Fernet.generate_key())
    setup = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20), clock=SystemClock())
    setup.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(ours, secrets, "sbx", emulator.host, emulator.token, "aws", auto_import=True)
    job_id = setup.create_job(etl_job({**aws_cluster("m5d.xlarge", 2), "spark_version": "15.4.x-scala2.12"}))

    def import_jobs(workspace: str, ids: list[int], *, limits: ImportLimits) -> ImportResult:
        return workspaces.import_jobs(ours, secrets, workspace, ids, limits=limits, wiring=WIRING)

    clock = FakeClock()
    discovery = AutoImport(ours, import_jobs, clock=clock, interval_s=600)
    ws = ours.workspaces.get("sbx")
    gateway = workspaces.gateway_for(ours, secrets, ws)
    caplog.set_level(logging.DEBUG)
    with import_lock.job_import_lock(theirs, ws, job_id):  # another server's import of the job, hung
        first = discovery.run(ws, gateway)
    assert not first.projects and not ours.projects.list()
    said = [r for r in caplog.records if r.levelno >= logging.WARNING and f"job {job_id}" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]
    (warning,) = said
    assert warning.exc_info is None and "Traceback" not in caplog.text
    line = warning.getMessage()
    assert "\n" not in line
    assert re.fullmatch(rf"workspace sbx: auto-import of job {job_id} waits: the import of job {job_id} of workspace "
                        r"sbx is locked by another session \(the lock is held by PostgreSQL session pid \d+ \(from "
                        r"a local socket, connected since [0-9-]+ [0-9:]+ UTC, idle\)\); tried "
                        r"again at the next poll", line), line
    assert (first.locked[0].job_id, first.skipped, first.deferred) == (job_id, (), ())

    # The next poll: due at once (not after the 600 s interval), and the job, now free, is imported.
    assert discovery.due(ws)
    second = discovery.run(ws, gateway)
    assert [p.project.job_id for p in second.projects] == [job_id]
