"""The server's own logging set up in-process (`server.logs.configure_logging`), its stderr captured.

pytest puts its own handlers on the root logger for each test phase, and `configure_logging` leaves a
root logger with foreign handlers alone (as `logging.basicConfig` does): within `server_logging` they
are taken off, so the records go through exactly the handler, filter and formatter a server has, and
put back after. Use it inside the test body (the call phase's handlers are added after fixtures run).
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from server.config import ServerConfig
from server.logs import StderrHandler, configure_logging


class Captured:
    """What the server wrote on stderr within `server_logging`."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def records(self) -> list[dict[str, Any]]:
        """Every line as the JSON object it must be."""
        return [json.loads(line) for line in self.lines()]


@contextmanager
def server_logging(log_format: str, log_level: str = "debug") -> Iterator[Captured]:
    root = logging.getLogger()
    theirs, level = list(root.handlers), root.level
    hook, real_stderr = threading.excepthook, sys.stderr
    captured = Captured()
    for handler in theirs:
        root.removeHandler(handler)
    sys.stderr = captured.stream  # `StderrHandler` writes to sys.stderr as it is at each record
    try:
        assert configure_logging(ServerConfig(log_level=log_level, log_format=log_format))
        yield captured
    finally:
        for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
            root.removeHandler(handler)
        sys.stderr = real_stderr
        for handler in theirs:
            root.addHandler(handler)
        root.setLevel(level)
        logging.captureWarnings(False)
        threading.excepthook = hook
