"""A job's ``schedule``, checked roughly the way the Jobs service checks it.

``{"quartz_cron_expression", "timezone_id", "pause_status"}``: the first two are required;
``pause_status`` is ``PAUSED`` or ``UNPAUSED`` and reads back as ``UNPAUSED`` when it was
not sent. The expression is Quartz syntax (``sec min hour day-of-month month day-of-week
[year]``, weekday 1 = Sunday), including the ``L``, ``W`` and ``#`` forms Quartz accepts.
Anything else is 400 ``INVALID_PARAMETER_VALUE``. The sandbox stands for the outside world,
so this is its own check and never Trimtab's evaluator (``server/schedule.py``).
"""

from __future__ import annotations

import re
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
