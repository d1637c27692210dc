"""The workspace fires scheduled jobs (sandbox/workspace/job_scheduler.py), seen through the
real databricks-sdk.

A StepClock moves simulated time by hand (speed 1: one clock second is one simulated
second); `scheduler.sync()` waits for the scheduler's pass after each move, so every test
says exactly at which simulated second a run must (or must not) exist.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from databricks.sdk.service.jobs import (
    CronSchedule,
    JobSettings,
    PauseStatus,
    QueueSettings,
    RunLifeCycleState,
    RunResultState,
    TriggerType,
)

from sandbox.workspace import RunningWorkspace
from sandbox.workspace.clock import RealClock
from tests.sandbox_ws import fakes
from tests.sandbox_ws.conftest import Sandbox, client
from tests.sandbox_ws.fakes import StepClock

RUN_S = fakes.RUNNING_AT + fakes.WORK_S + fakes.CLEANUP_S  # a fake run on day 1: 705 s


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def iso(at: int) -> str:
    return datetime.fromtimestamp(at / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def start(sandbox: Sandbox, at: str, *, schedules: bool = True) -> tuple[RunningWorkspace,
                                                                             StepClock]:
    clock = StepClock(start=ms(at) / 1000)
    return sandbox.start(clock=clock, speed=1.0, schedules=schedules), clock


def create(w: Any, **settings: Any) -> int:
    body = {"name": "scheduled", "tags": {"sandbox:profile": "sort"},
            "job_clusters": [{"job_cluster_key": "main", "new_cluster": {
                "spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge",
                "num_workers": 2}}],
            "tasks": [{"task_key": "main", "job_cluster_key": "main",
                       "spark_python_task": {"python_file": "dbfs:/x.py"}}], **settings}
    return int(w.api_client.do("POST", "/api/2.2/jobs/create", body=body)["job_id"])


def cron(expression: str, zone: str = "UTC", paused: bool = False) -> dict[str, str]:
    return {"quartz_cron_expression": expression, "timezone_id": zone,
            "pause_status": "PAUSED" if paused else "UNPAUSED"}


def advance_to(ws: RunningWorkspace, clock: StepClock, at: str) -> None:
    """Move simulated time to `at` and let the scheduler act on it."""
    delta = (ms(at) - ws.workspace.now_ms()) / 1000
    assert delta >= 0, f"already past {at}"
    clock.advance(delta)
    assert ws.scheduler is not None and ws.scheduler.sync(), "the scheduler did not run"


def runs(w: Any, job_id: int) -> list[tuple[str, str, str]]:
    """(start time, trigger, life cycle state) of the job's runs, oldest first."""
    return sorted((iso(r.start_time), r.trigger.value, r.state.life_cycle_state.value)
                  for r in w.jobs.list_runs(job_id=job_id))


def starts(w: Any, job_id: int) -> list[str]:
    return [start for start, trigger, _ in runs(w, job_id) if trigger == "PERIODIC"]


def test_cron_fires_at_each_fire_time_in_its_time_zone(sandbox: Sandbox) -> None:
    # 02:30 in Amsterdam: 01:30 UTC in winter time; on Sunday 29 March 2026 the clocks skip
    # from 02:00 to 03:00, so there is no 02:30 and no run; from then on it is 00:30 UTC.
    ws, clock = start(sandbox, "2026-03-27T00:00:00+00:00")
    w = client(ws)
    job_id = create(w, schedule=cron("0 30 2 * * ?", "Europe/Amsterdam"))
    assert ws.scheduler is not None
    assert iso(ws.scheduler.next_fires()[job_id]) == "2026-03-27 01:30:00"

    advance_to(ws, clock, "2026-03-27T01:29:59+00:00")
    assert runs(w, job_id) == []  # not a second early
    advance_to(ws, clock, "2026-03-27T01:30:00+00:00")
    assert runs(w, job_id) == [("2026-03-27 01:30:00", "PERIODIC", "PENDING")]

    # The scheduled run plays like any other: clusters, events, a result.
    advance_to(ws, clock, "2026-03-27T02:00:00+00:00")
    assert ws.wait_idle(10)
    run = w.jobs.get_run(next(iter(w.jobs.list_runs(job_id=job_id))).run_id)
    assert run.trigger == TriggerType.PERIODIC
    assert run.state.life_cycle_state == RunLifeCycleState.TERMINATED
    assert run.state.result_state == RunResultState.SUCCESS
    assert run.end_time - run.start_time == RUN_S * 1000
    assert list(w.clusters.events(run.tasks[0].cluster_instance.cluster_id))

    for day in ("2026-03-28T01:30:00", "2026-03-29T01:30:00", "2026-03-29T23:59:59",
                "2026-03-30T00:30:00"):
        advance_to(ws, clock, day + "+00:00")
    assert starts(w, job_id) == ["2026-03-27 01:30:00", "2026-03-28 01:30:00",
                                 "2026-03-30 00:30:00"]
    # run-now stays a one-time run next to the scheduled ones.
    w.jobs.run_now(job_id)
    assert ("2026-03-30 00:30:00", "ONE_TIME", "QUEUED") in runs(w, job_id)


