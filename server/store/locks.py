"""Locks that hold across server processes sharing one PostgreSQL database.

Two servers on one database (a rolling deploy, or two replicas) each have their own in-process
locks, which do not see each other. `advisory_lock` takes a PostgreSQL session-level advisory lock
``(namespace, key)`` on a connection of its own, held for the whole block: a second server asking
for the same lock waits, for at most ``wait_s``, then gets `Unavailable` naming what is locked.

Session-level (not transaction-level): the block makes calls outside the database (the Jobs API)
and its own transactions through the pool, so no single transaction spans it. The lock's
connection is in autocommit, so it is never idle *in a transaction* (which
``idle_in_transaction_session_timeout`` would end, dropping the lock). If that connection is lost,
PostgreSQL ends the session and releases the lock: a server that dies never leaves it held.

The lock's connection comes from the engine's lock engine (`server.store.engine.lock_engine`:
same URL and settings, no pool), not from its pool: the block's own transactions need pooled
connections, and held locks drawing from the same pool could take all of it.

The wait polls ``pg_try_advisory_lock`` on the injected clock rather than blocking in
``pg_advisory_lock``: the bound is ours (and testable with a fake clock), and no statement ever
blocks on the server. Each lock statement runs under the engine's per-transaction deadline (its
watchdog): one on a connection that stopped answering fails with `Unavailable` instead of waiting
on TCP keepalives (which a Unix socket does not have).

A lock's session can end while its block runs (``pg_terminate_backend``, ``idle_session_timeout``, a
failover): PostgreSQL then releases the lock, and another server may take it while this block goes
on. Nothing tells the block so by itself; a block about to do what the lock guards outside the
database (an apply's ``jobs/update``) asks first (`HeldLock.verify`), and release says so (ERROR).

A wait that timed out raises `LockedElsewhere` (an `Unavailable`), which names the lock: a caller
with other work to do (the collector's poll, with other jobs to collect) skips what is locked and
comes back to it, instead of taking it for the database being down. Such a caller may also shorten
the wait for its thread (`waiting_at_most`): a poll that will come back needs no 30 s per project.

SQLite has no such lock: `advisory_lock` does nothing there, and a SQLite database is served by
one process at a time (docs/operations.md).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from server.clock import Clock, SystemClock
from server.errors import Unavailable
from server.store import engine as db

log = logging.getLogger(__name__)

# Advisory-lock namespaces (the first int4 of the two-key form; the migration lock uses the
# one-bigint form, a separate key space). "TTpj": a project's read-modify-write (server.apply).
PROJECT_NAMESPACE = 0x5454_706A
# How long a server waits for a lock another server holds before answering UNAVAILABLE. An apply
# or a run's collection holds a project's lock across a few Databricks calls: seconds, rarely more.
DEFAULT_WAIT_S = 30.0
# How often a waiting server asks again.
POLL_S = 0.05


class LockedElsewhere(Unavailable):
    """A lock another session (another server, or any client of the database) held for the whole wait.

    ``namespace`` and ``key`` are the lock's two keys as `advisory_lock` was given them (a project's id
    in `PROJECT_NAMESPACE`): what a caller that skips the locked thing names it by."""

    def __init__(self, message: str, *, namespace: int, key: int, what: str) -> None:
        super().__init__(message, retry_after_ms=db.RETRY_AFTER_MS)
        self.namespace = namespace
        self.key = key
        self.what = what


# This thread's longest wait for a lock held elsewhere while in `waiting_at_most` (None: each lock's own).
_THREAD_WAIT = threading.local()


@contextmanager
def waiting_at_most(wait_s: float) -> Iterator[None]:
    """Within the block, this thread waits at most ``wait_s`` for any lock another session holds
    (`LockedElsewhere` after it), whatever wait the lock's taker asks for. For a caller that will
    come back to what is locked anyway (the collector's next poll), so that one lock held for long
    does not cost every later job of its poll the full wait. Nested blocks keep the shortest."""
    before = getattr(_THREAD_WAIT, "wait_s", None)
    _THREAD_WAIT.wait_s = wait_s if before is None else min(before, wait_s)
    try:
        yield
    finally:
        _THREAD_WAIT.wait_s = before


def _capped(wait_s: float) -> float:
    cap = getattr(_THREAD_WAIT, "wait_s", None)
    return wait_s if cap is None else min(wait_s, cap)


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def int4(key: int) -> int:
    """``key`` folded into PostgreSQL's int4 range (a fold that collides only makes two keys
    share one lock: more waiting, never less safety)."""
    return ((int(key) + 2**31) % 2**32) - 2**31


class HeldLock:
    """An advisory lock a block holds (`advisory_lock`); on SQLite, nothing to hold or verify."""

    def __init__(self, what: str, conn: Connection | None = None, args: dict[str, int] | None = None) -> None:
        self.what = what
        self._conn = conn
        self._args = args or {}

    def verify(self, before: str) -> None:
        """Raise `Unavailable` unless the lock is still held: its session answers and still holds it.

        Called right before the block does what the lock guards outside the database (``before``
        names it: "writing to the job"), so that a lock lost meanwhile (its session ended:
        `pg_terminate_backend`, ``idle_session_timeout``, a failover) stops the block with that not done,
        rather than letting two servers write the same job."""
        if self._conn is None:
            return
        stop = f"another server may be working on it: stopped before {before}, which was not done; retry"
        try:
            with db.bounded(self._conn):
                held = self._conn.execute(_HELD, self._args).scalar()
        except Exception as err:
            if _disconnected(err):
                why = f"its lock was lost during the block (its database connection ended: {_why(err)})"
            else:  # no answer within the deadline, or another failure: not known to be held, so not written
                why = f"its lock could not be confirmed ({_why(err)})"
            raise Unavailable(f"{self.what}: {why}; {stop}", retry_after_ms=db.RETRY_AFTER_MS) from err
        if not held:
            raise Unavailable(f"{self.what}: its lock was lost during the block (its database session no longer "
                              f"holds it); {stop}", retry_after_ms=db.RETRY_AFTER_MS)


@contextmanager
def advisory_lock(engine: Engine, namespace: int, key: int, *, what: str, clock: Clock | None = None,
                  wait_s: float = DEFAULT_WAIT_S, poll_s: float = POLL_S,
                  busy_with: str = "an apply, revert or run collection") -> Iterator[HeldLock]:
    """Hold the advisory lock ``(namespace, key)`` for the block (PostgreSQL; a no-op on SQLite).

    ``what`` names the locked thing in the error a timed-out wait raises (`Unavailable`), and
    ``busy_with`` what the other server holding it is doing (a project's lock: an apply, revert or
    run collection; a job's import lock: its import). The block
    gets the `HeldLock`, to verify it still holds it before acting outside the database."""
    if not is_postgresql(engine):
        yield HeldLock(what)
        return
    clock = clock or SystemClock()
    wait_s = _capped(wait_s)
    args = {"ns": int4(namespace), "key": int4(key)}
    with db.translate_errors():
        conn = db.lock_engine(engine).connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        _acquire(conn, (namespace, key), args, what=what, clock=clock, wait_s=wait_s, poll_s=poll_s,
                 busy_with=busy_with)
    except BaseException:
        # Timed out, failed or interrupted mid-statement (the lock may have been granted):
        # closing the connection for good ends its session, which releases anything it held.
        _discard(conn)
        raise
    try:
        yield HeldLock(what, conn, args)
    finally:
        _release(conn, args, what)


# Who holds a two-key advisory lock: its session's process, client and state (pg_stat_activity).
_HOLDER = sa.text("SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start, a.state "
                  "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                  "AND l.granted AND l.objsubid = 2 AND l.classid = CAST(CAST(:ns AS integer) AS oid) "
                  "AND l.objid = CAST(CAST(:key AS integer) AS oid) LIMIT 1")


def holder(engine: Engine, namespace: int, key: int) -> str:
    """Who holds the advisory lock ``(namespace, key)`` now, for a person to find it (``PostgreSQL session
    pid 4242 (application trimtab, from 10.0.0.2, connected since 2026-12-07 08:15 UTC, idle)``); "" on
    SQLite, when no session holds it any more, or when the database cannot say."""
    if not is_postgresql(engine):
        return ""
    try:
        with db.lock_engine(engine).connect() as conn, db.bounded(conn):
            row = conn.execute(_HOLDER, {"ns": int4(namespace), "key": int4(key)}).first()
    except Exception as err:  # only said in a log line: the lock's own error is what matters
        log.debug("who holds lock (%d, %d) could not be read: %s", namespace, key, err)
        return ""
    if row is None:
        return ""
    pid, application, client, since, state = row
    parts = [f"application {application}" if application else "",
             f"from {client}" if client else "from a local socket",
             f"connected since {since.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC" if since is not None else "",
             str(state or "")]
    return f"PostgreSQL session pid {pid} ({', '.join(p for p in parts if p)})"


_TRY = sa.text("SELECT pg_try_advisory_lock(CAST(:ns AS integer), CAST(:key AS integer))")
_UNLOCK = sa.text("SELECT pg_advisory_unlock(CAST(:ns AS integer), CAST(:key AS integer))")
# Whether this session holds the two-key lock: pg_locks shows its keys as oids (objsubid 2: the
# two-int4 form), an int4 cast to oid as the same 32 bits.
_HELD = sa.text("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                "AND granted AND objsubid = 2 AND classid = CAST(CAST(:ns AS integer) AS oid) "
                "AND objid = CAST(CAST(:key AS integer) AS oid))")


def _acquire(conn: Connection, keys: tuple[int, int], args: dict[str, int], *, what: str, clock: Clock,
             wait_s: float, poll_s: float, busy_with: str) -> None:
    deadline = clock.monotonic() + max(0.0, wait_s)
    waited = False
    while True:
        with db.translate_errors(), db.bounded(conn):
            taken = conn.execute(_TRY, args).scalar()
        if taken:
            if waited:
                log.info("%s: lock taken after waiting for another server", what)
            return
        now = clock.monotonic()
        if now >= deadline:
            raise LockedElsewhere(
                f"{what} is locked by another Trimtab server on this database ({busy_with} in progress "
                f"there) and stayed locked for {wait_s:g}s; retry", namespace=keys[0], key=keys[1], what=what)
        if not waited:
            log.info("%s: locked by another server; waiting up to %gs", what, wait_s)
            waited = True
        clock.sleep(min(poll_s, deadline - now))


def _release(conn: Connection, args: dict[str, int], what: str) -> None:
    """Unlock and return the connection; never raises (the block's own error must show)."""
    if conn.invalidated:
        # Found gone during the block (`HeldLock.verify`): its session ended, and the lock with it.
        log.error("%s: its lock was lost during the block (its database connection ended); another server may "
                  "have worked on it at the same time", what)
        _discard(conn)
        return
    try:
        with db.bounded(conn):
            held = conn.execute(_UNLOCK, args).scalar()
    except Exception as err:  # the connection is gone or broken: ending its session releases the lock
        if _disconnected(err):
            # Its session ended during the block (terminated, timed out, a failover), and the lock with
            # it: another server may have taken it while this block went on.
            log.error("%s: its lock was lost during the block (its database connection ended: %s); another "
                      "server may have worked on it at the same time", what, _why(err))
        else:
            log.warning("%s: could not release its lock (%s); closing its connection releases it", what, _why(err))
        _discard(conn)
        return
    if not held:
        # Its session ended while the block ran (the connection was reset): another server may
        # have taken the lock meanwhile.
        log.error("%s: its lock was no longer held at release (its database connection was reset "
                  "during the block); another server may have worked on it at the same time", what)
    conn.close()


def _disconnected(err: BaseException) -> bool:
    """Whether ``err`` says the lock's connection, so its session and the lock, ended. Not an
    `Unavailable` from the watchdog (no answer within the deadline): the session may still be there."""
    return isinstance(err, DBAPIError) and bool(err.connection_invalidated)


def _why(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _discard(conn: Connection) -> None:
    try:
        conn.invalidate()
        conn.close()
    except Exception as err:  # closing a broken connection: nothing more to release
        log.debug("closing a lock's connection failed: %s", err)
