"""What is wrong with a SQLite file the server or a command cannot use, in words that name the file
and say what to do.

SQLite's own words named neither: every command printed `(sqlite3.DatabaseError) file is not a
database` for a damaged file, `database unavailable: unable to open database file` for a read-only
state directory, and `server start` a bare `[Errno 30] Read-only file system: '...server.lock'`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from server.errors import Unavailable

# Where the operator reads how to restore or move a state directory.
DOCS = "docs/operations.md, 'A damaged or unwritable SQLite database'"

# SQLite's result codes (`sqlite3.Error.sqlite_errorname`, extended codes too: SQLITE_CORRUPT_INDEX,
# SQLITE_CANTOPEN_ISDIR, SQLITE_READONLY_DIRECTORY, ...) for a file that is not, or no longer, a
# whole database, and for one this process cannot open or write.
_DAMAGED = ("SQLITE_NOTADB", "SQLITE_CORRUPT")
_CANNOT_OPEN = ("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM")


def _code_of(exc: BaseException) -> str:
    return (getattr(exc, "sqlite_errorname", "") or "") if isinstance(exc, sqlite3.Error) else ""


def damaged(db_file: Path, reason: str) -> Unavailable:
    # UNAVAILABLE, not an error of the caller's: an agent keeps its batches and sends them again once
    # the file is restored, and a person sees the same one line as for any other cause.
    return Unavailable(f"database {db_file} is damaged ({reason}): restore it from a backup ({DOCS}); "
                       "Trimtab cannot read it as it is")


def why_not_writable(path: Path) -> str:
    """Why this process cannot create or write ``path`` (a file in a directory), from the file system
    itself: a read-only mount, a directory or file without write permission for this user, a directory
    where the file should be; "" when none of those."""
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent  # the nearest existing directory is the one to write in
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return f"{directory} is on a read-only file system"
    except OSError:
        pass
    if path.is_dir():
        return f"{path} is a directory, not a database file"
    user = f"user {os.geteuid()}" if hasattr(os, "geteuid") else "this user"
    if directory.is_dir() and not os.access(directory, os.W_OK | os.X_OK):
        return (f"no permission to write in {directory} as {user} (SQLite writes its -wal and -shm files "
                f"beside the database; the directory's mode is {directory.stat().st_mode & 0o777:03o})")
    if path.is_file() and not os.access(path, os.R_OK | os.W_OK):
        return f"no permission to read and write {path} as {user} (mode {path.stat().st_mode & 0o777:03o})"
    return ""


def cannot_open(path: Path, reason: str) -> Unavailable:
    why = why_not_writable(path) or reason
    return Unavailable(f"cannot open {path}: {why}; make it writable by the user Trimtab runs as, or give "
                       f"another --state-dir or --db ({DOCS})")


def file_problem(exc: BaseException, db_file: Path) -> Unavailable | None:
    """The error to raise for SQLite's ``exc`` on ``db_file`` when the file itself is the problem
    (damaged, or not openable or writable here); None for anything else (a lock held, a constraint)."""
    code = _code_of(exc)
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else code
    if code.startswith(_DAMAGED):
        return damaged(db_file, reason)
    if code.startswith(_CANNOT_OPEN):
        return cannot_open(db_file, reason)
    return None
