"""Follows one application: segments in order → complete lines → parser → plain events.

``pos`` is the next unread decoded byte of the current segment. ``checkpoint``
returns a resume position no later than the first line of any stage still
open in the parser (see ``agent.parse``), so a restart loses nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from agent.events import PlainEvent
from agent.follow.discover import AppSource, SegmentLister, SegmentRef
from agent.follow.segment import Position, SegmentReader, hint_for
from agent.parse import WANTED, AppParser, event_name

log = logging.getLogger("trimtab.agent.follow")


@dataclass
class ReadCounters:
    events_read: int = 0
    lines_corrupt: int = 0
    lines_oversized: int = 0


@dataclass
class _SegMemo:
    """What a checkpoint needs about a segment the reader already left."""

    seg: str
    codec: str
    key: str
    points: list[tuple[int, int]] = field(default_factory=list)


class AppFollower:
    def __init__(self, src: AppSource, lister: SegmentLister, counters: ReadCounters, max_line: int,
                 saved: dict[str, Any] | None = None) -> None:
        self.src = src
        self.lister = lister
        self.counters = counters
        self.max_line = max_line
        self.parser = AppParser(src.application_id, src.application_id if src.layout == "databricks" else "",
                                str(src.path), fallback_id=src.fallback_id)
        self.pos: Position | None = None
        # Lines before this (order, offset) were already counted (a replay must not count them again).
        self.counted: tuple[int, int] = (-1, -1)
        if saved:
            self.pos = Position.from_json(saved["pos"]) if saved.get("pos") else None
            self.parser.restore(saved.get("parser", {}))
            self.counted = tuple(saved.get("counted", (-1, -1)))  # type: ignore[assignment]
        self.reader: SegmentReader | None = None
        self._cur: SegmentRef | None = None
        self._memos: dict[int, _SegMemo] = {}
        self._warned: set[int] = set()  # segment orders already named in a WARNING (once each)
        self.finished = False
        # Set by the agent while another Spark context grows beside this Databricks one and this one
        # does not (``agent.follow.contexts``; cleared if it grows again): its driver is gone, so its
        # log is complete although Databricks never marks it (see poll).
        self.superseded = False
        # The last poll read to the end of the newest segment (nothing left to read for now).
        self.at_end = False

    def close(self) -> None:
        if self.reader:
            self.reader.close()
            self.reader = None

    # -- reading -------------------------------------------------------------------------------
    def poll(self, budget: int) -> list[PlainEvent]:
        """Read up to about ``budget`` raw bytes; returns the events completed by them."""
        self.at_end = False
        if self.finished:
            return []
        # Judged before reading: see _at_eof. Databricks' layout is never complete by itself.
        complete = self.superseded or self.lister.complete(self.src)
        segs = self.lister.segments(self.src)
        if not segs:
            if not self.src.path.exists():
                log.warning("%s disappeared while followed; finishing it", self.src.app_key)
                return self._finish()
            return []
        seg = self._select(segs)
        if seg is None:
            return []
        out: list[PlainEvent] = []
        eof = False
        while budget > 0 and self.reader is not None:
            lines, eof = self.reader.read(budget)
            self._consume(lines, out)
            self.pos.out = self.reader.buf_start  # type: ignore[union-attr]
            if eof:
                break
            budget -= sum(len(line or b"") + 1 for line, _ in lines) or 1
        if eof:
            out.extend(self._at_eof(segs, complete))
        return out

    def _select(self, segs: list[SegmentRef]) -> SegmentRef | None:
        """The segment to read now, (re)opening the reader when the file changed."""
        if self.pos is None:
            self.pos = Position(segs[0].seg, segs[0].order, 0, 0, 0, segs[0].key)
        seg = next((s for s in segs if s.order == self.pos.order), None)
        if seg is None:
            later = [s for s in segs if s.order > self.pos.order]
            if not later:
                return None  # renamed or not there yet; look again next poll
            log.warning("%s: segment %s vanished before it was fully read", self.src.app_key, self.pos.seg)
            seg = later[0]
            self.pos = Position(seg.seg, seg.order, 0, 0, 0, seg.key)
        if self.reader is None or self._cur is None or self.reader.file_key != seg.key:
            self.close()
            try:
                self.reader = SegmentReader(seg.path, seg.codec, seg.key, self.pos, self.max_line)
            except OSError as exc:
                log.warning("%s: cannot open %s: %s", self.src.app_key, seg.path, exc)
                return None
            self._cur = seg
            self.pos.seg, self.pos.file_key = seg.seg, seg.key
        return seg

    def _consume(self, lines: list[tuple[bytes | None, int]], out: list[PlainEvent]) -> None:
        order = self.pos.order  # type: ignore[union-attr]
        counted = self.counted
        feed = self.parser.feed
        for line, start in lines:
            fresh = (order, start) >= counted
            if line is None:
                if fresh:
                    self.counters.lines_oversized += 1
                continue
            if not line.strip():
                continue
            name = event_name(line)
            if name is not None and name not in WANTED:
                continue  # most lines (TaskStart, metrics updates, SQL plans): skip the JSON parse
            try:
                ev = orjson.loads(line)
            except orjson.JSONDecodeError:
                ev = None
            if not isinstance(ev, dict):
                if fresh:
                    self.counters.lines_corrupt += 1
                    self._warn(f"corrupt line at decoded byte {start} (not a JSON object); skipped, "
                               "later lines are still read")
                continue
            try:
                events = feed(ev, (order, start))
            except Exception as exc:
                # Valid JSON of an unexpected shape ("Task End Reason": "Success" instead of an
                # object) made a handler raise, and the whole read (up to a read budget, the
                # application's start line included) was lost. The line is damaged like one
                # that is not JSON: counted, named once, and the lines after it are read.
                if fresh:
                    self.counters.lines_corrupt += 1
                    self._warn(f"unexpected line at decoded byte {start} ({name or 'unnamed event'}: "
                               f"{type(exc).__name__}: {exc}); skipped, later lines are still read")
                log.debug("%s: line at %d of order %d failed to parse", self.src.app_key, start, order,
                          exc_info=True)
                continue
            if events:
                self.counters.events_read += len(events)
                out.extend(events)
        if lines:
            self.counted = max(counted, (order, lines[-1][1] + 1))

    def _warn(self, what: str) -> None:
        """Name a damaged segment once, so a person can find the file (the counters only count)."""
        assert self.pos is not None
        if self.pos.order in self._warned:
            return
        self._warned.add(self.pos.order)
        path = self.reader.path if self.reader else self.pos.seg
        log.warning("%s: event-log segment %s: %s", self.src.app_key, path, what)

    def _at_eof(self, segs: list[SegmentRef], complete: bool) -> list[PlainEvent]:
        assert self.reader is not None and self.pos is not None
        later = [s for s in segs if s.order > self.pos.order]
        broken = self.reader.corrupt
        if broken and (self.pos.order, self.pos.out) >= self.counted:
            self.counters.lines_corrupt += 1
            self.counted = (self.pos.order, self.pos.out + 1)
            self._warn(f"cannot be decoded after byte {self.pos.out} ({self.reader.corrupt_reason}); "
                       "the rest of it is skipped")
        # A file that will not grow any more (a later segment exists, or Spark renamed it complete)
        # but ends inside a line or a compressed frame/block was cut short: every codec gets the same
        # decision (count it, name it, move on) instead of waiting for bytes that never come.
        if (later or complete) and not broken and self.reader.truncated:
            self.counters.lines_corrupt += 1
            self._warn(f"ends inside a line or compressed block at decoded byte {self.pos.out} "
                       f"({self.reader.codec}): truncated, the partial tail is skipped")
            broken = True
        if later:
            self._memos[self.pos.order] = _SegMemo(self.pos.seg, self.reader.codec, self.reader.file_key,
                                                   list(self.reader.restart_points()))
            self.close()
            nxt = later[0]
            self.pos = Position(nxt.seg, nxt.order, 0, 0, 0, nxt.key)
            return []
        self.at_end = True
        if (complete or self.parser.ended) and (self.reader.pending_bytes == 0 or broken):
            return self._finish()
        return []

    def unread_bytes(self) -> int:
        """File bytes of this application's log not read yet: the rest of the segment being read and
        every later segment, as they are on disk (compressed where the log is; decoded sizes are not
        known without decoding). 0 once finished; a segment that cannot be listed counts as 0."""
        if self.finished:
            return 0
        left = 0
        for seg in self.lister.segments(self.src):
            if self.pos is not None and seg.order < self.pos.order:
                continue
            try:
                size = seg.path.stat().st_size
            except OSError:
                continue
            if self.pos is not None and seg.order == self.pos.order:
                if self.reader is not None and self.reader.file_key == seg.key:
                    size -= self.reader.raw_read
                elif seg.key == self.pos.file_key:
                    size -= self.pos.hint_raw  # a restart point at or before the position: at most this many
            left += max(0, size)
        return left

    def flush_at_stop(self) -> list[PlainEvent]:
        """What the log's end would send, for an application whose log stopped growing when the agent
        stops (the cluster terminates): its stage attempts still open, flagged ``COMPLETION_NOT_SEEN``,
        and the driver's last peaks (``AppParser.flush_open``). The application is not marked finished: an
        agent restarted on a live cluster reads on from here, and the lines of those stages that
        come later are recognised as emitted (each key is sent once; the flagged totals stand).
        """
        if self.finished:
            return []
        return self.parser.flush_open()

    def _finish(self) -> list[PlainEvent]:
        self.finished = True
        self.close()
        return self.parser.finish()

    # -- checkpoint ----------------------------------------------------------------------------
    def checkpoint(self) -> dict[str, Any]:
        """Resume point and application state; call only when every event returned so far is spooled."""
        state: dict[str, Any] = {"parser": self.parser.snapshot(), "counted": list(self.counted),
                                 "finished": self.finished}
        if self.pos is None:
            return state
        low = self.parser.low_water()
        order, out = low if low is not None else (self.pos.order, self.pos.out)
        if order == self.pos.order:
            seg, key = self.pos.seg, self.pos.file_key
            codec = self.reader.codec if self.reader else (self._cur.codec if self._cur else "none")
            points = self.reader.restart_points() if self.reader else [(0, 0)]
        else:
            memo = self._memos.get(order, _SegMemo(f"order_{order}", "none", ""))
            seg, key, codec, points = memo.seg, memo.key, memo.codec, memo.points
        hint_raw, hint_out = hint_for(points, out, codec)
        state["pos"] = Position(seg, order, out, hint_raw, hint_out, key).to_json()
        # Forget restart points and segments no resume point can need any more.
        for o in [o for o in self._memos if o < order]:
            del self._memos[o]
        if self.reader and order == self.pos.order:
            self.reader.prune(out)
        return state
