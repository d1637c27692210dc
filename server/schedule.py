"""Quartz cron expressions, as Databricks job schedules use them (pure).

A Databricks job's ``schedule`` is ``{quartz_cron_expression, timezone_id, pause_status}``.
The expression has six or seven fields::

    seconds minutes hours day-of-month month day-of-week [year]

Supported in every field: numbers, ``*``, ranges ``a-b`` (wrapping, e.g. ``FRI-MON``),
lists ``a,b,c``, steps ``*/n``, ``a/n`` and ``a-b/n``; month names ``JAN``-``DEC``;
day-of-week names ``SUN``-``SAT`` or numbers 1-7 with **1 = Sunday** (Quartz, not Unix
cron); ``?`` ("no specific value") in day-of-month or day-of-week. As in Quartz, exactly
one of day-of-month and day-of-week must be ``?``.

Not supported: ``L``, ``W``, ``LW`` and ``#`` (last day, nearest weekday, n-th weekday).
They are valid Quartz, but they raise `UnsupportedCron` so that a caller can fall back to
another estimate rather than count wrongly. Malformed expressions raise `CronError`.

Counting is done day by day in the schedule's time zone: a year has at most 366 days, so
`count_fires` stays cheap even for a schedule that fires every second. Local times that do not
exist (the hour skipped when clocks go forward) do not fire; a local time that happens twice
(clocks go back) fires once, as Quartz does.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # Quartz: SUN=1 .. SAT=7
YEAR_DAYS = 365
LEAP_CYCLE_DAYS = 4 * 365 + 1
RARE_FIRES = 12  # fewer fires than this in a year's window: counted over a leap cycle
DAY_SECONDS = 86_400
# Quartz's L/W/# forms: L, L-3, LW, 15W in day-of-month; L, 6L, FRIL, 6#3, FRI#3 in day-of-week.
_SPECIAL = re.compile(r"L(-\d+)?|LW|\d+W|(\d|[A-Z]{3})L|(\d|[A-Z]{3})#\d")


class CronError(ValueError):
    """Not a valid Quartz cron expression (or time zone)."""


class UnsupportedCron(CronError):
    """Valid Quartz, but uses a feature this evaluator does not count (L, W, #)."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] means low + i


_FIELDS = (
    _Field("seconds", 0, 59),
    _Field("minutes", 0, 59),
    _Field("hours", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, MONTHS),
    _Field("day-of-week", 1, 7, WEEKDAYS),
    _Field("year", 1970, 2099),
)


@dataclass(frozen=True)
class QuartzCron:
    """A parsed expression: the set of allowed values per field (``None``: ``?``)."""

    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # Quartz numbering, 1 = Sunday
    years: frozenset[int] | None  # None: every year

    def matches_day(self, day: dt.date) -> bool:
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        assert self.days_of_week is not None
        return quartz_weekday(day) in self.days_of_week

    def seconds_of_day(self) -> list[int]:
        """Every fire time within a matching day, as seconds since local midnight, ascending."""
        return sorted(h * 3600 + m * 60 + s for h in self.hours for m in self.minutes for s in self.seconds)


def quartz_weekday(day: dt.date) -> int:
    """1 = Sunday .. 7 = Saturday (Python's weekday() is 0 = Monday)."""
    return (day.weekday() + 1) % 7 + 1


def _value(token: str, spec: _Field) -> int:
    upper = token.upper()
    if upper in spec.names:
        return spec.low + spec.names.index(upper)
    if not token.isdigit():
        raise CronError(f"{spec.name}: {token!r} is not a number" +
                        (f" or one of {'/'.join(spec.names)}" if spec.names else ""))
    number = int(token)
    if not spec.low <= number <= spec.high:
        raise CronError(f"{spec.name}: {number} is outside {spec.low}-{spec.high}")
    return number


def _span(low: int, high: int, step: int, spec: _Field) -> set[int]:
    """low..high by step; high < low wraps past the field's end (Quartz allows FRI-MON, 22-2)."""
    width = spec.high - spec.low + 1
    count = (high - low) % width + 1
    return {spec.low + (low - spec.low + i) % width for i in range(0, count, step)}


def _parse_field(text: str, spec: _Field) -> frozenset[int] | None:
    if text == "?":
        if spec.name not in ("day-of-month", "day-of-week"):
            raise CronError(f"{spec.name}: '?' is allowed only in day-of-month or day-of-week")
        return None
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{spec.name}: empty list element in {text!r}")
        if spec.name in ("day-of-month", "day-of-week") and _SPECIAL.fullmatch(part.upper()):
            raise UnsupportedCron(f"{spec.name}: {part!r} (L, W and # are not supported)")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{spec.name}: step {step_text!r} must be a positive number")
            step = int(step_text)
            if step > spec.high - spec.low + 1 and spec.name != "year":
                raise CronError(f"{spec.name}: step {step} is larger than the field's range")
        if base == "*":
            low, high = spec.low, spec.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _value(first, spec), _value(last, spec)
        else:
            low = _value(base, spec)
            # "a/n" means from a to the field's end by n; a lone "a" is just a.
            high = spec.high if slash else low
        if high < low:
            values |= _span(low, high, step, spec)
        else:
            values |= set(range(low, high + 1, step))
    return frozenset(values)


def parse(expression: str) -> QuartzCron:
    """A `QuartzCron`, or `CronError` / `UnsupportedCron` with what is wrong."""
    if not isinstance(expression, str) or not expression.strip():
        raise CronError("empty cron expression")
    parts = expression.split()
    if len(parts) not in (6, 7):
        raise CronError(f"expected 6 or 7 fields (sec min hour day-of-month month day-of-week [year]), "
                        f"got {len(parts)}")
    values = [_parse_field(text, spec) for text, spec in zip(parts, _FIELDS, strict=False)]
    dom, dow = values[3], values[5]
    if (dom is None) == (dow is None):
        raise CronError("exactly one of day-of-month and day-of-week must be '?'")
    # Never None: _parse_field refuses '?' outside day-of-month and day-of-week.
    seconds, minutes, hours, months = (values[i] or frozenset() for i in (0, 1, 2, 4))
    return QuartzCron(expression=expression, seconds=seconds, minutes=minutes, hours=hours,
                      days_of_month=dom, months=months, days_of_week=dow,
                      years=values[6] if len(parts) == 7 else None)


# Java's ZoneId.SHORT_IDS (Databricks takes Java zone ids): the three-letter ids Java still reads,
# most as a region. EST, MST and HST are in the IANA database too, as the same fixed offsets.
_JAVA_SHORT_IDS = {
    "ACT": "Australia/Darwin", "AET": "Australia/Sydney", "AGT": "America/Argentina/Buenos_Aires",
    "ART": "Africa/Cairo", "AST": "America/Anchorage", "BET": "America/Sao_Paulo", "BST": "Asia/Dhaka",
    "CAT": "Africa/Harare", "CNT": "America/St_Johns", "CST": "America/Chicago", "CTT": "Asia/Shanghai",
    "EAT": "Africa/Addis_Ababa", "ECT": "Europe/Paris", "IET": "America/Indiana/Indianapolis",
    "IST": "Asia/Kolkata", "JST": "Asia/Tokyo", "MIT": "Pacific/Apia", "NET": "Asia/Yerevan",
    "NST": "Pacific/Auckland", "PLT": "Asia/Karachi", "PNT": "America/Phoenix", "PRT": "America/Puerto_Rico",
    "PST": "America/Los_Angeles", "SST": "Pacific/Guadalcanal", "VST": "Asia/Ho_Chi_Minh",
}
# Zones that are UTC under every name Databricks takes (Java's Z, UTC, GMT, UT and the IANA aliases):
# read without a time-zone database, which a host may lack.
_UTC_IDS = frozenset({"Z", "UTC", "GMT", "UT", "UCT", "ZULU", "UNIVERSAL", "GREENWICH", "GMT0", "ETC/UTC",
                      "ETC/GMT", "ETC/UCT", "ETC/ZULU", "ETC/UNIVERSAL", "ETC/GREENWICH", "ETC/GMT0",
                      "ETC/GMT+0", "ETC/GMT-0"})
# Java's offset ids: GMT+05:30, UTC+8, UT-0330, +02:00 (hours up to 18, as Java allows).
_JAVA_OFFSET = re.compile(r"(?:GMT|UTC|UT)?([+-])(\d{1,2})(?::?(\d{2}))?")


def zone(timezone_id: str) -> dt.tzinfo:
    """The schedule's zone. Databricks takes Java zone ids: the IANA names, which are the same, and
    Java's offset ids (``GMT+05:30``, ``UTC+8``) and three-letter ids (``PST``, ``IST``), which
    Python's database lacks and which read as an unknown zone (savings then fell back to the
    observed cadence)."""
    name = (timezone_id or "UTC").strip()
    if name.upper() in _UTC_IDS:
        return dt.UTC  # needs no time-zone database
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    if name.upper() in _JAVA_SHORT_IDS:
        try:
            return ZoneInfo(_JAVA_SHORT_IDS[name.upper()])
        except ZoneInfoNotFoundError:
            pass  # no database on this host: said below
    offset = _JAVA_OFFSET.fullmatch(name.upper())
    if offset:
        sign, hours, minutes = offset.group(1), int(offset.group(2)), int(offset.group(3) or 0)
        if hours <= 18 and minutes < 60 and hours * 60 + minutes <= 18 * 60:
            delta = dt.timedelta(hours=hours, minutes=minutes)
            return dt.timezone(-delta if sign == "-" else delta, name)
    if not zoneinfo.available_timezones():
        # Only asked on this failure path (it lists the whole database): an empty one means the host
        # has none (Windows, slim images without /usr/share/zoneinfo) and the tzdata wheel is missing,
        # so a zone Databricks reads fine is not the job's fault.
        raise CronError(f"timezone_id {timezone_id!r} cannot be read: this host has no time-zone database "
                        "(install the tzdata package)")
    raise CronError(f"unknown timezone_id {timezone_id!r}")


def count_fires(cron: QuartzCron, start: dt.datetime, end: dt.datetime, tz: dt.tzinfo) -> int:
    """How many times the schedule fires in [start, end) (start and end must be aware). Fire times
    of a day are counted by bisection, so a schedule firing every second stays cheap."""
    times = cron.seconds_of_day()
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if local_end <= local_start:
        return 0

    def of_day(moment: dt.datetime) -> int:  # rounded up: t >= moment and t < moment hold as for ints
        return moment.hour * 3600 + moment.minute * 60 + moment.second + (moment.microsecond > 0)

    first, last = local_start.date(), local_end.date()
    total = 0
    day = first
    while day <= last:
        if cron.matches_day(day):
            start_s = of_day(local_start) if day == first else 0
            end_s = of_day(local_end) if day == last else DAY_SECONDS
            total += max(0, bisect.bisect_left(times, end_s) - bisect.bisect_left(times, start_s))
            gap = skipped_seconds(day, tz)
            if gap is not None:  # fire times the clocks jump over
                g0, g1 = max(gap[0], start_s), min(gap[1], end_s)
                total -= max(0, bisect.bisect_left(times, g1) - bisect.bisect_left(times, g0))
        day += dt.timedelta(days=1)
    return total


def skipped_seconds(day: dt.date, tz: dt.tzinfo) -> tuple[int, int] | None:
    """The seconds [from, to) of a local day that do not exist because clocks go forward, or None."""
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
    before = midnight.utcoffset()
    after = (midnight + dt.timedelta(days=1)).utcoffset()  # wall-clock arithmetic: next local midnight
    if before is None or after is None or after <= before:
        return None
    # A local time in the gap reads with the offset from before it (fold=0, PEP 495), so the first
    # second of the day that reads with the later offset is where the gap ends.
    lo, hi = 0, DAY_SECONDS
    while lo < hi:
        mid = (lo + hi) // 2
        if (midnight + dt.timedelta(seconds=mid)).utcoffset() == after:
            hi = mid
        else:
            lo = mid + 1
    return lo - int((after - before).total_seconds()), lo


def fires_per_year(expression: str, timezone_id: str, from_ms: int) -> float:
    """Fire times in the 365 days from `from_ms` (epoch ms), in the schedule's time zone.

    A schedule that fires fewer than `RARE_FIRES` times in them is counted over the four years
    from `from_ms` (a whole leap cycle) instead, per year: one 365-day window holds no fire of a
    yearly job counted from its own run in a leap year (the next is 366 days on), which read as
    "fires no more", and a 29 February job fires once in four years, not once or never."""
    cron = parse(expression)
    tz = zone(timezone_id)
    start = dt.datetime.fromtimestamp(from_ms / 1000, tz=dt.UTC)
    fires = count_fires(cron, start, start + dt.timedelta(days=YEAR_DAYS), tz)
    if fires >= RARE_FIRES or cron.years is not None:
        # A year field ends the schedule: averaged over four years, a monthly job of 2027 only
        # would read as 1.5 runs a year in 2027.
        return float(fires)
    return count_fires(cron, start, start + dt.timedelta(days=LEAP_CYCLE_DAYS), tz) / 4.0
