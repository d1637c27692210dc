"""Small helpers for crash-safe files: write to a temporary name, fsync, rename, fsync the directory."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path

import orjson

log = logging.getLogger("trimtab.agent.durable")

DIR_SYNC_WARN_EVERY_S = 300.0  # a lasting fsync failure (a flaky mount) is repeated this often
_dir_sync_lock = threading.Lock()
_dir_sync_warned_at: float | None = None


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_dir_after_rename(path: Path) -> None:
    """fsync ``path`` after a rename into it, where a failure must not undo the rename.

    The file is in place once ``os.replace`` returned: callers record it then. Raising here made
    the caller think it failed (the spool wrote the same batch again under a new number, and both
    were sent after a restart), while only the rename's survival of a power cut is in doubt.
    Warned at most once per ``DIR_SYNC_WARN_EVERY_S``, so a flaky mount does not flood the log.
    """
    global _dir_sync_warned_at
    try:
        fsync_dir(path)
    except OSError as exc:
        now = time.monotonic()
        with _dir_sync_lock:
            if _dir_sync_warned_at is not None and now - _dir_sync_warned_at < DIR_SYNC_WARN_EVERY_S:
                return
            _dir_sync_warned_at = now
        log.warning("cannot fsync directory %s after a rename (%s): the file is in place, but a power "
                    "loss could undo the rename (repeated at most every %.0f s)", path, exc,
                    DIR_SYNC_WARN_EVERY_S)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either the old or the new content.

    Raises only when ``path`` still holds the old content; once renamed it returns (see
    ``sync_dir_after_rename``)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        # A full disk fails here at every retry: a left-behind .tmp would hold the space the
        # retry needs (and pile up, one per batch number).
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(tmp)  # a failed write() does not say which file; the log should
        raise
    sync_dir_after_rename(path.parent)


def read_json(path: Path) -> dict:
    try:
        data = orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


class LockHeld(Exception):
    """Another live process holds the state directory's lock."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is held by {holder}")
        self.path = path
        self.holder = holder  # "pid N" as the holder wrote it, or "another process"


def try_lock(path: Path) -> int:
    """An exclusive advisory lock on ``path`` (created if needed), held while the returned fd is open.

    Raises ``LockHeld`` when another process holds it; any other ``OSError`` means locking cannot
    be done here (ENOLCK, EOPNOTSUPP on some FUSE/NFS mounts), which callers treat as "run without
    the lock", never as "held". The kernel drops the lock when the holder dies, so a ``kill -9``'d
    agent never leaves a stale lock behind (unlike a pid file). The holder's pid is written into
    the file only so a refused second agent can name it.
    """
    import errno
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            try:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            except OSError:
                holder = ""
            os.close(fd)
            raise LockHeld(path, f"pid {holder}" if holder.isdigit() else "another process") from None
        os.close(fd)
        raise
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    except OSError:
        pass  # the pid is a courtesy for messages; the lock itself is what counts
    return fd
