"""One emulator per workspace state directory.

A workspace keeps its whole state in memory and writes it to ``workspace.json`` on each change: a
second emulator on the same directory (a second `trimtab sandbox up` left at the default
~/.trimtab/sandbox) would fail the first one's live runs as interrupted, fire the same schedules,
and whichever stopped last would save its stale copy over the other's jobs and runs. So a serving
workspace holds an exclusive `flock` on ``<state-dir>/workspace.json.lock`` for its life (as a
Trimtab server holds its SQLite file, `server/server_lock.py`); a second one is refused before it
reads the state. The kernel drops the lock when the process dies, so a killed emulator leaves none.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from sandbox.workspace.state import STATE_FILE


class WorkspaceInUse(RuntimeError):
    """Another emulator serves this state directory. Not an OSError: callers that retry a busy
    port on OSError must not retry this."""


class StateLock:
    """A held claim on a state directory; `release` (idempotent) lets the next emulator start."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle: IO[str] | None = handle

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def claim(state_dir: Path) -> StateLock:
    """Claim `state_dir` for this emulator; `WorkspaceInUse` naming the holder's process if taken."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"{STATE_FILE}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    handle = os.fdopen(fd, "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = handle.read().strip()
        handle.close()
        who = f"process {holder}" if holder.isdigit() else "another process"
        raise WorkspaceInUse(
            f"another workspace emulator ({who}) is serving the state directory {state_dir}: two on one "
            "directory would fail each other's runs and save over each other's jobs. Stop it first, or "
            "give this one another state directory (`sandbox up --state-dir`, env TRIMTAB_SANDBOX_STATE_DIR)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return StateLock(path, handle)
