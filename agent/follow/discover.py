"""Find applications in an event-log directory and list each one's segments in order.

Layouts (spark-eventlog.md §2, §5):
- single file ``<appId>[.<codec>][.inprogress]``;
- rolling ``eventlog_v2_<appId>/events_<n>_<appId>[.<codec>]`` + zero-byte ``appstatus_…`` marker
  (``.compact`` files written by a History Server replace originals);
- Databricks ``<sparkContextId>/eventlog`` with rotated ``eventlog-YYYY-MM-DD--HH-MM[.gz]``, each
  starting with a ``DBCEventLoggingListenerMetadata`` line carrying its ``Rollover Number``.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import orjson

from agent.follow.codecs import CODEC_EXTENSIONS, CorruptStream, codec_of, make_decoder
from agent.follow.segment import file_key

INPROGRESS = ".inprogress"
_EVENTS = re.compile(r"^events_(\d+)_")
_DBX_ROTATED = re.compile(r"^eventlog-(\d{4}-\d\d-\d\d--\d\d-\d\d)(?:\.gz)?$")
log = logging.getLogger("trimtab.agent.follow")
# Paths already reported as not UTF-8 (each once per process; bounded, since a directory could
# hold any number of them and discover() runs every poll).
_WARNED_NAMES: set[str] = set()
_WARNED_NAMES_MAX = 1000


@dataclass(frozen=True)
class AppSource:
    app_key: str  # stable name in the checkpoint
    layout: str  # "single" | "rolling" | "databricks"
    path: Path
    application_id: str = ""  # known up front only for Databricks (the Spark context id)
    fallback_id: str = ""  # id used if the log never says (from the file name)


@dataclass(frozen=True)
class SegmentRef:
    seg: str
    order: int
    path: Path
    codec: str
    key: str


def _strip_codec(name: str) -> str:
    base = name[: -len(INPROGRESS)] if name.endswith(INPROGRESS) else name
    stem, _, ext = base.rpartition(".")
    return stem if stem and ext in CODEC_EXTENSIONS else base


def discover(root: Path) -> list[AppSource]:
    """Applications under ``root``; raises OSError when ``root`` cannot be listed."""
    found: dict[str, AppSource] = {}
    with os.scandir(root) as it:
        entries = list(it)
    for e in entries:
        name = e.name
        if name.startswith("."):
            continue  # Hadoop's .crc companions and hidden files
        if not _is_utf8(name):
            _warn_not_utf8(root, name)
            continue
        try:
            is_dir = e.is_dir()
        except OSError:
            continue
        if is_dir and name.startswith("eventlog_v2_"):
            app = name[len("eventlog_v2_") :]
            found["rolling:" + app] = AppSource("rolling:" + app, "rolling", Path(e.path), fallback_id=app)
        elif is_dir:
            try:
                names = os.listdir(e.path)
            except OSError:
                continue
            if any(n == "eventlog" or _DBX_ROTATED.match(n) for n in names):
                found["databricks:" + name] = AppSource("databricks:" + name, "databricks", Path(e.path),
                                                        application_id=name, fallback_id=name)
        elif not name.endswith((".tmp", ".crc")):
            app = _strip_codec(name)
            key = "single:" + app
            base = name[: -len(INPROGRESS)] if name.endswith(INPROGRESS) else name
            if key not in found or not name.endswith(INPROGRESS):
                found[key] = AppSource(key, "single", root / base, fallback_id=app)
    return sorted(found.values(), key=lambda a: a.app_key)


def _is_utf8(name: str) -> bool:
    """Whether a listed name decoded cleanly: Python keeps undecodable bytes as lone surrogates,
    which the checkpoint (JSON) and the batches (protobuf strings) cannot carry. Spark writes
    application ids in ASCII, so such a file is not an event log of ours."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _warn_not_utf8(root: Path, name: str) -> None:
    key = os.path.join(root, name)
    if key in _WARNED_NAMES or len(_WARNED_NAMES) >= _WARNED_NAMES_MAX:
        return
    _WARNED_NAMES.add(key)
    shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    log.warning("event-log directory %s: skipping '%s', whose name is not valid UTF-8 (Spark names its "
                "logs in ASCII, so it is not one of them)", root, shown)


