"""Ids people type (a project's id or its name's job id, a run id, a page token, a tag's value), read once.

`str.isdigit` accepts digits `int` refuses ("²": ValueError) and numbers no column holds
("9223372036854775808": OverflowError on SQLite, "out of range" on PostgreSQL): each of those reached
the database driver and came back INTERNAL, or a different code on each engine. Read here, such a
value names no row, as an id that is merely absent does.
"""

from __future__ import annotations

from server.domain import MAX_ROW_ID

# Databricks job and run ids are int64, as the columns holding them are (BIGINT).
MAX_DATABRICKS_ID = 2**63 - 1


def plain_number(text: str) -> bool:
    """Whether ``text`` is written in the ASCII digits 0-9 only (no sign, no space)."""
    return text.isascii() and text.isdigit()


def parse_id(text: str, maximum: int = MAX_ROW_ID, minimum: int = 0) -> int | None:
    """The number ``text`` is (ASCII digits, leading zeros allowed) when it lies in [minimum, maximum];
    None otherwise, as for text that is no number at all."""
    if not plain_number(text):
        return None
    digits = text.lstrip("0") or "0"
    # Length first: int() of thousands of digits is slow, and refused past 4,300 (ValueError).
    if len(digits) > len(str(maximum)):
        return None
    number = int(digits)
    return number if minimum <= number <= maximum else None
