"""One job whose own calls keep failing with HTTP 500 must not stop its workspace's collection
(scale review, one_bad_job.py): its ``jobs/get`` 500 was taken for the workspace being down, so the
poll stopped at it (the jobs after it in id order went uncollected), marked the workspace
``unreachable`` although it answers, rested it up to 30 minutes, and each later poll met the same
job first again: nothing of the workspace was ever collected again. And each try cost the
gateway's whole retry budget (60 s).

Now the job is skipped (its own calls retry a 5xx for `JOB_5XX_BUDGET_S`), the poll goes on, the
job rests and is tried after the others, the workspace stays ``ok`` with ``last_error`` naming the
job (what ``trimtab workspace show`` prints), and once the job answers its runs are collected. Only
a probe that fails, or `JOBS_IN_A_ROW` jobs failing one after the other, make it the workspace's
trouble. Real store (SQLite, then PostgreSQL), the emulator over HTTP answering 500 for the chosen
requests (its fault injection), the real gateway and databricks-sdk on a fake clock.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock, SystemClock
from server.collect import Collector
from server.collect.collector import JOBS_IN_A_ROW
from server.collect.health import UNREACHABLE
from server.collect.job_trouble import JOB_5XX_BUDGET_S
from server.databricks import DatabricksGateway, GatewayConfig
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store
from tests.integration.conftest import WIRING, etl_job

POLL_S = 60.0
SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 2,
        "aws_attributes": {"availability": "ON_DEMAND", "first_on_demand": 1}}


def _setup(store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch,
           jobs: int) -> tuple[Collector, FakeClock, list[int], DatabricksGateway]:
    """``jobs`` one-task jobs imported into workspace "sbx", each run once; a collector on a fake clock."""
    clock = FakeClock()
    monkeypatch.setattr(workspaces._integration, "clock", clock)  # the SDK's retries wait on fake time
    secrets = SecretBox(Fernet.generate_key())
    admin = DatabricksGateway(GatewayConfig(emulator.host, emulator.token, retry_timeout_s=20), clock=SystemClock())
    ids = [admin.create_job(etl_job(SPEC, name=f"job-{i}")) for i in range(jobs)]
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    workspaces.import_jobs(store, secrets, "sbx", ids, wiring=WIRING)
    _run_all(emulator, admin, ids)
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=clock,
                          poll_interval_s=POLL_S)
    return collector, clock, ids, admin


def _run_all(emulator: RunningWorkspace, admin: DatabricksGateway, ids: list[int]) -> None:
    for job_id in ids:
        admin.run_now(job_id)
    assert emulator.wait_idle(120)


def _jobs_of(store: Store, runs: list[Any]) -> list[int]:
    return sorted({store.projects.get(r.project_id).job_id for r in runs})


def _warnings(caplog: pytest.LogCaptureFixture, job_id: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "server.collect.collector"
            and r.levelno >= logging.WARNING and f"job {job_id}" in r.getMessage()]


def test_one_job_failing_with_500_is_skipped_and_the_others_are_collected(
        store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    collector, clock, ids, admin = _setup(store, emulator, monkeypatch, jobs=4)
    bad, good = ids[0], ids[1:]  # first in id order: before, every other job came after it
    fault = emulator.inject_fault("GET", "jobs/get", job_id=bad)
    caplog.set_level(logging.DEBUG, logger="server.collect.collector")

    before = clock.monotonic()
    assert _jobs_of(store, collector.poll_once()) == good
    spent = clock.monotonic() - before
    assert JOB_5XX_BUDGET_S <= spent < 2 * JOB_5XX_BUDGET_S, spent  # its short budget, not the gateway's 60 s
    ws = store.workspaces.get("sbx")
    assert ws.status == "ok"  # it answers: not unreachable, not resting
    assert ws.last_error.startswith(f"job {bad} (job-0) not collected: failing since ")
    assert "GET /api/2.2/jobs/get: An internal error occurred (injected fault)" in ws.last_error
    (warning,) = _warnings(caplog, bad)
    assert "not collected" in warning and "the other jobs are collected" in warning

    # Resting: the next poll does not try it again (no call on it), nor rests the workspace.
    hits = emulator.fault_hits
    _run_all(emulator, admin, [good[-1]])
    assert _jobs_of(store, collector.poll_once()) == [good[-1]]
    assert emulator.fault_hits == hits

    # Its rest over, it is tried again after the others (a new run of theirs is still collected),
    # fails again without a second warning, and the workspace stays ok.
    _run_all(emulator, admin, good)
    clock.advance(POLL_S)
    assert _jobs_of(store, collector.poll_once()) == good
    assert emulator.fault_hits > hits
    assert len(_warnings(caplog, bad)) == 1
    assert "(2 tries)" in store.workspaces.get("sbx").last_error

    # It answers again: its runs (kept behind its cursor meanwhile) are collected and the note goes.
    emulator.clear_fault(fault)
    clock.advance(2 * POLL_S)
    assert _jobs_of(store, collector.poll_once()) == [bad]
    ws = store.workspaces.get("sbx")
    assert (ws.status, ws.last_error) == ("ok", "")
    assert any("answers again" in r.getMessage() and f"job {bad}" in r.getMessage() for r in caplog.records)


def test_jobs_failing_one_after_the_other_are_the_workspaces_trouble(
        store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    collector, clock, ids, _ = _setup(store, emulator, monkeypatch, jobs=JOBS_IN_A_ROW + 1)
    emulator.inject_fault("GET", "jobs/runs/list")  # every job's runs fail; jobs/list (the probe) works
    assert collector.poll_once() == []
    ws = store.workspaces.get("sbx")
    assert ws.status == UNREACHABLE
    assert ws.last_error.startswith(f"jobs {', '.join(map(str, ids[:JOBS_IN_A_ROW]))} failed one after the other")
    # Not also each job's trouble: once the workspace answers, every job is collected at once.
    emulator.clear_fault()
    clock.advance(POLL_S)
    assert _jobs_of(store, collector.poll_once()) == ids
    assert (store.workspaces.get("sbx").status, store.workspaces.get("sbx").last_error) == ("ok", "")


def test_a_job_failing_while_the_workspace_probe_fails_too_is_the_workspaces_trouble(
        store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    collector, clock, ids, _ = _setup(store, emulator, monkeypatch, jobs=2)
    emulator.inject_fault("GET", "jobs/get")
    emulator.inject_fault("GET", "jobs/list")
    before = clock.monotonic()
    assert collector.poll_once() == []
    assert clock.monotonic() - before < 60  # the job's short budget and the probe's, not a call's 60 s
    ws = store.workspaces.get("sbx")
    assert ws.status == UNREACHABLE and ws.last_error.startswith("GET /api/2.2/jobs/list: ")


class _NewProcessClock(FakeClock):
    """The same wall clock, another monotonic one (a new process's starts at an arbitrary point)."""

    def monotonic(self) -> float:
        return super().monotonic() - 5_000.0


def test_a_failing_jobs_rest_survives_a_restart(
        store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rest was kept in the process: after every restart each failing job cost the first poll its
    whole short budget again (15 s a job) and started its rest over at one poll interval."""
    collector, clock, ids, admin = _setup(store, emulator, monkeypatch, jobs=2)
    bad, good = ids
    emulator.inject_fault("GET", "jobs/get", job_id=bad)
    assert _jobs_of(store, collector.poll_once()) == [good]
    clock.advance(POLL_S)
    assert _jobs_of(store, collector.poll_once()) == []  # tried again: 2 tries, resting 2 polls now
    hits = emulator.fault_hits

    # The server restarts: a new collector on the same database (and a clock whose monotonic time
    # starts elsewhere, as a new process's does). Its first poll leaves the resting job alone.
    restarted_clock = _NewProcessClock(start_ms=clock.now_ms())
    monkeypatch.setattr(workspaces._integration, "clock", restarted_clock)
    restarted = Collector(store, collector._gateway_for, clock=restarted_clock, poll_interval_s=POLL_S)
    _run_all(emulator, admin, [good])
    before = restarted_clock.now_ms()
    assert _jobs_of(store, restarted.poll_once()) == [good]
    assert emulator.fault_hits == hits
    assert restarted_clock.now_ms() - before < JOB_5XX_BUDGET_S * 1000
    assert "(2 tries)" in store.workspaces.get("sbx").last_error

    # Its rest (two poll intervals after its second try) over, it is tried again: its third try.
    restarted_clock.advance(2 * POLL_S)
    assert _jobs_of(store, restarted.poll_once()) == []
    assert emulator.fault_hits > hits
    assert "(3 tries)" in store.workspaces.get("sbx").last_error
