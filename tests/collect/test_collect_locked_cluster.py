"""A job with several clusters (projects), one of them locked by another session: the others' runs are
collected and only the locked project waits (each project's run of a Databricks run is a whole `Run` of
its own, so nothing is stored half). Before, the whole job was skipped until the lock was released.
PostgreSQL (the lock held by another session), the emulator over HTTP, the real gateway on a fake clock."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock, SystemClock
from server.collect import Collector
from server.databricks import DatabricksGateway, GatewayConfig
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.collect.conftest import ETL_SPEC
from tests.collect.test_collect_locked_project import POLL_S, _OtherSession
from tests.integration.conftest import WIRING


def _two_clusters() -> dict[str, Any]:
    return {"name": "two-clusters",
            "job_clusters": [{"job_cluster_key": k, "new_cluster": dict(ETL_SPEC)} for k in ("a", "b")],
            "tasks": [{"task_key": k, "job_cluster_key": k, "spark_python_task": {"python_file": f"dbfs:/jobs/{k}.py"}}
                      for k in ("a", "b")]}


def test_only_the_locked_project_of_a_job_waits(pg_store: Store, emulator: RunningWorkspace,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    store = pg_store
    clock = FakeClock()
    monkeypatch.setattr(workspaces._integration, "clock", clock)
    monkeypatch.setattr(store, "clock", clock)  # the lock's wait runs on the fake clock
    secrets = SecretBox(Fernet.generate_key())
    admin = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20), clock=SystemClock())
    job_id = admin.create_job(_two_clusters())
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    workspaces.import_jobs(store, secrets, "sbx", [job_id], wiring=WIRING)
    by_key = {p.cluster_key: p for p in store.projects.list("sbx")}
    locked, free = by_key["a"], by_key["b"]
    run_id = admin.run_now(job_id)
    assert emulator.wait_idle(120)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=clock,
                          poll_interval_s=POLL_S)
    holder = _OtherSession(store)
    holder.lock(int(locked.id or 0))
    caplog.set_level(logging.INFO, logger="server.collect.collector")
    try:
        collected = collector.poll_once()
        # Project b's run is collected, its cursor moved; project a's waits behind its own.
        assert [(r.project_id, r.databricks_run_id) for r in collected] == [(free.id, run_id)]
        assert store.projects.get(int(free.id or 0)).last_seen_run_id == run_id
        assert store.runs.list(int(locked.id or 0)) == []
        assert store.projects.get(int(locked.id or 0)).last_seen_run_id == locked.last_seen_run_id
        said = [r.getMessage() for r in caplog.records if f"project {locked.name}" in r.getMessage()]
        assert said and "locked by another Trimtab server or database session" in said[0]
        assert not any(f"project {free.name}" in r.getMessage() and "locked" in r.getMessage()
                       for r in caplog.records)
        # Still locked at the next poll: nothing new, and b's run is not stored twice.
        clock.advance(POLL_S)
        assert collector.poll_once() == []
    finally:
        holder.release()

    clock.advance(POLL_S)
    collected = collector.poll_once()
    assert [(r.project_id, r.databricks_run_id) for r in collected] == [(locked.id, run_id)]
    assert [r.databricks_run_id for r in store.runs.list(int(free.id or 0))] == [run_id]
    assert store.projects.get(int(locked.id or 0)).last_seen_run_id == run_id
    ws = store.workspaces.get("sbx")
    assert (ws.status, ws.last_error) == ("ok", "")
