"""Writes a Spark event log the way Databricks' DBCEventLoggingListener lays it out on the driver.

``<eventlogs_dir>/<spark_context_id>/eventlog`` is the live file. Every ``rotate_every_ms`` of
simulated time it is rolled to ``eventlog-YYYY-MM-DD--HH-MM`` (gzip-compressed to ``.gz`` by
default; the stamp is the roll time, UTC) and a new ``eventlog`` starts with a
``DBCEventLoggingListenerMetadata`` line whose ``Rollover Number`` is one higher. Lines are
flushed at every ``append`` so a follower sees them at once; a rolled segment only appears once
it is complete (written under a temporary name, then renamed).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

MIN_ROTATE_MS = 60_000  # segment names have minute resolution


class DatabricksEventLogWriter:
    def __init__(self, eventlogs_dir: Path, spark_context_id: str, *, rotate_every_ms: int | None,
                 gzip_rotated: bool = True) -> None:
        if rotate_every_ms is not None and rotate_every_ms < MIN_ROTATE_MS:
            raise ValueError(f"rotate_every_ms must be at least {MIN_ROTATE_MS} (segment names have minutes)")
        self.directory = Path(eventlogs_dir) / spark_context_id
        self.directory.mkdir(parents=True, exist_ok=True)
        self.live_path = self.directory / "eventlog"
        self.spark_context_id = spark_context_id
        self.rotate_every_ms = rotate_every_ms
        self.gzip_rotated = gzip_rotated
        # Reopening an existing stream (the emulator restarted) continues it: same rollover count,
        # same metadata header for the next segment.
        self.rollover = sum(1 for p in self.directory.glob("eventlog-*") if not p.name.endswith(".tmp"))
        self.segment_start_ms: int | None = None
        self.metadata: dict[str, Any] | None = self._read_header()
        self._file: IO[str] | None = open(self.live_path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)

    def _read_header(self) -> dict[str, Any] | None:
        if not self.live_path.exists():
            return None
        with open(self.live_path, encoding="utf-8") as f:
            first = f.readline()
        if '"DBCEventLoggingListenerMetadata"' not in first or not first.endswith("\n"):
            return None
        header: dict[str, Any] = json.loads(first)
        return header

    def append(self, t_ms: int, lines: list[str]) -> None:
        """Write ``lines`` (JSON, without newline) at simulated time ``t_ms``; rolls first if due."""
        if self._file is None:
            raise ValueError("writer is closed")
        if self.segment_start_ms is None:
            self.segment_start_ms = t_ms
        elif self.rotate_every_ms is not None and t_ms - self.segment_start_ms >= self.rotate_every_ms:
            self._rotate(t_ms)
        for line in lines:
            if self.metadata is None and '"DBCEventLoggingListenerMetadata"' in line:
                self.metadata = json.loads(line)
            self._file.write(line + "\n")
        self._file.flush()

    def _rotate(self, t_ms: int) -> None:
        assert self._file is not None
        self._file.close()
        stamp = datetime.fromtimestamp(t_ms / 1000, UTC).strftime("%Y-%m-%d--%H-%M")
        name = f"eventlog-{stamp}" + (".gz" if self.gzip_rotated else "")
        final = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        if self.gzip_rotated:
            with open(self.live_path, "rb") as src, gzip.open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(tmp, final)
            self.live_path.unlink()
        else:
            os.replace(self.live_path, final)
        self.rollover += 1
        self.segment_start_ms = t_ms
        self._file = open(self.live_path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        if self.metadata is not None:
            header = {**self.metadata, "Timestamp": t_ms, "Rollover Number": self.rollover}
            self._file.write(json.dumps(header, separators=(",", ":")) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
