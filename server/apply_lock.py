"""The project lock every write to a job takes (`project_lock`), here and across servers."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from server.databricks import DatabricksGateway
from server.log_context import log_context
from server.store import Store, locks

if TYPE_CHECKING:  # server.job_write checks the lock (`verify_project_lock`) before it writes
    from server.job_write import ApplyResult

# How long a project's lock held by another server is waited for (`server.store.locks`).
PROJECT_LOCK_WAIT_S = locks.DEFAULT_WAIT_S


class _ProjectLock:
    """A project's lock: an in-process re-entrant lock (all one process needs, SQLite included)
    and, on PostgreSQL, the project's advisory lock, so a second server on the same database
    waits too (`server.store.locks`). The advisory lock is taken by the outermost holder that
    names the store, and released when that holder leaves."""

    def __init__(self, project_id: int) -> None:
        self.project_id = project_id
        self._rlock = threading.RLock()
        # The advisory lock and the thread holding it; written only by the thread holding _rlock.
        self._db_lock: locks.HeldLock | None = None
        self._db_owner: int | None = None

    @contextmanager
    def held(self, store: Store | None) -> Iterator[None]:
        with self._rlock:
            if store is None or self._db_lock is not None:
                yield
                return
            with locks.advisory_lock(store.engine, locks.PROJECT_NAMESPACE, self.project_id,
                                     what=f"project {self.project_id}", clock=store.clock,
                                     wait_s=PROJECT_LOCK_WAIT_S) as db_lock:
                self._db_lock, self._db_owner = db_lock, threading.get_ident()
                try:
                    yield
                finally:
                    self._db_lock, self._db_owner = None, None

    def verify(self, before: str) -> None:
        """`locks.HeldLock.verify` on the advisory lock this thread holds; nothing when it holds none."""
        db_lock = self._db_lock
        if db_lock is not None and self._db_owner == threading.get_ident():
            db_lock.verify(before)


_locks: dict[int, _ProjectLock] = {}


_locks_guard = threading.Lock()


def project_lock(project_id: int, store: Store | None = None) -> AbstractContextManager[None]:
    """Hold the project's lock for a read-modify-write of its row (apply, revert, the collector).

    Project rows are written whole, so two writers interleaving (an apply and the collector's
    confirmation or cursor move) would lose one's change: every read-modify-write of a project
    row happens under this lock, the row read inside it. Re-entrant. With ``store``, other
    servers on the same PostgreSQL database are locked out too (waited for up to
    `PROJECT_LOCK_WAIT_S`, then `Unavailable`); without it, only this process's threads are.
    """
    with _locks_guard:
        lock = _locks.setdefault(project_id, _ProjectLock(project_id))
    return lock.held(store)


def verify_project_lock(project_id: int, before: str) -> None:
    """Raise `Unavailable` when this thread took the project's lock across servers (`project_lock`
    with a store, on PostgreSQL) and has lost it since (its database session ended), so that what
    ``before`` names (a write to the job) is not done while another server may be writing it too."""
    with _locks_guard:
        lock = _locks.get(project_id)
    if lock is not None:
        lock.verify(before)


def _locked(fn: Callable[..., ApplyResult]) -> Callable[..., ApplyResult]:
    @functools.wraps(fn)
    def wrapper(store: Store, gateway: DatabricksGateway, project_id: int, **kw: Any) -> ApplyResult:
        with project_lock(project_id, store), log_context(project_id=project_id):
            return fn(store, gateway, project_id, **kw)

    return wrapper