def test_pause_unpause_edit_reset_and_delete_take_effect_for_the_next_fire(
        sandbox: Sandbox) -> None:
    ws, clock = start(sandbox, "2026-06-01T00:00:00+00:00")
    w = client(ws)
    job_id = create(w, schedule=cron("0 0 * * * ?"))  # hourly
    advance_to(ws, clock, "2026-06-01T01:00:00+00:00")
    assert starts(w, job_id) == ["2026-06-01 01:00:00"]

    paused = CronSchedule(quartz_cron_expression="0 0 * * * ?", timezone_id="UTC",
                          pause_status=PauseStatus.PAUSED)
    w.jobs.update(job_id, new_settings=JobSettings(schedule=paused))
    advance_to(ws, clock, "2026-06-01T02:00:00+00:00")
    advance_to(ws, clock, "2026-06-01T03:30:00+00:00")
    assert starts(w, job_id) == ["2026-06-01 01:00:00"]

    # Unpaused at 03:30: the 02:00 and 03:00 fires are not made up; the next one is 04:00.
    w.jobs.update(job_id, new_settings=JobSettings(schedule=CronSchedule(
        quartz_cron_expression="0 0 * * * ?", timezone_id="UTC")))
    assert iso(ws.scheduler.next_fires()[job_id]) == "2026-06-01 04:00:00"  # type: ignore[union-attr]
    advance_to(ws, clock, "2026-06-01T04:00:00+00:00")
    assert starts(w, job_id)[-1] == "2026-06-01 04:00:00"

    # A new expression counts from the edit: quarter past, not the old full hour.
    advance_to(ws, clock, "2026-06-01T04:20:00+00:00")
    w.jobs.update(job_id, new_settings=JobSettings(schedule=CronSchedule(
        quartz_cron_expression="0 15 * * * ?", timezone_id="UTC")))
    # An edit that leaves the schedule alone keeps its next fire.
    w.jobs.update(job_id, new_settings=JobSettings(name="renamed"))
    advance_to(ws, clock, "2026-06-01T05:00:00+00:00")
    advance_to(ws, clock, "2026-06-01T05:15:00+00:00")
    assert starts(w, job_id)[-2:] == ["2026-06-01 04:00:00", "2026-06-01 05:15:00"]

    # reset without a schedule: no more fires; with one: fires again.
    settings = w.jobs.get(job_id).settings
    w.jobs.reset(job_id, new_settings=JobSettings(name="reset", tasks=settings.tasks,
                                                  job_clusters=settings.job_clusters))
    advance_to(ws, clock, "2026-06-01T06:15:00+00:00")
    assert len(starts(w, job_id)) == 3
    w.jobs.reset(job_id, new_settings=JobSettings(
        name="reset", tasks=settings.tasks, job_clusters=settings.job_clusters,
        schedule=CronSchedule(quartz_cron_expression="0 30 * * * ?", timezone_id="UTC")))
    advance_to(ws, clock, "2026-06-01T06:30:00+00:00")
    assert starts(w, job_id)[-1] == "2026-06-01 06:30:00"

    # fields_to_remove drops the schedule; deleting the job ends another one's quietly.
    w.jobs.update(job_id, fields_to_remove=["schedule"])
    other = create(w, schedule=cron("0 45 * * * ?"))
    w.jobs.delete(other)
    advance_to(ws, clock, "2026-06-01T08:00:00+00:00")
    assert len(starts(w, job_id)) == 4
    assert ws.scheduler.next_fires() == {}  # type: ignore[union-attr]


