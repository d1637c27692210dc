"""Runs a year for the projected annual saving: the job's schedule when it has one, else observed."""

from __future__ import annotations

import dataclasses

import pytest

from server.domain import JobSchedule, Project
from server.services.savings import project_savings, savings_report
from tests.timeline.runs import run

PROJECT = Project(workspace="ws", job_id=7, cluster_key="main", id=1)
MINUTE_MS = 60 * 1000


def _runs(gap_ms: int) -> list:
    """Baseline 11 a run, then three Trimtab runs at 5: a saving of 6 a run."""
    return [run(1, 1000, 10.0, gap_ms=gap_ms), run(2, 1000, 12.0, gap_ms=gap_ms),
            run(3, 800, 5.0, rec=1, gap_ms=gap_ms), run(4, 800, 5.0, rec=1, gap_ms=gap_ms),
            run(5, 800, 5.0, rec=1, gap_ms=gap_ms)]


def test_without_a_schedule_the_observed_cadence_is_used_and_said() -> None:
    s = project_savings(PROJECT, _runs(15 * MINUTE_MS))  # an accelerated demo: a run every 15 minutes
    assert s is not None
    assert s.cadence_basis == "observed" and s.cadence_note == ""
    assert s.runs_per_year == pytest.approx(365 * 24 * 4)
    assert s.projected_annual == pytest.approx(6.0 * 365 * 24 * 4)


def test_an_unpaused_schedule_drives_runs_a_year_whatever_the_observed_gaps() -> None:
    nightly = dataclasses.replace(PROJECT, schedule=JobSchedule("0 0 2 * * ?", "America/New_York"))
    s = project_savings(nightly, _runs(15 * MINUTE_MS))
    assert s is not None and s.cadence_basis == "schedule" and s.cadence_note == ""
    # 02:00 does not exist in New York on the day clocks go forward, and Quartz skips it.
    assert s.runs_per_year == 364
    assert s.projected_annual == pytest.approx(6.0 * 364)
    weekdays = dataclasses.replace(PROJECT, schedule=JobSchedule("0 0 6 ? * MON-FRI", "UTC"))
    s = project_savings(weekdays, _runs(15 * MINUTE_MS))
    assert s is not None and s.runs_per_year in (260, 261, 262)  # 52 weeks and a day or two
    assert s.projected_annual == pytest.approx(6.0 * s.runs_per_year)
    # The other figures do not depend on the cadence.
    plain = project_savings(PROJECT, _runs(15 * MINUTE_MS))
    assert plain is not None and (s.saved_to_date, s.current_cost_per_run) == (plain.saved_to_date,
                                                                               plain.current_cost_per_run)


def test_a_paused_schedule_falls_back_to_the_observed_cadence() -> None:
    paused = dataclasses.replace(PROJECT, schedule=JobSchedule("0 0 2 * * ?", "UTC", paused=True))
    s = project_savings(paused, _runs(7 * 24 * 3600 * 1000))  # run by hand once a week
    assert s is not None and s.cadence_basis == "observed" and "paused" in s.cadence_note
    assert s.runs_per_year == pytest.approx(365 / 7)
    assert s.projected_annual == pytest.approx(6.0 * 365 / 7)


@pytest.mark.parametrize(("cron", "note"), [("0 0 2 L * ?", "not counted"),
                                            ("0 0 2 * * *", "not understood"),
                                            ("0 0 2 * * ? 2020", "fires no more")])
def test_a_schedule_that_cannot_be_counted_falls_back_and_says_why(cron: str, note: str) -> None:
    project = dataclasses.replace(PROJECT, schedule=JobSchedule(cron, "UTC"))
    s = project_savings(project, _runs(24 * 3600 * 1000))
    assert s is not None and s.cadence_basis == "observed" and note in s.cadence_note
    assert s.runs_per_year == pytest.approx(365)


