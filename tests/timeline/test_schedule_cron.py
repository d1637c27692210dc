"""The Quartz cron evaluator that savings count a job's runs a year with (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from server.schedule import (
    CronError,
    QuartzCron,
    UnsupportedCron,
    count_fires,
    fires_per_year,
    parse,
    quartz_weekday,
    skipped_seconds,
    zone,
)

# Thursday 2026-01-01 00:00 UTC: a year from here has 365 days, 261 of them Monday to Friday.
NEW_YEAR_MS = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
UTC = dt.UTC


def _at(*args: int, tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


def fire_times(cron: QuartzCron, start: dt.datetime, end: dt.datetime, tz: dt.tzinfo) -> Iterator[dt.datetime]:
    """Every fire time in [start, end), in `tz`, one by one: the plain oracle `count_fires` must agree with."""
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    day = local_start.date()
    while day <= local_end.date():
        if cron.matches_day(day):
            midnight = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
            for second in cron.seconds_of_day():
                moment = midnight + dt.timedelta(seconds=second)
                exists = moment.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == moment.replace(tzinfo=None)
                if exists and local_start <= moment < local_end:
                    yield moment
        day += dt.timedelta(days=1)


def test_daily_fires_365_times_a_year_at_its_local_time() -> None:
    assert fires_per_year("0 30 2 * * ?", "UTC", NEW_YEAR_MS) == 365
    la = zone("America/Los_Angeles")
    first = list(fire_times(parse("0 30 2 * * ?"), _at(2026, 1, 1), _at(2026, 1, 4), la))
    # 02:30 in Los Angeles is 10:30 UTC in winter; the evening of Dec 31 there is Jan 1 in UTC.
    assert [t.astimezone(UTC) for t in first] == [_at(2026, 1, 1, 10, 30), _at(2026, 1, 2, 10, 30),
                                                 _at(2026, 1, 3, 10, 30)]


def test_local_times_the_clocks_skip_do_not_fire_and_repeated_ones_fire_once() -> None:
    # 2026: clocks go forward on Mar 8 (New York) and Mar 29 (Amsterdam), back on Nov 1 / Oct 25.
    assert fires_per_year("0 30 2 * * ?", "America/New_York", NEW_YEAR_MS) == 364
    assert fires_per_year("0 30 1 * * ?", "America/New_York", NEW_YEAR_MS) == 365  # 01:30 twice on Nov 1
    assert fires_per_year("0 0/15 * * * ?", "Europe/Amsterdam", NEW_YEAR_MS) == 4 * 24 * 365 - 4
    assert fires_per_year("0 0/15 * * * ?", "UTC", NEW_YEAR_MS) == 4 * 24 * 365
    assert skipped_seconds(dt.date(2026, 3, 29), zone("Europe/Amsterdam")) == (2 * 3600, 3 * 3600)
    assert skipped_seconds(dt.date(2026, 3, 8), zone("America/New_York")) == (2 * 3600, 3 * 3600)
    assert skipped_seconds(dt.date(2026, 10, 25), zone("Europe/Amsterdam")) is None  # clocks go back
    assert skipped_seconds(dt.date(2026, 3, 28), zone("Europe/Amsterdam")) is None
    # A window that starts inside the gap's day after it: nothing to take off.
    cron, ams = parse("0 30 2 * * ?"), zone("Europe/Amsterdam")
    assert count_fires(cron, _at(2026, 3, 29, 2, 0), _at(2026, 3, 31), ams) == 1  # 03:00 CEST start


def test_weekdays_only_uses_quartz_numbering_where_1_is_sunday() -> None:
    assert fires_per_year("0 0 6 ? * MON-FRI", "UTC", NEW_YEAR_MS) == 261
    assert fires_per_year("0 0 6 ? * 2-6", "UTC", NEW_YEAR_MS) == 261  # MON=2 .. FRI=6
    assert fires_per_year("0 0 6 ? * 1,7", "UTC", NEW_YEAR_MS) == 104  # SUN and SAT: 52 weekends
    days = [t.date() for t in fire_times(parse("0 0 6 ? * MON-FRI"), _at(2026, 1, 1), _at(2026, 1, 8), UTC)]
    assert [d.strftime("%a") for d in days] == ["Thu", "Fri", "Mon", "Tue", "Wed"]
    assert quartz_weekday(dt.date(2026, 1, 4)) == 1 and quartz_weekday(dt.date(2026, 1, 10)) == 7


def test_every_six_hours_and_other_steps() -> None:
    assert fires_per_year("0 0 */6 * * ?", "UTC", NEW_YEAR_MS) == 4 * 365
    assert sorted(parse("0 0 */6 * * ?").hours) == [0, 6, 12, 18]
    assert sorted(parse("0 0 3/6 * * ?").hours) == [3, 9, 15, 21]  # a/n: from a, every n
    assert sorted(parse("0 0/20 8-10 * * ?").minutes) == [0, 20, 40]
    assert fires_per_year("0 0/15 * * * ?", "UTC", NEW_YEAR_MS) == 4 * 24 * 365
    assert sorted(parse("0 0 22-2 * * ?").hours) == [0, 1, 2, 22, 23]  # ranges wrap, as in Quartz


def test_a_month_list_quarterly_and_a_year_field() -> None:
    quarterly = "0 0 1 1 JAN,APR,JUL,OCT ?"
    assert fires_per_year(quarterly, "UTC", NEW_YEAR_MS) == 4
    assert fires_per_year("0 0 1 1 1,4,7,10 ?", "UTC", NEW_YEAR_MS) == 4
    assert fires_per_year("0 0 1 1 jan-mar ?", "UTC", NEW_YEAR_MS) == 3  # names in any case
    assert fires_per_year("0 0 1 31 * ?", "UTC", NEW_YEAR_MS) == 7  # months with a 31st
    assert fires_per_year("0 0 1 * * ? 2025", "UTC", NEW_YEAR_MS) == 0  # a year that has passed
    assert fires_per_year("0 0 1 * * ? 2026-2030", "UTC", NEW_YEAR_MS) == 365


def test_count_matches_the_listed_fire_times_on_window_edges() -> None:
    tz = zone("Europe/Amsterdam")
    for expression in ("0 30 2 * * ?", "0 0 6 ? * MON-FRI", "0 0 */6 * * ?", "30 15 9,17 ? * SAT,SUN",
                       "0 0 12 1,15 * ?"):
        cron = parse(expression)
        for start, end in ((_at(2026, 3, 3, 6, 0, 0), _at(2026, 4, 9, 9, 15, 30)),
                           (_at(2026, 3, 3, 5, 0, 0, 1), _at(2026, 3, 3, 5, 0, 1)),
                           (_at(2026, 1, 1), _at(2027, 1, 1))):
            assert count_fires(cron, start, end, tz) == len(list(fire_times(cron, start, end, tz))), expression
    # [start, end): a fire exactly at start counts, one exactly at end does not.
    daily = parse("0 0 5 * * ?")
    assert count_fires(daily, _at(2026, 1, 1, 5), _at(2026, 1, 3, 5), UTC) == 2
    assert count_fires(daily, _at(2026, 1, 1, 5, 0, 0, 1), _at(2026, 1, 3, 5, 0, 0, 1), UTC) == 2


@pytest.mark.parametrize(("expression", "words"), [
    ("", "empty"),
    ("0 0 2 * *", "6 or 7 fields"),                   # Unix cron has five
    ("0 0 2 * * ? 2026 x", "6 or 7 fields"),
    ("0 0 2 * * *", "exactly one of day-of-month and day-of-week"),
    ("0 0 2 ? * ?", "exactly one of day-of-month and day-of-week"),
    ("0 60 2 * * ?", "minutes: 60 is outside 0-59"),
    ("0 0 24 * * ?", "hours: 24"),
    ("0 0 2 32 * ?", "day-of-month: 32"),
    ("0 0 2 ? * 0", "day-of-week: 0 is outside 1-7"),  # Unix cron's Sunday
    ("0 0 2 * SEPT ?", "month: 'SEPT'"),
    ("0 0 */0 * * ?", "step '0'"),
    ("0 0 2,,3 * * ?", "empty list element"),
    ("0 ? 2 * * ?", "'?' is allowed only"),
    ("nightly at two", "6 or 7 fields"),
])
def test_invalid_expressions_say_what_is_wrong(expression: str, words: str) -> None:
    with pytest.raises(CronError, match=words) as info:
        parse(expression)
    assert not isinstance(info.value, UnsupportedCron)


@pytest.mark.parametrize("expression", ["0 0 2 L * ?", "0 0 2 L-3 * ?", "0 0 2 LW * ?", "0 0 2 15W * ?",
                                        "0 0 2 ? * 6L", "0 0 2 ? * FRIL", "0 0 2 ? * 6#3", "0 0 2 ? * MON#1"])
def test_last_nearest_and_nth_weekday_forms_are_refused_as_unsupported(expression: str) -> None:
    with pytest.raises(UnsupportedCron, match="not supported"):
        parse(expression)


def test_unknown_time_zone_is_an_error() -> None:
    with pytest.raises(CronError, match="timezone_id"):
        fires_per_year("0 0 2 * * ?", "Mars/Olympus_Mons", NEW_YEAR_MS)


def test_a_yearly_or_leap_day_schedule_is_counted_over_a_leap_cycle() -> None:
    def ms(*when: int) -> int:
        return int(_at(*when).timestamp() * 1000)

    # Counted from the job's own run on 1 January 2028 (a leap year), the next fire is 366 days on:
    # one 365-day window held none, and savings called the schedule ended.
    assert fires_per_year("0 0 6 1 1 ?", "UTC", ms(2028, 1, 1, 6, 0)) == 1.0
    assert fires_per_year("0 0 6 1 1 ?", "UTC", ms(2027, 1, 1, 6, 0)) == 1.0
    # 29 February fires once in four years, from inside a leap year's window or not.
    assert fires_per_year("0 0 6 29 2 ?", "UTC", ms(2028, 1, 1)) == 0.25
    assert fires_per_year("0 0 6 29 2 ?", "UTC", ms(2026, 3, 1)) == 0.25
    assert fires_per_year("0 0 6 1 1/3 ?", "UTC", ms(2028, 1, 1)) == 4.0  # quarterly
    assert fires_per_year("0 0 2 * * ? 2020", "UTC", ms(2026, 1, 1)) == 0.0  # a passed year still ends it


def test_java_zone_ids_databricks_takes_are_read() -> None:
    # Offset and three-letter ids are valid Java zone ids; Python's database has neither, so they read as
    # unknown and savings fell back to the observed cadence.
    assert zone("PST") == zone("America/Los_Angeles") and zone("IST") == zone("Asia/Kolkata")
    at = _at(2026, 6, 1, 12)
    assert at.astimezone(zone("GMT+05:30")).utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert at.astimezone(zone("UTC+8")).utcoffset() == dt.timedelta(hours=8)
    assert at.astimezone(zone("UT-0330")).utcoffset() == -dt.timedelta(hours=3, minutes=30)
    assert fires_per_year("0 30 2 * * ?", "PST", NEW_YEAR_MS) == fires_per_year("0 30 2 * * ?",
                                                                                  "America/Los_Angeles", NEW_YEAR_MS)
    for bad in ("GMT+25", "Mars/Olympus", "UTC+5:7"):
        with pytest.raises(CronError, match="unknown timezone_id"):
            zone(bad)


def test_a_schedule_with_a_year_field_is_counted_in_its_year_not_averaged() -> None:
    # Review: averaged over four years, a monthly job of 2027 only read 1.5 runs a year in 2027.
    from_june = int(_at(2027, 6, 2).timestamp() * 1000)
    assert fires_per_year("0 0 6 1 * ? 2027", "UTC", from_june) == 6.0


@pytest.fixture
def no_tz_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as on a host with no time-zone database (Windows, slim images) and no tzdata wheel."""
    import sys
    import zoneinfo

    for name in [m for m in sys.modules if m == "tzdata" or m.startswith("tzdata.")] + ["tzdata"]:
        monkeypatch.setitem(sys.modules, name, None)  # `import tzdata(.zoneinfo...)` fails, as when not installed
    zoneinfo.reset_tzpath(to=[])
    zoneinfo.ZoneInfo.clear_cache()
    yield
    zoneinfo.reset_tzpath()
    zoneinfo.ZoneInfo.clear_cache()


