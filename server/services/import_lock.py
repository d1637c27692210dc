"""The lock an import holds on one job while it judges and onboards it, across the servers on one
PostgreSQL database (`server.store.locks`).

Two servers on one database each run auto-import: both found the same new job without a project, both
onboarded it, and each sent its own jobs/update (its own TRIMTAB_SERVER), the second over the first. The
project lock (`server.apply.project_lock`) serialized their row writes, not the decision to onboard:
that was taken before either project existed. Held from reading the job to recording its projects, this
lock lets the second import find the first one's projects, and auto-import then leaves the job to it.

A lock per job (not per workspace): two servers' passes over different new jobs go on side by side, and
one job takes a few Databricks calls, so a server waits seconds for another's import of the same job.
On SQLite (one server process at a time) it is a no-op, as `advisory_lock` is.
"""

from __future__ import annotations

import zlib
from contextlib import AbstractContextManager

from server.domain import Workspace
from server.store import Store, locks

# Advisory-lock namespace (the first int4 of the two-key form): "TTij", one job's import.
IMPORT_NAMESPACE = 0x5454_696A
# How long an import waits for another server's import of the same job: one job's import is a few
# Databricks calls, seconds; then UNAVAILABLE (auto-import reports the job failed, a person retries).
IMPORT_LOCK_WAIT_S = locks.DEFAULT_WAIT_S


def job_import_lock(store: Store, ws: Workspace, job_id: int) -> AbstractContextManager[None]:
    """Hold the import lock of job ``job_id`` of ``ws`` for the block (PostgreSQL; a no-op on SQLite)."""
    # crc32, not hash(): every server process must fold the same job into the same key (a collision
    # only makes two jobs share one lock).
    key = zlib.crc32(f"{ws.name}/{job_id}".encode())
    return locks.advisory_lock(store.engine, IMPORT_NAMESPACE, key, what=f"the import of job {job_id} of "
                               f"workspace {ws.name}", clock=store.clock, wait_s=IMPORT_LOCK_WAIT_S,
                               busy_with="its import of the same job")


def locked_elsewhere(store: Store, err: locks.LockedElsewhere) -> str:
    """What auto-import says of a job it left at ``err``, a lock held past its wait (this job's import lock,
    or one of its projects' locks): what is locked, and who holds it (`locks.holder`), on one line."""
    held = locks.holder(store.engine, err.namespace, err.key)
    return f"{err.what} is locked by another session ({f'the lock is held by {held}' if held else 'released since'})"