def test_totals_add_scheduled_and_observed_projects() -> None:
    nightly = dataclasses.replace(PROJECT, schedule=JobSchedule("0 0 2 * * ?", "UTC"))
    other = dataclasses.replace(PROJECT, id=2, job_id=8)
    report = savings_report([(nightly, _runs(15 * MINUTE_MS)), (other, _runs(2 * 24 * 3600 * 1000))])
    assert [p.cadence_basis for p in report.projects] == ["schedule", "observed"]
    assert report.total_projected_annual == pytest.approx(6.0 * 365 + 6.0 * 365 / 2)


def test_a_periodic_trigger_counts_one_run_per_interval() -> None:
    from server.onboard import job_schedule
    from server.store.convert import schedule_from_json, schedule_to_json

    settings = {"trigger": {"pause_status": "UNPAUSED", "periodic": {"interval": 6, "unit": "HOURS"}}}
    every_6h = job_schedule(settings)
    assert every_6h == JobSchedule("", paused=False, interval_s=6 * 3600.0)
    assert schedule_from_json(schedule_to_json(every_6h)) == every_6h  # as the store keeps it
    s = project_savings(dataclasses.replace(PROJECT, schedule=every_6h), _runs(15 * MINUTE_MS))
    assert s is not None and s.cadence_basis == "schedule" and s.runs_per_year == pytest.approx(4 * 365)
    weekly = job_schedule({"trigger": {"periodic": {"interval": 2, "unit": "WEEKS"}}})
    assert weekly is not None and weekly.interval_s == 14 * 86400.0
    paused = job_schedule({"trigger": {"pause_status": "PAUSED", "periodic": {"interval": 1, "unit": "DAYS"}}})
    s = project_savings(dataclasses.replace(PROJECT, schedule=paused), _runs(7 * 24 * 3600 * 1000))
    assert s is not None and s.cadence_basis == "observed" and "paused" in s.cadence_note
    # A file-arrival trigger, or a periodic one with no usable interval, is no schedule.
    assert job_schedule({"trigger": {"file_arrival": {"url": "s3://b/in/"}}}) is None
    assert job_schedule({"trigger": {"periodic": {"interval": 0, "unit": "DAYS"}}}) is None
    assert job_schedule({"trigger": {"periodic": {"interval": 3, "unit": "FORTNIGHTS"}}}) is None


def test_a_yearly_job_counted_from_its_run_in_a_leap_year_still_fires_once_a_year() -> None:
    import datetime as dt

    yearly = dataclasses.replace(PROJECT, schedule=JobSchedule("0 0 6 1 1 ?", "UTC"))
    new_year_2028 = int(dt.datetime(2028, 1, 1, 6, 0, 5, tzinfo=dt.UTC).timestamp() * 1000)
    runs = [dataclasses.replace(r, start_ms=new_year_2028 - (5 - i) * 365 * 86_400_000, end_ms=None)
            for i, r in enumerate(_runs(0), start=1)]
    s = project_savings(yearly, runs)
    assert s is not None and (s.cadence_basis, s.cadence_note) == ("schedule", "")
    assert s.runs_per_year == 1.0 and s.projected_annual == pytest.approx(6.0)


def test_the_cli_shows_a_rare_schedules_runs_a_year_in_fractions() -> None:
    from server.cli.savings import _runs_a_year

    assert [_runs_a_year(v) for v in (0.25, 1.0, 4.0, 52.14, 364.0)] == ["0.25", "1", "4", "52", "364"]


def _long_runs(runtime_s: float, gap_ms: int) -> list:
    """`_runs` (a saving of 6 a run) with every run lasting `runtime_s`, one starting every `gap_ms`."""
    return [dataclasses.replace(r, runtime_s=runtime_s, end_ms=r.start_ms + int(runtime_s * 1000))
            for r in _runs(gap_ms)]


