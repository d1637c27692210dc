"""One application's event log → the protobuf events the agent would send for it, and its damage.

This is the agent's own code path (`agent.follow` reads the segments in order
and decodes gzip, `agent.parse` makes plain events, `agent.encode` makes
protobuf), driven to the end of the log at once instead of followed over time.
It imports only ``agent`` and ``protos`` so a Spark executor can run it with
nothing but the agent installed.

A backfill reads final history, so what the agent would wait for (a cut-off
last line, a compressed frame that never ends, no ApplicationEnd) is damage
here: it is kept in `LogHealth` for the report, and everything readable before
it is still returned. A log without ApplicationEnd is one of two things, told
apart by how it ends: cut short (its last segment ends inside a line or frame,
or cannot be read: a copy that stopped) or ending cleanly (the driver died, and
no complete log will ever exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent import encode
from agent.events import PlainEvent
from agent.follow.app import AppFollower, ReadCounters
from agent.follow.discover import AppSource, SegmentLister, SegmentRef
from protos.trimtab.v1 import ingest_pb2

# The agent's defaults (agent/config.py): a line longer than this is skipped and counted, as there.
MAX_LINE_BYTES = 16 * 1024 * 1024
READ_BUDGET_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class UnreadableSegment:
    """A segment file read only up to some point (or not at all), and why."""

    path: str  # where the file really lives (``dbfs:/...`` for a DBFS source)
    reason: str


@dataclass(frozen=True)
class LogHealth:
    """What reading one application's log had to skip."""

    lines_corrupt: int = 0  # not JSON, or cut off without its newline
    lines_oversized: int = 0  # longer than MAX_LINE_BYTES
    unreadable_segments: tuple[UnreadableSegment, ...] = ()
    ended: bool = True  # the log holds the application's end (SparkListenerApplicationEnd)
    # its end is physically damaged: the last segment ends inside a line or compressed frame, or
    # cannot be decoded or opened (an incomplete copy, as opposed to a log a dead driver left)
    cut: bool = False

    @property
    def damaged(self) -> bool:
        return bool(self.lines_corrupt or self.lines_oversized or self.unreadable_segments or not self.ended)


@dataclass(frozen=True)
class ParsedApplication:
    """What the engines hand back per application (picklable: it crosses processes and Spark)."""

    events: list[bytes]  # serialized ``trimtab.v1.Event``
    health: LogHealth


def application_source(app_dir: Path) -> AppSource:
    """The agent's description of a Databricks ``<spark-context-id>/`` directory (see agent discover)."""
    name = app_dir.name
    return AppSource("databricks:" + name, "databricks", app_dir, application_id=name, fallback_id=name)


class _BackfillFollower(AppFollower):
    """The agent's follower, also noting each segment it could not read to its end.

    The agent counts such a segment as one corrupt line and says no more, because it follows
    live files, where a short compressed tail is usually still being written. The hooks are the
    follower's own steps (`_select` opens a segment, `_at_eof` leaves one), so the reading itself
    stays exactly the agent's.
    """

    def __init__(self, app_dir: Path, counters: ReadCounters, event_log_path: str) -> None:
        super().__init__(application_source(app_dir), SegmentLister(), counters, MAX_LINE_BYTES)
        self.event_log_path = event_log_path
        self.unreadable: dict[str, UnreadableSegment] = {}
        self.tail_damaged = False  # the last segment could not be read to a clean end

    def _shown(self, path: Path) -> str:
        # The downloaded copy of a dbfs:/ tree is temporary: name the file where a person can find it.
        return f"{self.event_log_path.rstrip('/')}/{path.name}" if self.event_log_path else str(path)

    def _note(self, path: Path, reason: str) -> None:
        # The last segment reaches its end on every poll: note it once.
        self.unreadable.setdefault(str(path), UnreadableSegment(self._shown(path), reason))

    def _select(self, segs: list[SegmentRef]) -> SegmentRef | None:
        seg = super()._select(segs)
        if seg is None and self.reader is None and self.pos is not None:
            failed = next((s for s in segs if s.order == self.pos.order), None)
            if failed is not None:  # it is listed, so it was there: opening it failed
                self._note(failed.path, f"cannot be opened: {_open_error(failed.path)}")
                self.tail_damaged = self.tail_damaged or failed.order == max(s.order for s in segs)
        return seg

    def _at_eof(self, segs: list[SegmentRef], complete: bool) -> list[PlainEvent]:
        reader = self.reader
        if reader is not None:
            if reader.corrupt:
                self._note(reader.path, f"{reader.codec} data cannot be decoded past decoded byte "
                                        f"{reader.buf_start + reader.pending_bytes}; the rest is skipped")
            elif reader.codec != "none" and reader.restart_points()[-1][0] < _size(reader.path):
                # Every complete frame/block marks a restart point: bytes after the last one are an
                # unfinished frame, i.e. the file was cut (a copy stopped, a disk filled up).
                self._note(reader.path, f"ends inside a {reader.codec} frame (truncated): "
                                        "read up to the last complete frame")
            if self.pos is not None and not any(s.order > self.pos.order for s in segs):
                # Only the last segment decides whether the log was cut: a damaged earlier one
                # is a hole in the middle of a log that may still end cleanly.
                self.tail_damaged = str(reader.path) in self.unreadable
        return super()._at_eof(segs, complete)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _open_error(path: Path) -> str:
    try:
        with open(path, "rb"):
            return "it could not be read"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()


def read_application(app_dir: Path, event_log_path: str = "") -> tuple[list[ingest_pb2.Event], LogHealth]:
    """Every event of the application in ``app_dir``, encoded as the agent encodes them, and what was skipped.

    ``event_log_path`` is where the log really lives (``dbfs:/...`` when it was
    downloaded to a temporary directory first); empty means ``app_dir`` itself,
    which is what the agent reports when it follows the same directory.
    """
    counters = ReadCounters()
    follower = _BackfillFollower(app_dir, counters, event_log_path)
    if event_log_path:
        follower.parser.info["event_log_path"] = event_log_path
    plain = []
    try:
        while not follower.finished:
            before = (follower.pos.order, follower.pos.out) if follower.pos else None
            got = follower.poll(READ_BUDGET_BYTES)
            plain.extend(got)
            after = (follower.pos.order, follower.pos.out) if follower.pos else None
            if not got and before == after:
                # The end of a log without ApplicationEnd (the driver died, or the file was cut):
                # history is final, so flush what the parser holds back, as the agent does when a
                # log ends, and count a cut-off last line the agent would still wait for.
                reader = follower.reader
                if reader is not None and reader.pending_bytes and not reader.corrupt:
                    counters.lines_corrupt += 1
                    follower.tail_damaged = True  # cut inside its last line
                plain.extend(follower.parser.finish(open_stages=not follower.tail_damaged))
                break
        ended = follower.parser.ended
    finally:
        follower.close()
    health = LogHealth(counters.lines_corrupt, counters.lines_oversized,
                       tuple(follower.unreadable.values()), ended, cut=follower.tail_damaged)
    return [encode.encode_event(e) for e in plain], health


def parse_application(app_dir: Path, event_log_path: str = "") -> list[ingest_pb2.Event]:
    """`read_application`'s events alone."""
    return read_application(app_dir, event_log_path)[0]


def parse_application_bytes(app_dir: str, event_log_path: str = "") -> ParsedApplication:
    """`read_application` with plain arguments and serialized results (for worker processes and Spark)."""
    events, health = read_application(Path(app_dir), event_log_path)
    return ParsedApplication([e.SerializeToString() for e in events], health)
