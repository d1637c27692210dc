"""The idle poll's listings (server.collect.look_over) must never cost a finished run hours.

- A poll that ends part-way (the workspace failing on a later job's call, one job's call refused)
  after the listing moved the watermark past a job's new run: the next poll reads that job in full
  and collects the run (it waited for the periodic full read, 2-4 hours later).
- A 5xx on the runs listing across jobs, while every job's own calls answer: every job is read in
  full that poll and the workspace stays ok (it was marked unreachable and nothing was collected).
"""

from __future__ import annotations

import time

import pytest
from cryptography.fernet import Fernet

from server.clock import FakeClock, SystemClock
from server.collect import Collector
from server.databricks import DatabricksGateway, GatewayConfig
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.collect.conftest import ETL_SPEC, imported_jobs_run_once
from tests.integration.conftest import WIRING, etl_job


def _setup(store: Store, emulator, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
           jobs: int) -> tuple[FakeClock, DatabricksGateway, list[int], Collector]:
    clock, secrets, admin, ids = imported_jobs_run_once(store, emulator, monkeypatch, jobs)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=clock,
                          poll_interval_s=60)
    collector.poll_once()  # every job read in full: the watermark is set
    collector.poll_once()
    return clock, admin, ids, collector


def _jobs(store: Store, runs: list) -> list[int]:  # type: ignore[type-arg]
    return sorted(store.projects.get(r.project_id).job_id for r in runs)


@pytest.mark.parametrize("fault", ["jobs/get 503", "runs/get 400"])
def test_a_poll_that_ends_before_reading_a_job_reads_it_at_the_next_poll(
        store: Store, emulator, monkeypatch: pytest.MonkeyPatch, fault: str) -> None:  # noqa: ANN001
    clock, admin, (a, b, c), collector = _setup(store, emulator, monkeypatch, 3)
    run_b = admin.run_now(b)
    assert emulator.wait_idle(120)
    time.sleep(0.2)  # about an hour on the emulator's clock: B's run falls behind the next watermark
    admin.run_now(a)
    admin.run_now(c)
    assert emulator.wait_idle(120)
    if fault == "jobs/get 503":  # the workspace overloaded: the poll stops at B
        injected = emulator.inject_fault("GET", "jobs/get", status=503, error_code="TEMPORARILY_UNAVAILABLE",
                                         job_id=b)
    else:  # one call of B's refused: B is skipped, the poll goes on
        injected = emulator.inject_fault("GET", "jobs/runs/get", status=400, error_code="INVALID_PARAMETER_VALUE",
                                         run_id=run_b)
    first = _jobs(store, collector.poll_once())
    assert b not in first
    emulator.clear_fault(injected)
    clock.advance(1800)
    second = _jobs(store, collector.poll_once())
    assert b in second, (first, second)
    assert sorted(set(first) | set(second)) == sorted([a, b, c])


def test_a_5xx_on_the_runs_listing_reads_every_job_in_full_and_the_workspace_stays_ok(
        store: Store, emulator, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    clock, admin, ids, collector = _setup(store, emulator, monkeypatch, 2)
    # Only the runs listing across jobs (limit 25: list_workspace_runs) fails; each job's own
    # runs/list (limit 20) and jobs/get answer.
    emulator.inject_fault("GET", "jobs/runs/list", status=500, error_code="INTERNAL_ERROR", limit=25)
    for job_id in ids:
        admin.run_now(job_id)
    assert emulator.wait_idle(120)
    started = clock.monotonic()
    got = _jobs(store, collector.poll_once())
    assert got == sorted(ids)
    assert store.workspaces.get("sbx").status == "ok"
    assert clock.monotonic() - started < 60  # the listing's 5xx gets a job's short budget, not a minute


def test_a_5xx_on_the_runs_listing_after_a_start_leaves_the_workspace_ok(
        store: Store, emulator, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    clock = FakeClock()
    monkeypatch.setattr(workspaces._integration, "clock", clock)
    secrets = SecretBox(Fernet.generate_key())
    admin = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20), clock=SystemClock())
    ids = [admin.create_job(etl_job(ETL_SPEC, name=f"job-{i}")) for i in range(2)]
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    workspaces.import_jobs(store, secrets, "sbx", ids, wiring=WIRING)
    emulator.inject_fault("GET", "jobs/runs/list", status=500, error_code="INTERNAL_ERROR", limit=25)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=clock,
                          poll_interval_s=60)  # a server just started: no watermark yet
    collected = 0
    for i in range(4):
        admin.run_now(ids[i % 2])
        assert emulator.wait_idle(120)
        collected += len(collector.poll_once())
        assert store.workspaces.get("sbx").status == "ok"
        clock.advance(60)
    assert collected == 4