def test_runs_longer_than_the_schedules_interval_count_as_many_as_can_start() -> None:
    # Every 15 minutes, runs of 40: with one run at a time (the Jobs API's default) Databricks skips the
    # fires while a run is going, so about one starts every 45 minutes (11,680 a year), not 35,040.
    every_15 = dataclasses.replace(PROJECT, schedule=JobSchedule("0 0/15 * * * ?", "UTC"))
    s = project_savings(every_15, _long_runs(40 * 60, 45 * MINUTE_MS))
    assert s is not None and s.cadence_basis == "schedule"
    assert s.runs_per_year == pytest.approx(365 * 24 * 60 / 40)  # 13,140: a year of back-to-back runs
    assert s.projected_annual == pytest.approx(6.0 * 365 * 24 * 60 / 40)  # was 6 x 35,040
    assert "35,040" in s.cadence_note and "13,140" in s.cadence_note and "max_concurrent_runs is 1" in s.cadence_note
    # Two at a time: twice as many can start, still fewer than the fires.
    two = dataclasses.replace(PROJECT, schedule=JobSchedule("0 0/15 * * * ?", "UTC", max_concurrent_runs=2))
    s = project_savings(two, _long_runs(40 * 60, 15 * MINUTE_MS))
    assert s is not None and s.runs_per_year == pytest.approx(2 * 365 * 24 * 60 / 40) and "is 2" in s.cadence_note
    # Enough at a time, or runs shorter than the interval: every fire is a run, and nothing is said.
    many = dataclasses.replace(PROJECT, schedule=JobSchedule("0 0/15 * * * ?", "UTC", max_concurrent_runs=5))
    s = project_savings(many, _long_runs(40 * 60, 15 * MINUTE_MS))
    assert s is not None and (s.runs_per_year, s.cadence_note) == (365 * 96, "")
    s = project_savings(every_15, _long_runs(10 * 60, 15 * MINUTE_MS))
    assert s is not None and (s.runs_per_year, s.cadence_note) == (365 * 96, "")
    # A periodic trigger alike: hourly, runs of 100 minutes.
    hourly = dataclasses.replace(PROJECT, schedule=JobSchedule("", interval_s=3600.0))
    s = project_savings(hourly, _long_runs(100 * 60, 120 * MINUTE_MS))
    assert s is not None and s.runs_per_year == pytest.approx(365 * 24 * 60 / 100) and "8,760" in s.cadence_note


def test_scheduled_runs_start_at_least_ten_seconds_apart_and_none_with_no_run_allowed() -> None:
    every_second = dataclasses.replace(PROJECT, schedule=JobSchedule("* * * * * ?", "UTC", max_concurrent_runs=1000))
    s = project_savings(every_second, _long_runs(2, 15 * MINUTE_MS))
    assert s is not None and s.runs_per_year == pytest.approx(365 * 86400 / 10) and "10 s apart" in s.cadence_note
    none_allowed = dataclasses.replace(PROJECT, schedule=JobSchedule("0 0 2 * * ?", "UTC", max_concurrent_runs=0))
    s = project_savings(none_allowed, _runs(24 * 3600 * 1000))
    assert s is not None and s.cadence_basis == "observed" and "max_concurrent_runs is 0" in s.cadence_note


def test_max_concurrent_runs_is_read_with_the_schedule_and_kept_in_the_store() -> None:
    from server.onboard import job_schedule
    from server.store.convert import schedule_from_json, schedule_to_json

    cron = {"schedule": {"quartz_cron_expression": "0 0/15 * * * ?", "timezone_id": "UTC"}}
    assert job_schedule(cron) == JobSchedule("0 0/15 * * * ?", "UTC")  # unset: 1, as the Jobs API
    assert job_schedule({**cron, "max_concurrent_runs": 4}) == JobSchedule("0 0/15 * * * ?", "UTC",
                                                                            max_concurrent_runs=4)
    periodic = {"trigger": {"periodic": {"interval": 1, "unit": "HOURS"}}, "max_concurrent_runs": 0}
    assert job_schedule(periodic) == JobSchedule("", interval_s=3600.0, max_concurrent_runs=0)
    for schedule in (job_schedule({**cron, "max_concurrent_runs": 4}), job_schedule(periodic)):
        assert schedule_from_json(schedule_to_json(schedule)) == schedule
    # A schedule stored before the setting was kept reads as the default.
    assert schedule_from_json({"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC"}) == JobSchedule(
        "0 0 2 * * ?", "UTC")
