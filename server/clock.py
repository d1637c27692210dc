"""The server's clock, injected wherever code reads the time, waits or backs off.

Tests pass a `FakeClock` that advances instantly instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock time in epoch milliseconds (what gets stored)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for timeouts and caches)."""

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class FakeClock:
    """A clock for tests: `sleep` advances time at once; `advance` moves it by hand."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._ms = float(start_ms)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return int(self._ms)

    def monotonic(self) -> float:
        with self._lock:
            return self._ms / 1000.0

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._ms += seconds * 1000.0
