"""Incremental line reader over one event-log file (a *segment*), any codec.

Only ``\\n``-terminated lines are returned; a partial last line (or an
unfinished compressed frame) stays buffered until Spark writes the rest.
Positions are offsets in the *decoded* stream, so they survive a codec change
of the same content (Databricks gzips a rotated segment after renaming it).
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from pathlib import Path

from agent.follow.codecs import CorruptStream, make_decoder

READ_CHUNK = 1024 * 1024


@dataclass
class Position:
    """Where to resume one application: segment, decoded offset, and a restart hint."""

    seg: str
    order: int
    out: int = 0
    hint_raw: int = 0
    hint_out: int = 0
    file_key: str = ""

    def to_json(self) -> list:
        return [self.seg, self.order, self.out, self.hint_raw, self.hint_out, self.file_key]

    @classmethod
    def from_json(cls, v: list) -> Position:
        return cls(str(v[0]), int(v[1]), int(v[2]), int(v[3]), int(v[4]), str(v[5]))


def file_key(st: os.stat_result, codec: str) -> str:
    """Identity of a file's bytes: stays the same across a rename, changes when re-encoded."""
    return f"{st.st_dev}:{st.st_ino}:{codec}"


class SegmentReader:
    def __init__(self, path: Path, codec: str, key: str, start: Position, max_line: int) -> None:
        self.path = path
        self.codec = codec
        self.file_key = key
        self.max_line = max_line
        self._f = open(path, "rb")  # noqa: SIM115 - lives as long as the reader
        raw, out = 0, 0
        if start.file_key == key and start.hint_out <= start.out:
            raw, out = start.hint_raw, start.hint_out
        elif codec == "none":
            raw, out = start.out, start.out
        self._f.seek(raw)
        self._dec = make_decoder(codec, raw, out)
        self._skip = start.out - out  # decoded bytes before the resume point, already consumed
        self._buf = bytearray()
        self.buf_start = start.out  # decoded offset of _buf[0]
        self._discarding = False
        self._discard_start = 0
        self.corrupt = False
        self.corrupt_reason = ""

    def close(self) -> None:
        self._f.close()

    def read(self, budget: int = READ_CHUNK) -> tuple[list[tuple[bytes | None, int]], bool]:
        """Complete lines (bytes without newline, decoded start offset) and whether EOF was hit.

        An oversized line is returned as ``(None, start)`` so the caller can count it once.
        """
        if self.corrupt:
            return [], True
        raw = self._f.read(min(budget, self._chunk()))
        if not raw:
            return [], True
        try:
            data = self._dec.feed(raw)
        except CorruptStream as exc:
            # Nothing after this point decodes; the follower counts one corrupt line and moves on.
            self.corrupt = True
            self.corrupt_reason = str(exc)
            return [], True
        if self._skip:
            cut = min(self._skip, len(data))
            data = data[cut:]
            self._skip -= cut
        return self._split(data), False

    def _chunk(self) -> int:
        """Raw bytes to read now: about READ_CHUNK *decoded* bytes, so memory stays bounded
        however well the log compresses."""
        raw_done = self._dec.raw_pos - self._dec.restart_points[0][0]
        out_done = self._dec.out_pos - self._dec.restart_points[0][1]
        if self.codec == "none" or raw_done < 4096 or out_done <= raw_done:
            return READ_CHUNK if self.codec == "none" else 64 * 1024
        return max(4096, int(READ_CHUNK * raw_done / out_done))

    def _split(self, data: bytes) -> list[tuple[bytes | None, int]]:
        buf = self._buf
        lines: list[tuple[bytes | None, int]] = []
        if self._discarding:
            nl = data.find(b"\n")
            if nl < 0:
                self.buf_start += len(data)
                return []
            lines.append((None, self._discard_start))
            self.buf_start += nl + 1
            data = data[nl + 1 :]
            self._discarding = False
        buf += data
        last = buf.rfind(b"\n")
        if last < 0:
            if len(buf) > self.max_line:
                # Never hold an unbounded line in memory: drop it and skip to its end.
                self._discard_start = self.buf_start
                self.buf_start += len(buf)
                buf.clear()
                self._discarding = True
            return lines
        pos = self.buf_start
        for line in bytes(buf[:last]).split(b"\n"):
            lines.append((None if len(line) > self.max_line else line, pos))
            pos += len(line) + 1
        del buf[: last + 1]
        self.buf_start = pos
        return lines

    @property
    def truncated(self) -> bool:
        """At EOF: the file ends inside a line or a compressed frame/block."""
        return bool(self._buf) or self._discarding or self._dec.incomplete

    @property
    def raw_read(self) -> int:
        """File bytes read so far (compressed where the file is): where the next read starts."""
        return self._f.tell()

    @property
    def pending_bytes(self) -> int:
        """Decoded bytes of an unfinished last line."""
        return len(self._buf)

    def restart_points(self) -> list[tuple[int, int]]:
        return self._dec.restart_points

    def prune(self, keep_from_out: int) -> None:
        """Forget restart points no checkpoint can need any more (bounded memory)."""
        pts = self._dec.restart_points
        i = bisect.bisect_right(pts, keep_from_out, key=lambda p: p[1]) - 1
        if i > 0:
            del pts[:i]


def hint_for(points: list[tuple[int, int]], out: int, codec: str) -> tuple[int, int]:
    """The restart point (raw, decoded) at or before decoded offset ``out``."""
    if codec == "none":
        return out, out
    i = bisect.bisect_right(points, out, key=lambda p: p[1]) - 1
    return points[i] if i >= 0 else (0, 0)