def context_sizes(src: AppSource) -> tuple[tuple[str, int], ...] | None:
    """(name, size) of each segment file of a Databricks context, sorted; None when it cannot be listed.

    The agent compares what it saw from one pass to the next to tell which context is growing
    (``agent.follow.contexts``). File times are not used: a context copied in (``cp -r``, a restore)
    or written while the clock was ahead has times that say nothing about which driver is live.
    """
    try:
        names = os.listdir(src.path)
    except OSError:
        return None
    sizes: list[tuple[str, int]] = []
    for n in names:
        if n == "eventlog" or _DBX_ROTATED.match(n):
            try:
                sizes.append((n, os.stat(src.path / n).st_size))
            except OSError:
                continue
    return tuple(sorted(sizes))


class SegmentLister:
    """Lists an application's segments; caches Databricks rollover numbers per file identity."""

    def __init__(self) -> None:
        self._rollover: dict[str, int | None] = {}

    def segments(self, src: AppSource) -> list[SegmentRef]:
        if src.layout == "single":
            return self._single(src)
        if src.layout == "rolling":
            return self._rolling(src)
        return self._databricks(src)

    def complete(self, src: AppSource) -> bool:
        """Spark marks completion by renaming; Databricks only by ApplicationEnd (the parser's job)."""
        if src.layout == "single":
            return src.path.exists()
        if src.layout == "rolling":
            try:
                return any(n.startswith("appstatus_") and not n.endswith(INPROGRESS)
                           for n in os.listdir(src.path))
            except OSError:
                return False
        return False

    def _ref(self, seg: str, order: int, path: Path) -> SegmentRef | None:
        codec = codec_of(path.name)
        try:
            st = path.stat()
        except OSError:
            return None
        return SegmentRef(seg, order, path, codec, file_key(st, codec))

    def _single(self, src: AppSource) -> list[SegmentRef]:
        for p in (src.path, src.path.with_name(src.path.name + INPROGRESS)):
            ref = self._ref("0", 0, p)
            if ref:
                return [ref]
        return []

    def _rolling(self, src: AppSource) -> list[SegmentRef]:
        by_index: dict[int, Path] = {}
        try:
            names = sorted(os.listdir(src.path))
        except OSError:
            return []
        for n in names:
            m = _EVENTS.match(n)
            if not m or n.startswith("."):
                continue
            idx = int(m.group(1))
            # Prefer the original over a History Server's lossy .compact rewrite of it.
            if n.endswith(".compact") and idx in by_index:
                continue
            by_index[idx] = src.path / n
        refs = [self._ref(f"events_{i}", i, p) for i, p in sorted(by_index.items())]
        return [r for r in refs if r]

    def _databricks(self, src: AppSource) -> list[SegmentRef]:
        try:
            names = os.listdir(src.path)
        except OSError:
            return []
        rotated = sorted(n for n in names if _DBX_ROTATED.match(n))
        ordered = rotated + (["eventlog"] if "eventlog" in names else [])
        refs: list[SegmentRef] = []
        for i, n in enumerate(ordered):
            ref = self._ref(n, i, src.path / n)
            if ref is None:
                continue
            rollover = self._rollover_of(ref)
            order = rollover if rollover is not None else i
            refs.append(SegmentRef(f"rollover_{order}", order, ref.path, ref.codec, ref.key))
        refs.sort(key=lambda r: r.order)
        return refs

    def _rollover_of(self, ref: SegmentRef) -> int | None:
        # Only rotated segments are cached: they never change. The live ``eventlog`` is replaced
        # at each rotation and the new file may reuse the old inode, so it is asked every time.
        cache_key = f"{ref.key}:{ref.path.name}"
        live = ref.path.name == "eventlog"
        if not live and cache_key in self._rollover:
            return self._rollover[cache_key]
        try:
            with open(ref.path, "rb") as f:
                head = make_decoder(ref.codec).feed(f.read(8192 if live else 65536))
        except (OSError, CorruptStream):
            return None
        nl = head.find(b"\n")
        if nl < 0:
            return None  # first line not written yet: ask again next time
        value: int | None = None
        try:
            first = orjson.loads(head[:nl])
            if isinstance(first, dict) and first.get("Event") == "DBCEventLoggingListenerMetadata":
                value = int(first.get("Rollover Number"))
        except (orjson.JSONDecodeError, TypeError, ValueError):
            value = None
        if not live:
            self._rollover[cache_key] = value
        return value
