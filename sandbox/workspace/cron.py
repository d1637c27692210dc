"""A job's ``schedule``, checked roughly the way the Jobs service checks it.

``{"quartz_cron_expression", "timezone_id", "pause_status"}``: the first two are required;
``pause_status`` is ``PAUSED`` or ``UNPAUSED`` and reads back as ``UNPAUSED`` when it was
not sent. The expression is Quartz syntax (``sec min hour day-of-month month day-of-week
[year]``, weekday 1 = Sunday), including the ``L``, ``W`` and ``#`` forms Quartz accepts.
Anything else is 400 ``INVALID_PARAMETER_VALUE``. The sandbox stands for the outside world,
so this is its own check and never Trimtab's evaluator (``server/schedule.py``).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox.workspace.errors import ApiError, invalid

PAUSE_STATUSES = ("PAUSED", "UNPAUSED")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (name, low, high, names)
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("seconds", 0, 59, ()), ("minutes", 0, 59, ()), ("hours", 0, 23, ()),
    ("day-of-month", 1, 31, ()), ("month", 1, 12, _MONTHS), ("day-of-week", 1, 7, _DAYS),
    ("year", 1970, 2099, ()),
)
_DOM_SPECIAL = re.compile(r"L(-\d{1,2})?|LW|\d{1,2}W")
_DOW_SPECIAL = re.compile(r"(\d|[A-Z]{3})?L|(\d|[A-Z]{3})#[1-5]")


def _bad(expression: str, why: str) -> ApiError:
    return invalid(f"Invalid quartz_cron_expression {expression!r}: {why}")


def _number(token: str, field: tuple[str, int, int, tuple[str, ...]], expression: str) -> int:
    name, low, high, names = field
    if token in names:
        return low + names.index(token)
    if not token.isdigit() or not low <= int(token) <= high:
        raise _bad(expression, f"{name} value {token!r} is not in {low}-{high}")
    return int(token)


def check_cron(expression: Any) -> None:
    if not isinstance(expression, str) or not expression.strip():
        raise invalid("schedule.quartz_cron_expression is required")
    parts = expression.upper().split()
    if len(parts) not in (6, 7):
        raise _bad(expression, f"expected 6 or 7 fields, got {len(parts)}")
    for text, field in zip(parts, _FIELDS, strict=False):
        name = field[0]
        if text == "?":
            if name not in ("day-of-month", "day-of-week"):
                raise _bad(expression, f"'?' is not allowed in {name}")
            continue
        for part in text.split(","):
            if name == "day-of-month" and _DOM_SPECIAL.fullmatch(part):
                continue
            if name == "day-of-week" and _DOW_SPECIAL.fullmatch(part):
                continue
            base, slash, step = part.partition("/")
            if slash and (not step.isdigit() or int(step) == 0):
                raise _bad(expression, f"{name} step {step!r} is not a positive number")
            if base == "*":
                continue
            for token in base.split("-", 1):
                _number(token, field, expression)
    if (parts[3] == "?") == (parts[5] == "?"):
        raise _bad(expression, "exactly one of day-of-month and day-of-week must be '?'")


def check_schedule(schedule: Any) -> None:
    """Nothing when the schedule is valid, else 400."""
    if not isinstance(schedule, dict):
        raise invalid("schedule must be an object")
    check_cron(schedule.get("quartz_cron_expression"))
    zone = schedule.get("timezone_id")
    if not isinstance(zone, str) or not zone:
        raise invalid("schedule.timezone_id is required")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise invalid(f"Invalid timezone_id {zone!r}") from exc
    status = schedule.get("pause_status", "UNPAUSED")
    if status not in PAUSE_STATUSES:
        raise invalid(f"schedule.pause_status must be PAUSED or UNPAUSED, got {status!r}")


# -- fire times ---------------------------------------------------------------------------
# The search below works on what check_cron accepts: a parsed expression is five value sets
# (second, minute, hour, month, year) and one day rule. A day matches when its year and month
# are in their sets and the day rule (day-of-month or day-of-week, whichever is not '?')
# says yes. Local times that do not exist (the hour skipped when clocks go forward) never
# fire; a local time that happens twice (clocks go back) fires once, at its first occurrence.

DayRule = Callable[[date], bool]
_LAST_YEAR = 2099  # Quartz's own limit
_WEEKDAYS = range(1, 6)  # Python's isoweekday: 1 = Monday .. 5 = Friday


@dataclass(frozen=True)
class QuartzCron:
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    years: frozenset[int] | None  # None: every year
    day: DayRule


def _values(text: str, field: tuple[str, int, int, tuple[str, ...]], expression: str,
            ) -> set[int]:
    """A field's numbers: lists, ranges (Quartz wraps 22-2 past the top), steps, names."""
    name, low, high, _ = field
    out: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = int(step_text) if slash else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _number(first, field, expression), _number(last, field, expression)
        else:
            start = _number(base, field, expression)
            end = high if slash else start  # "5/15": from 5 to the top, every 15
        size = high - low + 1
        span = end - start if end >= start else end - start + size
        for offset in range(0, span + 1, step):
            value = start + offset
            out.add(value - size if value > high else value)
    return out


