"""An import whose project locks were lost with their database session (pg_terminate_backend, an
idle_session_timeout, a failover) between taking them and writing the job: another server may be
onboarding the job too, so the import sends nothing to the job, as apply and revert do
(`server.apply_lock.verify_project_lock`). Before, its jobs/update went out all the same."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.seed import aws_cluster
from server.clock import SystemClock
from server.databricks import DatabricksGateway, GatewayConfig
from server.errors import Unavailable
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from server.store.locks import PROJECT_NAMESPACE
from tests.integration.conftest import NOOP_INIT, WIRING, etl_job


@pytest.fixture
def store(postgres_store: Store) -> Store:
    """PostgreSQL only (`postgres_store`)."""
    return postgres_store


def _end_project_lock_sessions(store: Store) -> int:
    """End every session of this database holding a project lock; how many were ended."""
    with store.engine.connect() as conn:
        ended = conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = CAST(CAST(:ns AS integer) AS oid)"), {"ns": PROJECT_NAMESPACE}).scalars().all()
        conn.commit()
    return len(ended)


def test_an_import_whose_project_lock_was_lost_sends_nothing_to_the_job(
        store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = SecretBox(Fernet.generate_key())
    setup = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20), clock=SystemClock())
    setup.put_dbfs_file("/trimtab/test-init.sh", NOOP_INIT)
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    job_id = setup.create_job(etl_job({**aws_cluster("m5d.xlarge", 2), "spark_version": "15.4.x-scala2.12"}))
    before = setup.get_job(job_id)["settings"]

    real = workspaces._integration.gateway_factory
    sent: list[int] = []
    ended: list[int] = []

    def factory(config: GatewayConfig, clock: Any) -> Any:
        inner = real(config, clock)
        reads = [0]

        class Gateway:
            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

            def get_job(self, job_id: int) -> dict[str, Any]:
                reads[0] += 1
                if reads[0] == 2:  # the read again under the projects' locks: the session ends now
                    ended.append(_end_project_lock_sessions(store))
                return inner.get_job(job_id)

            def update_job(self, job_id: int, update: dict[str, Any]) -> None:
                sent.append(job_id)
                inner.update_job(job_id, update)

        return Gateway()

    monkeypatch.setattr(workspaces._integration, "gateway_factory", factory)
    try:
        result = workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    except Unavailable as err:
        message = str(err)
    else:
        assert not result.projects
        (skipped,) = result.skipped
        message = skipped.reason
    assert ended == [1]
    assert "its lock was lost during the block" in message and "stopped before onboarding the job" in message
    assert sent == []  # was: [job_id], the job written while another server could hold its lock
    assert setup.get_job(job_id)["settings"] == before
    assert store.projects.list() == []  # the project made for it is taken back