def test_without_a_time_zone_database_utc_still_counts_and_other_zones_say_the_host_lacks_one(
        no_tz_database: None) -> None:
    from server.domain import JobSchedule, Project, Run
    from server.services.savings import cadence

    with pytest.raises(ZoneInfoNotFoundError):  # the host really has none here
        ZoneInfo("America/New_York")
    # UTC under its names needs no database: every fire counted (before: "unknown timezone_id 'UTC'").
    for name in ("UTC", "GMT", "Z", "Etc/UTC", "", "utc"):
        assert zone(name).utcoffset(None) == dt.timedelta(0), name
        assert fires_per_year("0 0/15 * * * ?", name, NEW_YEAR_MS) == 365 * 96
    assert fires_per_year("0 0 12 * * ?", "GMT+05:30", NEW_YEAR_MS) == 365  # an offset needs none either
    # A named zone cannot be read, and the note says it is the host, not the job's schedule.
    for name in ("America/New_York", "PST"):
        with pytest.raises(CronError, match="this host has no time-zone database"):
            zone(name)
    runs = [Run(project_id=1, databricks_run_id=i, start_ms=NEW_YEAR_MS + i * 86_400_000) for i in range(5)]
    project = Project(id=1, workspace="w", job_id=1, cluster_key="main",
                      schedule=JobSchedule("0 0/15 * * * ?", "Europe/Berlin"))
    c = cadence(project, runs)
    assert c.basis == "observed" and "host has no time-zone database" in c.note and "tzdata" in c.note


def test_the_server_depends_on_tzdata_so_named_zones_read_on_any_host() -> None:
    import pathlib
    import tomllib

    pyproject = tomllib.loads((pathlib.Path(__file__).parents[2] / "pyproject.toml").read_text())
    server = pyproject["project"]["optional-dependencies"]["server"]
    assert any(d.split(">")[0].split("=")[0].strip() == "tzdata" for d in server)
    assert not any(d.startswith("tzdata") for d in pyproject["project"]["dependencies"])  # the agent's: not
