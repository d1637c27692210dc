"""The limits of a job's queue (sandbox/workspace/runs.py), seen through the real databricks-sdk.

A queued run waits at most 48 hours (runs.MAX_QUEUE_MS), then ends TIMEDOUT without a cluster;
a job's queue holds at most runs.MAX_QUEUED_RUNS_PER_JOB runs, and a run beyond it is SKIPPED
with termination code MAX_JOB_QUEUE_SIZE_EXCEEDED. A StepClock moves simulated time by hand
(speed 1), so 48 hours pass in no wall time; runs ahead of the queue last 50 hours (a stretched
fake timeline) so that the queue does not drain first.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from databricks.sdk.service.jobs import (
    QueueDetailsCodeCode,
    RunLifeCycleState,
    RunResultState,
    TerminationCodeCode,
    TerminationTypeType,
    TriggerType,
)

from sandbox.workspace import RunningWorkspace, runs
from tests.sandbox_ws import fakes
from tests.sandbox_ws.conftest import Sandbox, client
from tests.sandbox_ws.fakes import FakeSimBackend, StepClock
from tests.sandbox_ws.test_sandbox_ws_fire import advance_to, create, cron, iso, start
from tests.sandbox_ws.test_sandbox_ws_fire import runs as run_states

HOUR_MS = 3_600_000
LONG_WORK_MS = 50 * HOUR_MS  # longer than the queue's 48 hours


class LongRunBackend(FakeSimBackend):
    """The fake timeline with its work stretched to LONG_WORK_MS: the run holds its slot."""

    def simulate_run(self, new_cluster: dict[str, Any], profile: str, **kw: Any) -> Any:
        run = super().simulate_run(new_cluster, profile, **kw)
        shift = LONG_WORK_MS - fakes.WORK_S * 1000  # day 1: every run here is the job's first

        def later(t: int) -> int:
            return t + shift if t > run.running_ms + 1000 else t

        return dataclasses.replace(
            run, end_time_ms=run.end_time_ms + shift,
            nodes=[dataclasses.replace(n, end_ms=n.end_ms + shift) for n in run.nodes],
            cluster_events=[dataclasses.replace(e, timestamp_ms=later(e.timestamp_ms))
                            for e in run.cluster_events],
            eventlog=[(later(t), line) for t, line in run.eventlog])


def expired_from_the_queue(run: Any) -> None:
    assert run.state.life_cycle_state == RunLifeCycleState.TERMINATED
    assert run.state.result_state == RunResultState.TIMEDOUT
    assert run.state.user_cancelled_or_timedout
    assert "48 hours" in run.state.state_message
    assert run.status.termination_details.code == TerminationCodeCode.CANCELED
    assert run.status.termination_details.type == TerminationTypeType.CLIENT_ERROR
    assert run.end_time == run.start_time + 48 * HOUR_MS  # ended at its deadline
    assert run.queue_duration == run.run_duration == 48 * HOUR_MS
    assert run.setup_duration == run.execution_duration == run.cleanup_duration == 0
    assert all(t.cluster_instance is None for t in run.tasks)
    assert all(t.state.result_state == RunResultState.TIMEDOUT for t in run.tasks)


def job_clusters(ws: RunningWorkspace) -> list[str]:
    return sorted(ws.workspace.store.data["clusters"])


def test_a_queued_run_from_run_now_ends_after_48_hours_without_a_cluster(
        sandbox: Sandbox) -> None:
    sandbox.backend = LongRunBackend()
    # Schedules on: the scheduler's thread is the one that ends queued runs on time.
    ws, clock = start(sandbox, "2026-06-01T00:00:00+00:00")
    w = client(ws)
    job_id = create(w)  # no schedule: both runs come from run-now
    first = w.jobs.run_now(job_id).run_id
    queued = w.jobs.run_now(job_id).run_id
    run = w.jobs.get_run(queued)
    assert run.state.life_cycle_state == RunLifeCycleState.QUEUED
    assert run.status.queue_details.code == QueueDetailsCodeCode.MAX_CONCURRENT_RUNS_REACHED
    clusters = job_clusters(ws)
    assert len(clusters) == 1  # the first run's; a queued run has none

    advance_to(ws, clock, "2026-06-02T23:59:59+00:00")
    assert w.jobs.get_run(queued).state.life_cycle_state == RunLifeCycleState.QUEUED
    advance_to(ws, clock, "2026-06-03T00:00:00+00:00")
    expired_from_the_queue(w.jobs.get_run(queued))
    # The first run's player thread plays the jump in time on its own (a loaded machine lags).
    deadline = time.monotonic() + 10
    while w.jobs.get_run(first).state.life_cycle_state != RunLifeCycleState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.jobs.get_run(first).state.life_cycle_state == RunLifeCycleState.RUNNING

    # The first run ends after its 50 hours; the expired run never leaves the queue.
    advance_to(ws, clock, "2026-06-03T03:00:00+00:00")
    assert ws.wait_idle(10)
    assert w.jobs.get_run(first).state.result_state == RunResultState.SUCCESS
    expired_from_the_queue(w.jobs.get_run(queued))
    assert job_clusters(ws) == clusters
    assert len(sandbox.backend.simulated) == 1
    second = w.jobs.run_now(job_id).run_id  # the job's second day: the expired run took none
    assert w.jobs.get_run(second).state.life_cycle_state != RunLifeCycleState.QUEUED
    deadline = time.monotonic() + 10  # the run's player thread simulates it
    while len(sandbox.backend.simulated) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [s["day"] for s in sandbox.backend.simulated] == [1, 2]


def _first_running(w: Any, job_id: int) -> None:
    """Wait (10 s at most) until the job's first run reads RUNNING: its player thread plays each jump
    in time on its own, and a loaded machine read PENDING (about one run in two in a full suite)."""
    deadline = time.monotonic() + 10
    while run_states(w, job_id)[0][2] != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_schedule_faster_than_its_runs_fills_the_queue_to_its_limit_and_no_further(
        sandbox: Sandbox) -> None:
    sandbox.backend = LongRunBackend()
    ws, clock = start(sandbox, "2026-06-01T00:00:00+00:00")
    ws.workspace.max_queued_runs_per_job = 3  # the service's 1000 in a few fires
    w = client(ws)
    job_id = create(w, schedule=cron("0 0 * * * ?"))  # hourly; each run lasts 50 h
    for hour in range(1, 6):
        advance_to(ws, clock, f"2026-06-01T{hour:02d}:00:00+00:00")
    _first_running(w, job_id)
    assert run_states(w, job_id) == [("2026-06-01 01:00:00", "PERIODIC", "RUNNING"),
                                     ("2026-06-01 02:00:00", "PERIODIC", "QUEUED"),
                                     ("2026-06-01 03:00:00", "PERIODIC", "QUEUED"),
                                     ("2026-06-01 04:00:00", "PERIODIC", "QUEUED"),
                                     ("2026-06-01 05:00:00", "PERIODIC", "SKIPPED")]
    skipped = next(r for r in w.jobs.list_runs(job_id=job_id, expand_tasks=True)
                   if r.state.life_cycle_state == RunLifeCycleState.SKIPPED)
    assert skipped.trigger == TriggerType.PERIODIC
    assert skipped.state.result_state == RunResultState.MAXIMUM_CONCURRENT_RUNS_REACHED
    assert "queue" in skipped.state.state_message
    assert skipped.status.termination_details.code == \
        TerminationCodeCode.MAX_JOB_QUEUE_SIZE_EXCEEDED
    assert skipped.end_time == skipped.start_time
    assert all(t.cluster_instance is None for t in skipped.tasks)

    # Every fire until the 02:00 run's deadline is skipped; at the deadline the 02:00 run ends
    # and that moment's fire takes its place in the queue.
    for hour in range(6, 24):
        advance_to(ws, clock, f"2026-06-01T{hour:02d}:00:00+00:00")
    for hour in range(0, 24):
        advance_to(ws, clock, f"2026-06-02T{hour:02d}:00:00+00:00")
    for hour in range(0, 3):
        advance_to(ws, clock, f"2026-06-03T{hour:02d}:00:00+00:00")
    _first_running(w, job_id)
    states = run_states(w, job_id)
    assert len(states) == 23 + 24 + 3  # one run per hourly fire, 06-01 01:00 to 06-03 02:00
    assert states[:5] == [("2026-06-01 01:00:00", "PERIODIC", "RUNNING"),
                          ("2026-06-01 02:00:00", "PERIODIC", "TERMINATED"),
                          ("2026-06-01 03:00:00", "PERIODIC", "QUEUED"),
                          ("2026-06-01 04:00:00", "PERIODIC", "QUEUED"),
                          ("2026-06-01 05:00:00", "PERIODIC", "SKIPPED")]
    assert {s for _, _, s in states[4:-1]} == {"SKIPPED"}
    assert states[-1] == ("2026-06-03 02:00:00", "PERIODIC", "QUEUED")
    by_start = {iso(r.start_time): r for r in w.jobs.list_runs(job_id=job_id, expand_tasks=True)}
    expired_from_the_queue(by_start["2026-06-01 02:00:00"])
    assert len(sandbox.backend.simulated) == 1  # only the first run ever had a cluster


def test_run_now_beyond_the_queue_limit_is_skipped_and_the_queue_keeps_its_order(
        sandbox: Sandbox, step_clock: StepClock) -> None:
    ws = sandbox.start(clock=step_clock, speed=1.0)
    assert ws.workspace.max_queued_runs_per_job == runs.MAX_QUEUED_RUNS_PER_JOB == 1000
    ws.workspace.max_queued_runs_per_job = 2
    w = client(ws)
    job_id = create(w)
    first = w.jobs.run_now(job_id).run_id
    queued = [w.jobs.run_now(job_id).run_id for _ in range(2)]
    # run-now's reply for a run the full queue turns away is the usual one: a run was made.
    reply = w.api_client.do("POST", "/api/2.2/jobs/run-now", body={"job_id": job_id})
    assert set(reply) == {"run_id", "number_in_job"}
    skipped = w.jobs.get_run(reply["run_id"])
    assert skipped.state.life_cycle_state == RunLifeCycleState.SKIPPED
    assert skipped.state.result_state == RunResultState.MAXIMUM_CONCURRENT_RUNS_REACHED
    assert skipped.status.termination_details.code == \
        TerminationCodeCode.MAX_JOB_QUEUE_SIZE_EXCEEDED
    assert skipped.status.termination_details.type == TerminationTypeType.CLIENT_ERROR
    assert "maximum of 2 queued runs" in skipped.state.state_message
    assert all(t.cluster_instance is None for t in skipped.tasks)

    # Cancelling a queued run frees its place; a new run queues behind the one left.
    w.jobs.cancel_run(queued[0])
    assert w.jobs.get_run(queued[0]).state.result_state == RunResultState.CANCELED
    last = w.jobs.run_now(job_id).run_id
    assert w.jobs.get_run(last).state.life_cycle_state == RunLifeCycleState.QUEUED

    step_clock.settle()
    step_clock.advance(fakes.RUNNING_AT + fakes.WORK_S + fakes.CLEANUP_S)
    step_clock.settle()  # the first run ended; the oldest queued run took its slot
    assert w.jobs.get_run(first).state.result_state == RunResultState.SUCCESS
    assert w.jobs.get_run(queued[1]).state.life_cycle_state == RunLifeCycleState.PENDING
    assert w.jobs.get_run(last).state.life_cycle_state == RunLifeCycleState.QUEUED
    assert len(sandbox.backend.simulated) == 2
    # The job's input grows once per run that had a cluster: the cancelled queued run took no day.
    assert [s["day"] for s in sandbox.backend.simulated] == [1, 2]


def test_without_a_scheduler_an_overdue_run_leaves_the_queue_before_the_next_run_is_counted(
        sandbox: Sandbox, step_clock: StepClock) -> None:
    sandbox.backend = LongRunBackend()
    ws = sandbox.start(clock=step_clock, speed=1.0)  # no scheduler thread
    ws.workspace.max_queued_runs_per_job = 1
    w = client(ws)
    job_id = create(w)
    w.jobs.run_now(job_id)
    old = w.jobs.run_now(job_id).run_id
    turned_away = w.jobs.get_run(w.jobs.run_now(job_id).run_id)
    assert turned_away.state.life_cycle_state == RunLifeCycleState.SKIPPED  # the queue is full
    step_clock.settle()
    step_clock.advance(49 * 3600)
    new = w.jobs.get_run(w.jobs.run_now(job_id).run_id)
    assert new.state.life_cycle_state == RunLifeCycleState.QUEUED  # the old one made room
    expired_from_the_queue(w.jobs.get_run(old))  # and ended at its deadline, not at this call
    assert len(sandbox.backend.simulated) == 1


def test_a_restart_ends_a_queued_run_whose_48_hours_ran_out_while_it_was_down(
        sandbox: Sandbox) -> None:
    sandbox.backend = LongRunBackend()
    start_s = 1_780_000_000.0
    clock = StepClock(start=start_s)
    ws = sandbox.start(clock=clock, speed=1.0)
    w = client(ws)
    job_id = create(w)
    running = w.jobs.run_now(job_id).run_id
    queued = w.jobs.run_now(job_id).run_id
    clock.settle()
    clock.advance(47 * 3600)
    recent = w.jobs.run_now(job_id).run_id  # queued 47 h after the other one
    sandbox.stop_all()

    ws = sandbox.start(clock=StepClock(start=start_s + 49 * 3600), speed=1.0)
    w = client(ws)
    expired_from_the_queue(w.jobs.get_run(queued))
    # The run the stop interrupted, and a queued one still within its 48 hours, end as before.
    for run_id in (running, recent):
        assert w.jobs.get_run(run_id).state.life_cycle_state == RunLifeCycleState.INTERNAL_ERROR


def test_raising_max_concurrent_runs_starts_queued_runs_at_once(sandbox: Sandbox,
                                                                step_clock: StepClock) -> None:
    ws = sandbox.start(clock=step_clock, speed=1.0)
    w = client(ws)
    job_id = create(w)
    w.jobs.run_now(job_id)
    queued = [w.jobs.run_now(job_id).run_id for _ in range(3)]
    w.api_client.do("POST", "/api/2.2/jobs/update", body={
        "job_id": job_id, "new_settings": {"max_concurrent_runs": 3}})
    # Applied before jobs/update replied; the oldest two take the two new slots.
    assert [w.jobs.get_run(r).state.life_cycle_state for r in queued] == [
        RunLifeCycleState.PENDING, RunLifeCycleState.PENDING, RunLifeCycleState.QUEUED]
