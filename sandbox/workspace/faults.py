"""Faults a test asks the emulator to answer with: Databricks' own trouble on chosen requests.

A real workspace sometimes answers one resource with 500 INTERNAL_ERROR for hours (a job whose
stored settings its service cannot read) while every other call works. A fault names the method,
the endpoint (as routed: ``jobs/get``) and the request parameters that must match (as strings, so
``job_id=12`` matches the query ``?job_id=12`` and the JSON body ``{"job_id": 12}``); the emulator
answers every matching request with the fault's error until it is cleared. Checked after the token
and the rate limit, as the real service's faults come after both.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sandbox.workspace.errors import ApiError


@dataclass(frozen=True)
class Fault:
    method: str
    endpoint: str
    params: dict[str, str] = field(default_factory=dict)
    status: int = 500
    error_code: str | int = "INTERNAL_ERROR"  # a number too, as Databricks sends for an invalid token (403)
    message: str = "An internal error occurred (injected fault)"

    def matches(self, method: str, endpoint: str, params: dict[str, Any]) -> bool:
        return (method, endpoint) == (self.method, self.endpoint) and all(
            str(params.get(name)) == value for name, value in self.params.items())


class Faults:
    """The faults in force; thread-safe (the HTTP server answers on many threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.hits = 0  # requests answered with a fault: a test can tell it was met

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self, fault: Fault | None = None) -> None:
        """Clear one fault, or every fault (None)."""
        with self._lock:
            self._faults = [] if fault is None else [f for f in self._faults if f is not fault]

    def check(self, method: str, endpoint: str, params: dict[str, Any]) -> None:
        """Raise the first matching fault's error, if any."""
        with self._lock:
            fault = next((f for f in self._faults if f.matches(method, endpoint, params)), None)
            if fault is not None:
                self.hits += 1
        if fault is not None:
            raise ApiError(fault.status, fault.error_code, fault.message)
