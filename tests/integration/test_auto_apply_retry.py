"""An auto-apply that Databricks fails for a passing reason is tried again at the next collection
polls, not only after the next run (review F5).

Before, a 500 on ``jobs/update`` (past the gateway's own retries) left the job on its old cluster and
the failure on the project, and nothing tried again until a run ended: the next scheduled run ran
unchanged, a day lost for a daily job. And the failed write logged ``ERROR ... could not restore the
previous spec`` although nothing had been written, as if Trimtab had broken the job.

Now a transient failure (a 5xx, 429/503 or no connection past the gateway's retries) is tried again
at the first collection poll after 1, 2, 4, ... minutes (`APPLY_RETRY_FIRST_S`, on the planner's
clock), at most `APPLY_RETRIES` times, until it succeeds or a run of the job starts (whose end plans
and applies anyway); the project's problem says when the next try is and names `trimtab
recommendation apply` for one now. A refusal (400, 403) is not tried again. After a failed write the
job is read: when it still holds the previous spec, the log says nothing was written (WARNING), and
nothing is written back. SQLite and PostgreSQL, the real databricks-sdk against the emulator, whose
fault injection answers ``jobs/update`` with the chosen status, on a fake clock.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Project, Workspace
from server.plan import apply_retry
from server.plan.apply_retry import APPLY_RETRY_FIRST_S
from server.plan.planner import Planner
from server.services import workspaces
from server.services.projects import update_settings
from server.services.secrets import SecretBox
from server.spec import config_from_spec, find_cluster_spec
from server.store import Store

POLL_S = 60.0


def _setup(store: Store, secrets: SecretBox, daily: Project, clock: FakeClock) -> tuple[int, Planner, Collector]:
    pid = int(daily.id or 0)
    update_settings(store, str(pid), {"auto_apply": True})

    def gateway_for(ws: Workspace) -> DatabricksGateway:
        return workspaces.gateway_for(store, secrets, ws)

    planner = Planner(store, load_catalog(), gateway_for, clock=clock)
    collector = Collector(store, gateway_for, clock=clock, on_run_collected=planner, catalog=load_catalog(),
                          poll_interval_s=POLL_S)
    return pid, planner, collector


def _run(emulator: RunningWorkspace, gateway: DatabricksGateway, job_id: int) -> int:
    run_id = gateway.run_now(job_id)
    assert emulator.wait_idle(60)
    return run_id


def _live(gateway: DatabricksGateway, project: Project) -> dict[str, Any]:
    spec = find_cluster_spec(gateway.get_job(project.job_id)["settings"], project.cluster_key)
    assert spec is not None
    return spec


def _said(caplog: pytest.LogCaptureFixture, text: str, level: int | None = None) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage() and (level is None or r.levelno == level)]


def test_an_auto_apply_failing_with_500_is_tried_again_at_the_next_polls_until_it_succeeds(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project, integration_clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    clock = integration_clock
    pid, _, collector = _setup(store, secrets, daily, clock)
    before = _live(gateway, daily)
    fault = emulator.inject_fault("POST", "jobs/update", job_id=daily.job_id)
    caplog.set_level(logging.INFO)

    _run(emulator, gateway, daily.job_id)
    (run,) = collector.poll_once()
    rec = store.recommendations.pending(pid)
    assert rec is not None and rec.id is not None  # planned, and its apply failed
    problem = store.projects.get(pid).problem
    assert problem is not None and problem.step == "apply" and problem.run_id == run.id
    assert problem.message.startswith(f"DatabricksServerError: jobs/update of job {daily.job_id} ({daily.job_name}) "
                                      "failed (nothing was written): POST "), problem.message
    assert "a transient failure: tried again at the first collection poll after " in problem.message
    assert "(retry 1 of " in problem.message
    assert f"or now with `trimtab recommendation apply {daily.name}`" in problem.message
    assert _live(gateway, daily) == before
    # Nothing was written, and the log says so rather than that the previous spec could not be restored.
    assert not _said(caplog, "could not restore")
    assert _said(caplog, "nothing was written", logging.WARNING)

    # Not due yet: the next poll leaves it alone.
    hits = emulator.fault_hits
    collector.poll_once()
    assert emulator.fault_hits == hits

    # Due: tried again, still failing; the next try is twice as far.
    clock.advance(APPLY_RETRY_FIRST_S)
    collector.poll_once()
    assert emulator.fault_hits > hits
    problem = store.projects.get(pid).problem
    assert problem is not None and "(retry 2 of " in problem.message, problem.message
    hits = emulator.fault_hits
    clock.advance(APPLY_RETRY_FIRST_S)
    collector.poll_once()
    assert emulator.fault_hits == hits  # 2 minutes this time

    # Databricks answers again: the next due try applies it, before any new run.
    emulator.clear_fault(fault)
    clock.advance(APPLY_RETRY_FIRST_S)
    assert collector.poll_once() == []
    got = store.projects.get(pid)
    assert got.problem is None
    assert store.recommendations.get(rec.id).state == "applied"
    assert config_from_spec(_live(gateway, daily)).num_workers == rec.config.num_workers
    assert _said(caplog, f"project {daily.name}: auto-apply of recommendation {rec.id} went through on its retry")

    # And the next run runs on it.
    _run(emulator, gateway, daily.job_id)
    (second,) = collector.poll_once()
    assert second.config is not None and second.config.num_workers == rec.config.num_workers


def test_a_retry_stops_when_the_next_run_starts_and_a_refusal_is_not_retried(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project, integration_clock: FakeClock) -> None:
    clock = integration_clock
    pid, planner, collector = _setup(store, secrets, daily, clock)
    emulator.inject_fault("POST", "jobs/update", job_id=daily.job_id, status=503, error_code="TEMPORARILY_UNAVAILABLE")
    _run(emulator, gateway, daily.job_id)
    collector.poll_once()
    problem = store.projects.get(pid).problem
    assert problem is not None and problem.message.startswith("DatabricksUnavailable: "), problem.message
    assert "tried again at the first collection poll" in problem.message

    # A run of the job starts (here: ran) before the try: it runs the old cluster, and its end plans
    # and applies anyway. The try is dropped and the problem says why.
    started = _run(emulator, gateway, daily.job_id)
    clock.advance(APPLY_RETRY_FIRST_S)
    hits = emulator.fault_hits
    planner.retry_applies(store.projects.list("sbx"))
    assert emulator.fault_hits == hits
    problem = store.projects.get(pid).problem
    assert problem is not None and f"not tried again: run {started} started on the cluster as it was" \
        in problem.message, problem.message
    clock.advance(3600)
    planner.retry_applies(store.projects.list("sbx"))
    assert emulator.fault_hits == hits

    # That run's end plans again; its apply is refused outright (400): kept, never tried again.
    emulator.clear_fault()
    emulator.inject_fault("POST", "jobs/update", job_id=daily.job_id, status=400, error_code="INVALID_PARAMETER_VALUE")
    collector.poll_once()
    problem = store.projects.get(pid).problem
    assert problem is not None and problem.message.startswith("DatabricksRejected: "), problem.message
    assert "tried again" not in problem.message
    hits = emulator.fault_hits
    for _ in range(3):
        clock.advance(3600)
        collector.poll_once()
    assert emulator.fault_hits == hits


def test_a_retry_gives_up_after_its_last_try(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project, integration_clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = integration_clock
    monkeypatch.setattr(apply_retry, "APPLY_RETRIES", 2)
    pid, _, collector = _setup(store, secrets, daily, clock)
    emulator.inject_fault("POST", "jobs/update", job_id=daily.job_id)
    _run(emulator, gateway, daily.job_id)
    collector.poll_once()
    for _ in range(2):
        clock.advance(3600)
        collector.poll_once()
    problem = store.projects.get(pid).problem
    assert problem is not None and "still failing after 2 retries" in problem.message, problem.message
    assert f"`trimtab recommendation apply {daily.name}` tries again" in problem.message
    hits = emulator.fault_hits
    clock.advance(3600)
    collector.poll_once()
    assert emulator.fault_hits == hits


def test_an_apply_by_hand_ends_the_retries_and_the_problem_at_the_next_poll(
        store: Store, secrets: SecretBox, emulator: RunningWorkspace, gateway: DatabricksGateway,
        daily: Project, integration_clock: FakeClock) -> None:
    """What the problem names for a try now: `trimtab recommendation apply` (here its service)."""
    from server.services.recommendations import apply_recommendation

    pid, _, collector = _setup(store, secrets, daily, integration_clock)
    fault = emulator.inject_fault("POST", "jobs/update", job_id=daily.job_id)
    _run(emulator, gateway, daily.job_id)
    collector.poll_once()
    rec = store.recommendations.pending(pid)
    assert rec is not None and rec.id is not None and store.projects.get(pid).problem is not None
    emulator.clear_fault(fault)
    outcome = apply_recommendation(store, secrets, daily.name)
    assert outcome.applied
    hits_before = emulator.fault_hits
    collector.poll_once()  # the next try is not due yet: the apply by hand is seen all the same
    got = store.projects.get(pid)
    assert got.problem is None and "auto_apply_retry" not in got.state
    assert store.recommendations.get(rec.id).state == "applied"
    integration_clock.advance(3600)
    collector.poll_once()
    assert emulator.fault_hits == hits_before and store.recommendations.get(rec.id).state == "applied"
