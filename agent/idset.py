"""Compact sets of ids for the parser's checkpointed state (``agent.parse``).

Spark numbers jobs, stages and SQL executions (and executors, as strings) 0, 1, 2, … in the
order it creates them, so the ids an application has finished with form a few long runs. Stored
as runs, a set of 400 000 ids is a handful of numbers instead of megabytes rewritten with every
checkpoint, and membership is exact: a run list is the same set, not an approximation.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from typing import Any


class IdRanges:
    """A set of ints kept as sorted, disjoint, non-adjacent inclusive runs ``[lo, hi]``.

    Its size grows with the number of gaps between the members, not with the members.
    """

    __slots__ = ("_los", "_his", "_count")

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._los: list[int] = []
        self._his: list[int] = []
        self._count = 0
        for i in sorted(set(ids)):
            self.add(i)

    def __contains__(self, x: object) -> bool:
        if type(x) is not int:
            return False
        i = bisect_right(self._los, x) - 1
        return i >= 0 and x <= self._his[i]

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        for lo, hi in zip(self._los, self._his, strict=True):
            yield from range(lo, hi + 1)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdRanges) and self._los == other._los and self._his == other._his

    def __repr__(self) -> str:
        return f"IdRanges({self.to_json()})"

    def runs(self) -> int:
        return len(self._los)

    def add(self, x: int) -> None:
        los, his = self._los, self._his
        i = bisect_right(los, x) - 1  # the run starting at or before x, if any
        if i >= 0 and x <= his[i]:
            return
        joins_left = i >= 0 and his[i] == x - 1
        joins_right = i + 1 < len(los) and los[i + 1] == x + 1
        if joins_left and joins_right:
            his[i] = his[i + 1]
            del los[i + 1], his[i + 1]
        elif joins_left:
            his[i] = x
        elif joins_right:
            los[i + 1] = x
        else:
            los.insert(i + 1, x)
            his.insert(i + 1, x)
        self._count += 1

    def to_json(self) -> list[list[int]]:
        return [[lo, hi] for lo, hi in zip(self._los, self._his, strict=True)]

    @classmethod
    def from_json(cls, runs: Any) -> IdRanges:
        """Runs as ``to_json`` wrote them; anything malformed raises ValueError (a damaged checkpoint)."""
        out = cls()
        if not isinstance(runs, list):
            raise ValueError(f"id runs must be a list of [lo, hi] pairs, not {type(runs).__name__}")
        for run in runs:
            if not (isinstance(run, list) and len(run) == 2 and all(type(v) is int for v in run)
                    and run[0] <= run[1]):
                raise ValueError(f"bad id run {run!r}: expected [lo, hi] with lo <= hi")
            lo, hi = run
            if out._his and lo <= out._his[-1] + 1:
                raise ValueError(f"id run {run!r} is not after the previous one")
            out._los.append(lo)
            out._his.append(hi)
            out._count += hi - lo + 1
        return out


def _numeric(s: str) -> int | None:
    """``s`` as an int when it is a plain decimal id ("12", not "012" or "driver"), else None."""
    return int(s) if s.isascii() and s.isdigit() and (s == "0" or s[0] != "0") else None


class StrIdSet:
    """A set of string ids: decimal ones (Spark's executor ids) as runs, any other (``driver``) as is."""

    __slots__ = ("nums", "other")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self.nums = IdRanges()
        self.other: set[str] = set()
        for s in ids:
            self.add(str(s))

    def __contains__(self, s: object) -> bool:
        if not isinstance(s, str):
            return False
        n = _numeric(s)
        return s in self.other if n is None else n in self.nums

    def __len__(self) -> int:
        return len(self.nums) + len(self.other)

    def add(self, s: str) -> None:
        n = _numeric(s)
        if n is None:
            self.other.add(s)
        else:
            self.nums.add(n)

    def to_json(self) -> dict[str, Any]:
        return {"runs": self.nums.to_json(), "other": sorted(self.other)}

    @classmethod
    def from_json(cls, d: Any) -> StrIdSet:
        if not isinstance(d, dict):
            raise ValueError(f"a string id set must be an object with runs and other, not {type(d).__name__}")
        out = cls(str(s) for s in d.get("other") or ())
        out.nums = IdRanges.from_json(d.get("runs") or [])
        return out
