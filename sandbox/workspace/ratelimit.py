"""A fixed-window request limit, like the workspace's per-second API quotas."""

from __future__ import annotations

import math
import threading

from sandbox.workspace.clock import Clock
from sandbox.workspace.errors import ApiError


class RateLimiter:
    def __init__(self, per_second: int, clock: Clock) -> None:
        if per_second < 1:
            raise ValueError(f"rate limit must be >= 1 request per second, got {per_second}")
        self.per_second = per_second
        self.clock = clock
        self._window = -1
        self._count = 0
        self._lock = threading.Lock()

    def check(self) -> None:
        """Count one request; raise 429 with Retry-After when this second's quota is spent."""
        now = self.clock.time()
        with self._lock:
            window = math.floor(now)
            if window != self._window:
                self._window, self._count = window, 0
            self._count += 1
            if self._count <= self.per_second:
                return
        retry_after = max(1, math.ceil(window + 1 - now))
        raise ApiError(429, "REQUEST_LIMIT_EXCEEDED",
                       f"Too many requests: limit is {self.per_second} per second.",
                       headers={"Retry-After": str(retry_after)})
