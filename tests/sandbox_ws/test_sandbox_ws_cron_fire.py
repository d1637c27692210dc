"""The emulator's own Quartz fire-time search (sandbox/workspace/cron.py), against hand-checked
calendars and against a brute-force scan of every second that shares none of its code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sandbox.workspace.cron import check_cron, next_fire_ms, parse_cron


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def iso(at: int) -> str:
    return datetime.fromtimestamp(at / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def fires(expression: str, zone: str, after: str, n: int) -> list[str | None]:
    cron, at, out = parse_cron(expression), ms(after), []
    for _ in range(n):
        nxt = next_fire_ms(cron, zone, at)
        out.append(None if nxt is None else iso(nxt))
        if nxt is None:
            break
        at = nxt
    return out


@pytest.mark.parametrize(("expression", "zone", "after", "expected"), [
    # 02:30 Amsterdam: CET (UTC+1) until the clocks go forward on Sunday 29 March 2026, when
    # 02:30 does not exist (no fire), then CEST (UTC+2).
    ("0 30 2 * * ?", "Europe/Amsterdam", "2026-03-27T00:00:00+00:00",
     ["2026-03-27 01:30:00", "2026-03-28 01:30:00", "2026-03-30 00:30:00"]),
    # Hourly when the clocks go back (25 October 2026, 03:00 CEST -> 02:00 CET): the repeated
    # local 02:00 fires once, at its first occurrence (00:00 UTC), not again at 01:00 UTC.
    ("0 0 * * * ?", "Europe/Amsterdam", "2026-10-24T23:30:00+00:00",
     ["2026-10-25 00:00:00", "2026-10-25 02:00:00", "2026-10-25 03:00:00"]),
    # New York 09:00 on weekdays: 14:00 UTC in winter time.
    ("0 0 9 ? * MON-FRI", "America/New_York", "2026-12-04T15:00:00+00:00",
     ["2026-12-07 14:00:00", "2026-12-08 14:00:00"]),
    # Strictly after: a fire exactly at `after` is not returned again.
    ("0 0 2 * * ?", "UTC", "2026-01-01T02:00:00+00:00", ["2026-01-02 02:00:00"]),
    ("0 0 2 L * ?", "UTC", "2026-01-01T00:00:00+00:00",
     ["2026-01-31 02:00:00", "2026-02-28 02:00:00", "2026-03-31 02:00:00"]),
    ("0 0 2 L-2 * ?", "UTC", "2026-02-01T00:00:00+00:00", ["2026-02-26 02:00:00"]),
    # LW: last weekday. May 2026 ends on a Sunday -> Friday 29th.
    ("0 0 2 LW * ?", "UTC", "2026-05-01T00:00:00+00:00", ["2026-05-29 02:00:00"]),
    # 15W: 15 Feb 2026 is a Sunday -> Monday 16th; 1W in Aug 2026 (Saturday 1st) -> Monday 3rd.
    ("0 0 2 15W * ?", "UTC", "2026-02-01T00:00:00+00:00", ["2026-02-16 02:00:00"]),
    ("0 0 2 1W * ?", "UTC", "2026-07-31T00:00:00+00:00", ["2026-08-03 02:00:00"]),
    ("0 0 2 ? * 6#3", "UTC", "2026-01-01T00:00:00+00:00",
     ["2026-01-16 02:00:00", "2026-02-20 02:00:00"]),
    ("0 0 2 ? * FRIL", "UTC", "2026-01-01T00:00:00+00:00",
     ["2026-01-30 02:00:00", "2026-02-27 02:00:00"]),
    ("0 0 2 ? * L", "UTC", "2026-12-04T00:00:00+00:00", ["2026-12-05 02:00:00"]),  # Saturday
    # Quartz wraps a range past the top of its field: 22-2 is 22, 23, 0, 1, 2.
    ("15 10 22-2 ? * SAT,SUN", "UTC", "2026-12-04T17:40:00+00:00",
     ["2026-12-05 00:10:15", "2026-12-05 01:10:15", "2026-12-05 02:10:15",
      "2026-12-05 22:10:15"]),
    ("0 0/20 8 * * ?", "UTC", "2026-12-04T08:00:00+00:00",
     ["2026-12-04 08:20:00", "2026-12-04 08:40:00", "2026-12-05 08:00:00"]),
    ("0 0 0 1 JAN,JUL ? 2027", "UTC", "2026-12-04T00:00:00+00:00",
     ["2027-01-01 00:00:00", "2027-07-01 00:00:00", None]),
    ("0 0 2 30 2 ?", "UTC", "2026-01-01T00:00:00+00:00", [None]),   # 30 February
    ("0 0 2 ? * 9L", "UTC", "2026-01-01T00:00:00+00:00", [None]),   # accepted, never a day
    ("* * * * * ?", "UTC", "2026-12-04T17:40:00+00:00",
     ["2026-12-04 17:40:01", "2026-12-04 17:40:02"]),
])
def test_fire_times_by_hand(expression: str, zone: str, after: str,
                            expected: list[str | None]) -> None:
    assert fires(expression, zone, after, len(expected)) == expected


def _brute_force(expression: str, zone: str, start: datetime, end: datetime) -> list[int]:
    """Every second from start to end whose local time matches the fields, first occurrence
    only: a plain reading of the Quartz fields, one second at a time."""
    tz = ZoneInfo(zone)
    sec, minute, hour, dom, month, dow = expression.split()[:6]

    def field(text: str, value: int, low: int, high: int) -> bool:
        if text in ("*", "?"):
            return True
        for part in text.split(","):
            base, _, step = part.partition("/")
            a, _, b = base.partition("-")
            lo = low if a == "*" else int(a)
            hi = (high if step or a == "*" else lo) if not b else int(b)
            if lo <= value <= hi and (value - lo) % int(step or 1) == 0:
                return True
        return False

    out, t = [], start
    while t <= end:
        local = t.astimezone(tz)
        first = local.replace(fold=0).astimezone(UTC) == t
        if first and field(sec, local.second, 0, 59) and field(minute, local.minute, 0, 59) \
                and field(hour, local.hour, 0, 23) and field(dom, local.day, 1, 31) \
                and field(month, local.month, 1, 12) \
                and field(dow, local.isoweekday() % 7 + 1, 1, 7):
            out.append(int(t.timestamp()) * 1000)
        t += timedelta(seconds=1)
    return out


@pytest.mark.parametrize(("expression", "zone", "start"), [
    ("0 */7 * * * ?", "Europe/Amsterdam", "2026-03-28T22:00:00+00:00"),   # spring forward
    ("30 15,45 0-3 * * ?", "Europe/Amsterdam", "2026-10-24T21:00:00+00:00"),  # back
    ("0 0 * ? * 1,7", "America/New_York", "2026-11-01T00:00:00+00:00"),
    ("*/20 59 1 * * ?", "Australia/Lord_Howe", "2026-04-04T12:00:00+00:00"),  # 30-min shift
    ("0 10-50/10 2,3 * * ?", "America/Sao_Paulo", "2026-12-04T00:00:00+00:00"),
])
def test_fire_times_agree_with_a_second_by_second_scan(expression: str, zone: str,
                                                       start: str) -> None:
    begin = datetime.fromisoformat(start)
    end = begin + timedelta(hours=30)
    expected = _brute_force(expression, zone, begin + timedelta(seconds=1), end)
    assert expected, "the window must hold fires to compare"
    cron, got, at = parse_cron(expression), [], ms(start)
    while True:
        at = next_fire_ms(cron, zone, at)  # type: ignore[assignment]
        if at is None or at > int(end.timestamp() * 1000):
            break
        got.append(at)
    assert [iso(x) for x in got] == [iso(x) for x in expected]


@pytest.mark.parametrize("expression", [
    "0 0 2 L * ?", "0 0 2 15W * ?", "0 0 2 ? * 6#3", "0 0 2 ? * FRIL", "0 0/15 8-18 ? * MON-FRI",
    "0 0 0 1 JAN,APR,JUL,OCT ? 2027", "15 10 22-2 ? * SAT,SUN", "0 0 2 LW * ?", "0 0 2 L-3 * ?",
    "0 0 2 ? * SUN-SAT/2", "0 0 2 ? * L", "0 0 12 ? NOV-FEB MON", "0 0 2 ? * 0L", "0 0 2 45W * ?",
])
def test_everything_check_cron_accepts_has_a_fire_time_search(expression: str) -> None:
    check_cron(expression)  # accepted ...
    parse_cron(expression)  # ... and parsed: the scheduler refuses nothing new
    next_fire_ms(parse_cron(expression), "UTC", ms("2026-01-01T00:00:00+00:00"))
