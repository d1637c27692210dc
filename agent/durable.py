"""Small helpers for crash-safe files: write to a temporary name, fsync, rename, fsync the directory."""

from __future__ import annotations

import os
from pathlib import Path

import orjson


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either the old or the new content."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_json(path: Path) -> dict:
    try:
        data = orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def try_lock(path: Path) -> int | None:
    """An exclusive advisory lock on ``path`` (created if needed), held while the fd is open.

    Returns the fd, or None when another process holds it. The kernel drops it when the holder
    dies, so a ``kill -9``'d agent never leaves a stale lock behind (unlike a pid file).
    """
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd
