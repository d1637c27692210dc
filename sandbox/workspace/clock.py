"""Time for the emulator: an injectable clock, and the simulated clock built on it.

Everything that waits (run players, the rate limiter, agent shutdown) goes through a
`Clock`, so tests can swap in one that advances instantly instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait up to `timeout` seconds or until `event` is set; True when it was set."""


class RealClock:
    def time(self) -> float:
        return time.time()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(max(0.0, timeout))


class FakeClock:
    """Advances instantly on wait: a simulated run plays in no wall time at all."""

    def __init__(self, start: float = 1_760_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def wait(self, event: threading.Event, timeout: float) -> bool:
        if event.is_set():
            return True
        self.advance(max(0.0, timeout))
        return event.is_set()


class SimClock:
    """Workspace time: wall time accelerated by `speed` since `anchor_wall`.

    Every timestamp the emulator reports (run start/end, cluster events, event-log
    lines) is simulated time, so durations agree with each other and a later run
    always starts after an earlier one, even when it has played in seconds.
    """

    def __init__(self, clock: Clock, speed: float, anchor_sim_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.clock = clock
        self.speed = speed
        self._anchor_wall = clock.time()
        self._anchor_sim_ms = (
            int(self._anchor_wall * 1000) if anchor_sim_ms is None else anchor_sim_ms
        )

    def now_ms(self) -> int:
        return self._anchor_sim_ms + int((self.clock.time() - self._anchor_wall) * 1000 * self.speed)

    def wall_seconds_until(self, sim_ms: int) -> float:
        return (sim_ms - self.now_ms()) / 1000.0 / self.speed
