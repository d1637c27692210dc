"""A size cap for ``agent.log``, the file the init script points the agent's stderr at.

agent.log sits on the driver's disk and nothing rotated it. The init script's supervisor opens
it once (``>>agent.log``) and the agent, gRPC's C core and the supervisor itself all write to
that one append-mode file, so renaming it away (``RotatingFileHandler``) would leave the others
writing into the renamed file. Instead, once the file passes the cap, its newest half is kept in
place: every writer appends in O_APPEND mode, so all of them go on at the new end. (A line
another process writes during the cut, a few milliseconds, may be lost; logrotate's
``copytruncate`` has the same limit.)
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import time
from typing import TextIO


class CappedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A ``StreamHandler`` that keeps the regular file behind its stream under ``max_bytes``.

    A stream that is not a regular file (a terminal, a pipe, journald) is left alone.
    """

    def __init__(self, stream: TextIO, max_bytes: int) -> None:
        super().__init__(stream)
        self.max_bytes = max_bytes
        self.cuts = 0

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        # The cap is a courtesy to the disk: it never stops logging or the agent.
        with contextlib.suppress(OSError, ValueError):
            self._cap()

    def _cap(self) -> None:
        fd = self.stream.fileno()
        st = os.fstat(fd)
        if self.max_bytes <= 0 or not stat.S_ISREG(st.st_mode) or st.st_size <= self.max_bytes:
            return
        keep = self.max_bytes // 2
        # The agent's own fd is write-only: the file is opened again (Linux's /proc) to read its tail.
        rw = os.open(f"/proc/self/fd/{fd}", os.O_RDWR)
        try:
            size = os.fstat(rw).st_size
            tail = os.pread(rw, keep, max(0, size - keep))
            cut = tail.find(b"\n")
            tail = tail[cut + 1:] if 0 <= cut < len(tail) - 1 else tail  # start at a whole line
            self.cuts += 1
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            marker = (f"{stamp} INFO trimtab.agent: this log passed {self.max_bytes} bytes "
                      f"(TRIMTAB_AGENT_LOG_MAX_BYTES): older lines were cut, the newest {len(tail)} kept\n")
            os.ftruncate(rw, 0)
            os.pwrite(rw, marker.encode() + tail, 0)
        finally:
            os.close(rw)
        if not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
            os.lseek(fd, 0, os.SEEK_END)  # a writer not in append mode would go on past a hole