def _last_day(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _quartz_weekday(day: date) -> int:
    return day.isoweekday() % 7 + 1  # 1 = Sunday .. 7 = Saturday


def _nearest_weekday(year: int, month: int, n: int) -> int | None:
    """Quartz `nW`: the weekday nearest day n, without leaving the month."""
    last = calendar.monthrange(year, month)[1]
    if not 1 <= n <= last:
        return None
    weekday = date(year, month, n).isoweekday()
    if weekday == 6:  # Saturday: Friday before, or Monday after when the 1st is a Saturday
        return n - 1 if n > 1 else n + 2
    if weekday == 7:  # Sunday: Monday after, or Friday before when it ends the month
        return n + 1 if n < last else n - 2
    return n


def _dom_part(part: str, expression: str) -> DayRule:
    if part == "L":
        return lambda d: d.day == _last_day(d)
    if part.startswith("L-"):
        back = int(part[2:])
        return lambda d: d.day == _last_day(d) - back
    if part == "LW":
        def last_weekday(d: date) -> bool:
            last = _last_day(d)
            while date(d.year, d.month, last).isoweekday() not in _WEEKDAYS:
                last -= 1
            return d.day == last
        return last_weekday
    if part.endswith("W"):
        n = int(part[:-1])
        return lambda d: d.day == _nearest_weekday(d.year, d.month, n)
    days = _values(part, _FIELDS[3], expression)
    return lambda d: d.day in days


def _weekday_number(token: str) -> int | None:
    """A day-of-week in a special form; None for one that check_cron let through but no
    day can be (such as 9L): that part never matches."""
    if token in _DAYS:
        return 1 + _DAYS.index(token)
    return int(token) if token.isdigit() and 1 <= int(token) <= 7 else None


def _dow_part(part: str, expression: str) -> DayRule:
    if part == "L":  # alone, L is the last day of the week: Saturday
        return lambda d: _quartz_weekday(d) == 7
    if part.endswith("L"):  # the last <weekday> of the month
        wd = _weekday_number(part[:-1])
        return lambda d: _quartz_weekday(d) == wd and d.day + 7 > _last_day(d)
    if "#" in part:  # the k-th <weekday> of the month
        token, _, k = part.partition("#")
        wd, nth = _weekday_number(token), int(k)
        return lambda d: _quartz_weekday(d) == wd and (d.day - 1) // 7 + 1 == nth
    days = _values(part, _FIELDS[5], expression)
    return lambda d: _quartz_weekday(d) in days


def parse_cron(expression: str) -> QuartzCron:
    """The fire-time form of an expression check_cron accepts (checked here first)."""
    check_cron(expression)
    parts = expression.upper().split()
    sets = [_values(parts[i], _FIELDS[i], expression) for i in (0, 1, 2, 4)]
    years = (frozenset(_values(parts[6], _FIELDS[6], expression))
             if len(parts) == 7 and parts[6] != "*" else None)
    if parts[3] != "?":
        field, build = parts[3], _dom_part
    else:
        field, build = parts[5], _dow_part
    rules = [build(p, expression) for p in field.split(",")]
    return QuartzCron(seconds=tuple(sorted(sets[0])), minutes=tuple(sorted(sets[1])),
                      hours=tuple(sorted(sets[2])), months=frozenset(sets[3]), years=years,
                      day=lambda d: any(rule(d) for rule in rules))


def _utc_ms(day: date, hour: int, minute: int, second: int, zone: ZoneInfo) -> int | None:
    """The instant a local time names (first occurrence), or None if the clocks skip it."""
    local = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=zone)
    utc = local.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return int(utc.timestamp()) * 1000


def next_fire_ms(cron: QuartzCron, timezone_id: str, after_ms: int) -> int | None:
    """The first fire time strictly after `after_ms` (epoch ms), or None if none is left."""
    zone = ZoneInfo(timezone_id)
    after = datetime.fromtimestamp(after_ms / 1000, tz=UTC)
    # A day earlier than `after`'s local date: the one that can still hold a later instant
    # when local offsets differ around it.
    day = after.astimezone(zone).date() - timedelta(days=1)
    while day.year <= _LAST_YEAR:
        if cron.years is not None and day.year not in cron.years:
            day = date(day.year + 1, 1, 1)
            continue
        if day.month not in cron.months:
            day = (date(day.year + 1, 1, 1) if day.month == 12
                   else date(day.year, day.month + 1, 1))
            continue
        if cron.day(day):
            found = _first_in_day(cron, day, zone, after_ms)
            if found is not None:
                return found
        day += timedelta(days=1)
    return None


def _first_in_day(cron: QuartzCron, day: date, zone: ZoneInfo, after_ms: int) -> int | None:
    last_s, last_m = cron.seconds[-1], cron.minutes[-1]
    for hour in cron.hours:
        # Skip whole hours and minutes already past: every-second schedules stay quick.
        end = _utc_ms(day, hour, last_m, last_s, zone)
        if end is not None and end <= after_ms:
            continue
        for minute in cron.minutes:
            end = _utc_ms(day, hour, minute, last_s, zone)
            if end is not None and end <= after_ms:
                continue
            for second in cron.seconds:
                at = _utc_ms(day, hour, minute, second, zone)
                if at is not None and at > after_ms:
                    return at
    return None
