"""A job's Quartz schedule through the real databricks-sdk: create, get, list, update, reset, errors."""

from __future__ import annotations

import pytest
from databricks.sdk.errors import InvalidParameterValue
from databricks.sdk.service.jobs import CronSchedule, JobSettings, PauseStatus

from sandbox.workspace import RunningWorkspace
from tests.sandbox_ws.conftest import client
from tests.sandbox_ws.test_sandbox_ws_jobs import raw, two_cluster_settings

NIGHTLY = CronSchedule(quartz_cron_expression="0 30 2 * * ?", timezone_id="Europe/Amsterdam",
                       pause_status=PauseStatus.UNPAUSED)


def _create(w: object, schedule: CronSchedule | None) -> int:
    s = two_cluster_settings()
    return w.jobs.create(name=s.name, job_clusters=s.job_clusters, tasks=s.tasks,  # type: ignore[attr-defined]
                         schedule=schedule).job_id


def test_schedule_round_trips_through_create_get_list_update_and_reset(ws: RunningWorkspace) -> None:
    w = client(ws)
    job_id = _create(w, NIGHTLY)
    assert w.jobs.get(job_id).settings.schedule == NIGHTLY
    # jobs/list leaves tasks and clusters out unless expanded, but never the schedule.
    listed = next(j for j in w.jobs.list() if j.job_id == job_id)
    assert listed.settings.schedule == NIGHTLY and not listed.settings.tasks

    # pause_status left out reads back UNPAUSED, as the service does.
    weekdays = CronSchedule(quartz_cron_expression="0 0 6 ? * MON-FRI", timezone_id="UTC")
    w.jobs.update(job_id, new_settings=JobSettings(schedule=weekdays))
    got = w.jobs.get(job_id).settings
    assert got.schedule == CronSchedule(quartz_cron_expression="0 0 6 ? * MON-FRI", timezone_id="UTC",
                                        pause_status=PauseStatus.UNPAUSED)
    assert [t.task_key for t in got.tasks] == ["t1", "t2"]  # update replaced only the schedule

    paused = CronSchedule(quartz_cron_expression="0 0 6 ? * MON-FRI", timezone_id="UTC",
                          pause_status=PauseStatus.PAUSED)
    w.jobs.update(job_id, new_settings=JobSettings(schedule=paused))
    assert w.jobs.get(job_id).settings.schedule.pause_status == PauseStatus.PAUSED

    w.jobs.update(job_id, fields_to_remove=["schedule"])
    assert w.jobs.get(job_id).settings.schedule is None

    # reset replaces all settings: a schedule comes back only when sent.
    s = two_cluster_settings("reset")
    w.jobs.reset(job_id, new_settings=JobSettings(name="reset", job_clusters=s.job_clusters, tasks=s.tasks,
                                                  schedule=NIGHTLY))
    assert w.jobs.get(job_id).settings.schedule == NIGHTLY
    w.jobs.reset(job_id, new_settings=JobSettings(name="reset", job_clusters=s.job_clusters, tasks=s.tasks))
    assert w.jobs.get(job_id).settings.schedule is None
    # The wire shape is the API's own.
    w.jobs.update(job_id, new_settings=JobSettings(schedule=NIGHTLY))
    body = raw(ws, "GET", "/api/2.2/jobs/get", params={"job_id": job_id}).json()
    assert body["settings"]["schedule"] == {"quartz_cron_expression": "0 30 2 * * ?",
                                            "timezone_id": "Europe/Amsterdam", "pause_status": "UNPAUSED"}


@pytest.mark.parametrize(("cron", "tz", "words"), [
    ("0 0 2 * *", "UTC", "expected 6 or 7 fields"),                 # Unix cron, not Quartz
    ("0 0 2 * * *", "UTC", "exactly one of day-of-month and day-of-week"),
    ("0 61 2 * * ?", "UTC", "minutes value '61'"),
    ("0 0 2 ? * 8", "UTC", "day-of-week value '8'"),
    ("0 0 2 * BAD ?", "UTC", "month value 'BAD'"),
    ("0 0 */0 * * ?", "UTC", "step"),
    ("every night", "UTC", "expected 6 or 7 fields"),
    ("", "UTC", "quartz_cron_expression is required"),
    ("0 0 2 * * ?", "Mars/Olympus_Mons", "Invalid timezone_id"),
])
def test_garbage_schedules_are_400_invalid_parameter_value(ws: RunningWorkspace, cron: str, tz: str,
                                                          words: str) -> None:
    w = client(ws)
    bad = CronSchedule(quartz_cron_expression=cron, timezone_id=tz)
    with pytest.raises(InvalidParameterValue, match=words):
        _create(w, bad)
    job_id = _create(w, NIGHTLY)
    with pytest.raises(InvalidParameterValue, match=words):
        w.jobs.update(job_id, new_settings=JobSettings(schedule=bad))
    assert w.jobs.get(job_id).settings.schedule == NIGHTLY  # a refused update changed nothing
    reply = raw(ws, "POST", "/api/2.1/jobs/update", json={"job_id": job_id, "new_settings": {
        "schedule": {"quartz_cron_expression": cron, "timezone_id": tz}}})
    assert reply.status_code == 400 and reply.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_quartz_forms_databricks_accepts_are_accepted(ws: RunningWorkspace) -> None:
    w = client(ws)
    for cron in ("0 0 2 L * ?", "0 0 2 15W * ?", "0 0 2 ? * 6#3", "0 0 2 ? * FRIL", "0 0/15 8-18 ? * MON-FRI",
                 "0 0 0 1 JAN,APR,JUL,OCT ? 2027", "15 10 22-2 ? * SAT,SUN"):
        _create(w, CronSchedule(quartz_cron_expression=cron, timezone_id="America/New_York"))
    bad_status = raw(ws, "POST", "/api/2.1/jobs/create", json={
        "name": "x", "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC",
                                  "pause_status": "SLEEPING"}})
    assert bad_status.status_code == 400 and "pause_status" in bad_status.json()["message"]