def test_max_concurrent_runs_skips_or_queues_a_fire_like_run_now(sandbox: Sandbox) -> None:
    ws, clock = start(sandbox, "2026-06-01T00:00:00+00:00")
    w = client(ws)
    every_minute = cron("0 * * * * ?")
    # A fake run lasts 705 s, so at 00:02 the 00:01 run is still active.
    no_queue = create(w, name="no-queue", schedule=every_minute, queue={"enabled": False})
    queued = create(w, name="queued", schedule=every_minute)  # queue on: the API 2.2 default
    two = create(w, name="two", schedule=every_minute, max_concurrent_runs=2,
                 queue={"enabled": False})
    advance_to(ws, clock, "2026-06-01T00:01:00+00:00")
    advance_to(ws, clock, "2026-06-01T00:02:00+00:00")

    # (A fake cluster reaches RUNNING 90 s after the run starts.)
    assert runs(w, no_queue) == [("2026-06-01 00:01:00", "PERIODIC", "PENDING"),
                                 ("2026-06-01 00:02:00", "PERIODIC", "SKIPPED")]
    skipped = [r for r in w.jobs.list_runs(job_id=no_queue)
               if r.state.life_cycle_state == RunLifeCycleState.SKIPPED][0]
    assert skipped.trigger == TriggerType.PERIODIC
    assert skipped.state.result_state == RunResultState.MAXIMUM_CONCURRENT_RUNS_REACHED
    assert "maximum concurrent runs" in skipped.state.state_message
    assert skipped.status.termination_details.code.value == "MAX_CONCURRENT_RUNS_EXCEEDED"
    assert runs(w, queued) == [("2026-06-01 00:01:00", "PERIODIC", "PENDING"),
                               ("2026-06-01 00:02:00", "PERIODIC", "QUEUED")]
    assert runs(w, two) == [("2026-06-01 00:01:00", "PERIODIC", "PENDING"),
                            ("2026-06-01 00:02:00", "PERIODIC", "PENDING")]
    advance_to(ws, clock, "2026-06-01T00:03:00+00:00")
    assert runs(w, two)[-1] == ("2026-06-01 00:03:00", "PERIODIC", "SKIPPED")
    assert ws.workspace.store.data["runs"]  # state saved through the same path as run-now


def test_periodic_trigger_fires_every_interval_from_when_it_was_set(sandbox: Sandbox) -> None:
    ws, clock = start(sandbox, "2026-06-01T00:00:00+00:00")
    w = client(ws)
    advance_to(ws, clock, "2026-06-01T00:20:00+00:00")
    job_id = create(w, trigger={"periodic": {"interval": 2, "unit": "HOURS"}})
    for at in ("02:19:59", "02:20:00", "04:20:00"):
        advance_to(ws, clock, f"2026-06-01T{at}+00:00")
    assert starts(w, job_id) == ["2026-06-01 02:20:00", "2026-06-01 04:20:00"]
    w.api_client.do("POST", "/api/2.2/jobs/update", body={"job_id": job_id, "new_settings": {
        "trigger": {"pause_status": "PAUSED",
                    "periodic": {"interval": 2, "unit": "HOURS"}}}})
    advance_to(ws, clock, "2026-06-01T06:20:00+00:00")
    assert len(starts(w, job_id)) == 2


def test_restart_resumes_from_now_without_replaying_missed_fires(sandbox: Sandbox) -> None:
    ws, clock = start(sandbox, "2026-06-01T00:00:00+00:00")
    w = client(ws)
    hourly = create(w, schedule=cron("0 0 * * * ?"))
    advance_to(ws, clock, "2026-06-01T00:20:00+00:00")
    periodic = create(w, trigger={"periodic": {"interval": 1, "unit": "HOURS"}})
    advance_to(ws, clock, "2026-06-01T01:00:00+00:00")
    advance_to(ws, clock, "2026-06-01T01:20:00+00:00")
    assert starts(w, hourly) == ["2026-06-01 01:00:00"]
    assert starts(w, periodic) == ["2026-06-01 01:20:00"]
    ws.stop()

    # Down from 01:20 to 05:30: four fires of each job pass unseen.
    ws, clock = start(sandbox, "2026-06-01T05:30:00+00:00")
    w = client(ws)
    assert ws.scheduler is not None and ws.scheduler.sync()
    assert len(starts(w, hourly)) == 1 and len(starts(w, periodic)) == 1
    fires = ws.scheduler.next_fires()
    assert iso(fires[hourly]) == "2026-06-01 06:00:00"
    assert iso(fires[periodic]) == "2026-06-01 06:20:00"  # the trigger keeps its phase
    advance_to(ws, clock, "2026-06-01T06:00:00+00:00")
    advance_to(ws, clock, "2026-06-01T06:20:00+00:00")
    assert starts(w, hourly) == ["2026-06-01 01:00:00", "2026-06-01 06:00:00"]
    assert starts(w, periodic) == ["2026-06-01 01:20:00", "2026-06-01 06:20:00"]


def test_a_late_scheduler_starts_one_run_and_scheduled_runs_stay_10_s_apart(
        sandbox: Sandbox) -> None:
    ws, clock = start(sandbox, "2026-06-01T00:00:00+00:00")
    w = client(ws)
    hourly = create(w, schedule=cron("0 0 * * * ?"))
    # One jump over three hourly fires: one late run now, like the service after a delay.
    advance_to(ws, clock, "2026-06-01T03:00:07+00:00")
    assert starts(w, hourly) == ["2026-06-01 03:00:07"]
    assert iso(ws.scheduler.next_fires()[hourly]) == "2026-06-01 04:00:00"  # type: ignore[union-attr]
    # Fires every 5 s are held to one run per 10 s (the service's minimum interval).
    advance_to(ws, clock, "2026-06-01T03:00:30+00:00")
    every_5_s = create(w, schedule=cron("*/5 * * * * ?"), queue={"enabled": False})
    for second in range(35, 60, 5):
        advance_to(ws, clock, f"2026-06-01T03:00:{second:02d}+00:00")
    assert starts(w, every_5_s) == [
        "2026-06-01 03:00:35", "2026-06-01 03:00:45", "2026-06-01 03:00:55"]


def test_schedules_are_off_unless_asked_for(sandbox: Sandbox) -> None:
    ws, clock = start(sandbox, "2026-06-01T00:00:00+00:00", schedules=False)
    w = client(ws)
    job_id = create(w, schedule=cron("0 * * * * ?"))
    assert ws.scheduler is None
    clock.advance(600)  # no scheduler thread exists to fire anything
    assert runs(w, job_id) == []


def test_fires_on_the_real_clock_at_high_speed(sandbox: Sandbox) -> None:
    # x120: a minute is 0.5 s of wall time, so 45 simulated seconds of slack are 375 ms (a loaded
    # 2-core CI machine delays the scheduler thread by tens of ms at times).
    ws = sandbox.start(clock=RealClock(), speed=120.0, schedules=True)
    w = client(ws)
    template = w.jobs.get(create(w)).settings
    job_id = w.jobs.create(name="every-minute", tasks=template.tasks,
                           job_clusters=template.job_clusters,
                           schedule=CronSchedule(quartz_cron_expression="0 * * * * ?",
                                                 timezone_id="UTC"),
                           queue=QueueSettings(enabled=False)).job_id
    deadline = time.monotonic() + 20
    while len(starts(w, job_id)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    found = [r for r in w.jobs.list_runs(job_id=job_id) if r.trigger == TriggerType.PERIODIC]
    assert len(found) >= 3
    for r in found:
        # Late by at most 45 simulated seconds, and
        # never early (an early fire would sit just below the next minute).
        assert r.start_time % 60_000 <= 45_000, iso(r.start_time)
    assert len({r.start_time // 60_000 for r in found}) == len(found)  # one per minute


def test_a_stored_schedule_that_cannot_be_read_stops_only_its_own_job(sandbox: Sandbox) -> None:
    ws, clock = start(sandbox, "2026-06-01T00:00:00+00:00")
    w = client(ws)
    broken = create(w, schedule=cron("0 0 * * * ?"))
    hourly = create(w, schedule=cron("0 0 * * * ?"))
    # As a hand-edited state file could have it: the service would never accept it.
    with ws.workspace.store.lock:
        ws.workspace.store.data["jobs"][str(broken)]["settings"]["schedule"] = cron("0 0 25 * * ?")
    w.jobs.update(hourly, new_settings=JobSettings(name="still fires"))  # no 500 from the hook
    advance_to(ws, clock, "2026-06-01T01:00:00+00:00")
    assert starts(w, hourly) == ["2026-06-01 01:00:00"] and starts(w, broken) == []
