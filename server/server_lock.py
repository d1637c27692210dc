"""One Trimtab server per SQLite file.

The project lock that keeps an apply, a collector pass and a `project set` from writing over each
other is a row lock on PostgreSQL, but on SQLite it lives in the server's memory
(`server.store.locks`): a second server on the same file (an overlapping redeploy, a second
`trimtab server start` by mistake) would not see the first one's locks, and both would collect,
plan and apply. So a server on a SQLite file holds an exclusive `flock` on ``<db>.server.lock``
for its life; a second one is refused before it opens (or migrates) the database. The kernel
releases the lock when the process dies, so a killed server never leaves it behind.

CLI commands (`trimtab project set --db ...`) are not servers: they take no lock, as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from server.errors import FailedPrecondition
from server.store.sqlite_files import cannot_open
from server.store.urls import sqlite_file


class ServerLock:
    """A held claim on a SQLite file; `release` (idempotent) lets the next server start."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle: IO[str] | None = handle

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def claim(url: str) -> ServerLock | None:
    """Claim ``url``'s SQLite file for this server (None for other databases); `FailedPrecondition`
    naming the other server's process when one holds it."""
    db_file = sqlite_file(url)
    if db_file is None:
        return None
    path = db_file.with_name(db_file.name + ".server.lock")
    try:
        db_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # as `open_store` makes it
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        # A read-only state directory: the database beside the lock could not be written either, so
        # say that, naming the database (was a bare "[Errno 30] Read-only file system: '...lock'").
        raise cannot_open(db_file, f"cannot create {path.name}: {exc.strerror or exc}") from None
    handle = os.fdopen(fd, "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = handle.read().strip()
        handle.close()
        who = f"process {holder}" if holder.isdigit() else "another process"
        raise FailedPrecondition(
            f"another Trimtab server ({who}) is serving the SQLite database {db_file}: SQLite keeps the "
            "project locks in one server's memory, so two servers on one file would apply over each "
            "other. Stop the other server first, or use PostgreSQL (TRIMTAB_DB=postgresql://...) to run "
            "several") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return ServerLock(path, handle)
