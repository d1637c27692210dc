"""Engines, transactions and database-error translation for both engines.

SQLite: WAL mode (readers never block the writer), ``synchronous=NORMAL``
(a commit survives a crash or ``kill -9`` of the process; only an OS crash
could lose the last commits), a ``busy_timeout`` so a briefly held lock is
waited for rather than failed, and foreign keys on. Write transactions start
with ``BEGIN IMMEDIATE`` so they take the write lock up front: a deferred
transaction that reads and then writes can fail on lock upgrade without the
busy handler ever being called.

PostgreSQL: a connection that stops answering (a failover or a network partition that sends no
reset) must not hang a caller, least of all the single ingest writer, for good. Every transaction
made through `write`/`read` has a deadline (``timeout_s``): past it, a watchdog thread shuts
the connection's socket, the call fails with `Unavailable` (saying whether the database was not
answering or the transaction was held open between statements), and the pool drops that connection
(and every other one opened before it), so the next call reconnects. The check-out ping runs under
a shorter deadline. The server ends a session left idle in a transaction for as long
(``idle_in_transaction_session_timeout``: the dead client's locks are released), and TCP
keepalives and ``tcp_user_timeout`` let the kernel notice a peer that is gone.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InvalidatePoolError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import NullPool

from server.errors import AlreadyExists, FailedPrecondition, InvalidArgument, TrimtabError, Unavailable
from server.store.sqlite_files import file_problem
from server.store.urls import parse_url, sqlite_file

# Retry hint sent with UNAVAILABLE when the database is down or locked.
RETRY_AFTER_MS = 500
# How long a PostgreSQL transaction may take before its connection is closed (see the module doc).
DEFAULT_TIMEOUT_S = 60.0
# The execution option that carries an engine's deadline to `write`/`read`.
_TIMEOUT_OPTION = "trimtab_timeout_s"

log = logging.getLogger(__name__)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, busy_timeout_ms: int = 5000, pool_size: int = 8,
                timeout_s: float = DEFAULT_TIMEOUT_S) -> Engine:
    """An engine for `url` with the per-engine settings described above (``timeout_s`` 0: no
    deadline; PostgreSQL only)."""
    try:
        # Refused here, not by a driver import (mysql:// failed with "No module named 'MySQLdb'"), and
        # in words that show no part of the URL.
        parsed = parse_url(url)
    except ValueError as exc:
        raise InvalidArgument(f"database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            url,
            # The driver must not open transactions itself: we issue BEGIN.
            connect_args={"check_same_thread": False, "isolation_level": None,
                          "timeout": busy_timeout_ms / 1000.0},
            pool_size=pool_size, max_overflow=8,
        )
        _configure_sqlite(engine, busy_timeout_ms, sqlite_file(parsed))
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    users_timeout = _users_connect_timeout(parsed)
    # The user's connect_timeout is kept (connect_args would replace it); it also bounds the check-out
    # ping, unless it is 0 ("wait for ever" to libpq) or unreadable (libpq refuses that one itself).
    connect_timeout = _seconds(users_timeout) or max(1, busy_timeout_ms // 1000)
    # A lock held elsewhere must not hang a call forever: give up (-> UNAVAILABLE) like SQLite does.
    options = [f"-c lock_timeout={int(busy_timeout_ms)}"]
    connect_args: dict[str, Any] = {"connect_timeout": connect_timeout, "keepalives": 1}
    if timeout_s > 0:
        limit_ms = max(1000, int(timeout_s * 1000))
        # Locks of a client that vanished mid-transaction are released after as long as its deadline.
        options.append(f"-c idle_in_transaction_session_timeout={limit_ms}")
        # The kernel gives up on a peer that stops acknowledging (tcp_user_timeout) or stops
        # answering keepalive probes (idle + interval * count: at most 5/6 of the deadline).
        # libpq ignores both on a Unix socket.
        seconds = max(3, int(timeout_s))
        connect_args.update(tcp_user_timeout=limit_ms, keepalives_idle=max(1, seconds // 3),
                            keepalives_interval=max(1, seconds // 6), keepalives_count=3)
        # The same probes from the database's side: a session whose client host died or was cut off
        # is ended within the deadline, releasing its advisory locks (`server.store.locks`: a lock's
        # connection idles, outside any transaction, so nothing else ends it; the kernel's default
        # is two hours). Settable by any user since PostgreSQL 9; ignored on a Unix socket.
        options += [f"-c tcp_keepalives_idle={max(1, seconds // 3)}",
                    f"-c tcp_keepalives_interval={max(1, seconds // 6)}", "-c tcp_keepalives_count=3"]
    # connect_args replace the URL's parameters of the same name: the user's own `options` (a
    # search_path, a statement_timeout) were dropped, and Trimtab's tables went to `public`. So both
    # are sent, the user's last: PostgreSQL keeps the last value of a setting given twice, and one the
    # user named on purpose wins over Trimtab's default.
    users_options = _users_options(parsed)
    if users_options:
        options.append(users_options)
    connect_args["options"] = " ".join(options)
    # Any other parameter the user wrote in the URL (connect_timeout, keepalives_idle, ...) is theirs to
    # set, as is a PGCONNECT_TIMEOUT libpq reads only when no connect_timeout is passed.
    for name in set(connect_args).intersection(parsed.query) - {"options"}:
        del connect_args[name]
    if users_timeout is not None:
        connect_args.pop("connect_timeout", None)
    # No pool_pre_ping: the check-out ping below does the same under a deadline (a ping on a
    # connection that stopped answering hung the caller).
    ping_s = min(timeout_s, connect_timeout) if timeout_s > 0 else 0
    engine = sa.create_engine(parsed, pool_size=pool_size, max_overflow=8, connect_args=connect_args)
    _configure_postgresql(engine, timeout_s, ping_s)

    def lock_source() -> Engine:
        # Same URL, connect arguments and deadline; no pool (see `lock_engine`).
        locks = sa.create_engine(parsed, poolclass=NullPool, connect_args=dict(connect_args))
        _configure_postgresql(locks, timeout_s, ping_s)
        return locks

    with _LOCK_ENGINES_GUARD:
        _LOCK_ENGINES[engine] = lock_source
    return engine


def _query_value(parsed: sa.engine.URL, name: str) -> str | None:
    """The URL's query parameter ``name`` (the last, if given twice, as libpq reads it), else None."""
    value = parsed.query.get(name)
    if isinstance(value, tuple):
        value = value[-1] if value else None
    return value


def _users_options(parsed: sa.engine.URL) -> str:
    """The user's libpq ``options``: the URL's, else ``PGOPTIONS`` (which libpq reads only when no
    ``options`` is passed, and one always is)."""
    value = _query_value(parsed, "options")
    if value is None:
        value = os.environ.get("PGOPTIONS", "")
    return value.strip()


def _users_connect_timeout(parsed: sa.engine.URL) -> str | None:
    """The user's ``connect_timeout`` as written: the URL's, else ``PGCONNECT_TIMEOUT``; None when unset."""
    value = _query_value(parsed, "connect_timeout")
    if value is None:
        value = os.environ.get("PGCONNECT_TIMEOUT")
    return value if value is not None and value.strip() else None


def _seconds(value: str | None) -> int | None:
    """A positive whole number of seconds read from ``value``, else None."""
    try:
        seconds = int((value or "").strip())
    except ValueError:
        return None
    return seconds if seconds > 0 else None


# Per PostgreSQL engine made by `make_engine`: how to make its lock engine, then the lock engine.
_LOCK_ENGINES: weakref.WeakKeyDictionary[Engine, Callable[[], Engine] | Engine] = weakref.WeakKeyDictionary()
_LOCK_ENGINES_GUARD = threading.Lock()


def lock_engine(engine: Engine) -> Engine:
    """The engine session-level locks (`server.store.locks`) are held on, for ``engine``.

    A held lock keeps its connection for the whole block, and the block makes its own transactions
    through ``engine``: drawn from the same pool, 16 held locks (pool 8 + overflow 8) left their
    holders waiting on the pool for a connection none would give back, and failing after its 30 s
    timeout. So locks get connections of their own, opened for the lock and closed after (no pool,
    no limit beyond the threads that can hold a lock), with the same connect arguments and
    per-statement deadline. Created on first use; an engine `make_engine` did not make (or SQLite)
    is its own lock engine."""
    with _LOCK_ENGINES_GUARD:
        found = _LOCK_ENGINES.get(engine)
        if found is None:
            return engine
        if not isinstance(found, Engine):
            found = _LOCK_ENGINES[engine] = found()
        return found


def _configure_postgresql(engine: Engine, timeout_s: float, ping_s: float) -> None:
    engine.update_execution_options(**{_TIMEOUT_OPTION: timeout_s})

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info["trimtab_fresh"] = True

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop("trimtab_fresh", False):
            return  # just connected: nothing to ping (as pool_pre_ping)
        # Raising InvalidatePoolError makes the pool drop this connection and every one opened
        # before it (as pool_pre_ping does), and check out a new one.
        with _WATCHDOG.armed(dbapi_conn, ping_s) as fired:
            try:
                engine.dialect.do_ping(dbapi_conn)
            except Exception as exc:
                why = f"no answer within {ping_s:g}s" if fired.fired else str(exc).strip().splitlines()[0]
                raise InvalidatePoolError(f"database connection failed its check-out ping: {why}") from exc


class _Fired:
    """Whether the watchdog closed a connection (read by the one who armed it), and whether the
    connection was then waiting on the database (a statement or a fetch in flight) or held its
    transaction between two statements while this process worked (None: the driver does not say)."""

    fired = False
    waiting: bool | None = None


# libpq's PQTRANS_ACTIVE (psycopg's `pq.TransactionStatus.ACTIVE`): a command is in flight, its answer
# not all read. Between statements a transaction is INTRANS (2), outside one IDLE (0).
_PQTRANS_ACTIVE = 1


def _waiting_on_database(dbapi_conn: Any) -> bool | None:
    """Whether the connection has a command in flight (libpq's transaction status), None if unknown.
    Read from the watchdog's thread: a read of the connection's state, no call on its socket."""
    try:
        return int(dbapi_conn.pgconn.transaction_status) == _PQTRANS_ACTIVE
    except Exception:  # noqa: BLE001 - another driver, or a connection already closed
        return None


class _Watchdog:
    """Shuts the socket of a PostgreSQL connection still busy past its deadline.

    Nothing else frees a thread blocked on a connection whose peer stopped answering: libpq has no
    client-side timeout, and a relay or a partition without a reset keeps the socket open. Shutting
    the socket wakes the blocked call with "server closed the connection", which SQLAlchemy treats
    as a disconnect. One thread for the process, polling only while something is armed; arming and
    disarming is a dict insert and delete under a lock (the ingest hot path takes it per commit)."""

    POLL_S = 0.2

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._armed: dict[int, tuple[float, Any, _Fired]] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    @contextmanager
    def armed(self, dbapi_conn: Any, seconds: float) -> Iterator[_Fired]:
        fired = _Fired()
        if seconds <= 0:
            yield fired
            return
        token = next(self._ids)
        with self._lock:
            self._armed[token] = (time.monotonic() + seconds, dbapi_conn, fired)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="trimtab-db-watchdog", daemon=True)
                self._thread.start()
            elif len(self._armed) == 1:
                self._work.notify()
        try:
            yield fired
        finally:
            # Under the lock: once disarmed, the watchdog can no longer touch this connection,
            # which the pool may hand to another caller right after.
            with self._lock:
                self._armed.pop(token, None)

    def _run(self) -> None:
        with self._lock:
            while True:
                if not self._armed:
                    self._work.wait()
                    continue
                self._work.wait(self.POLL_S)
                now = time.monotonic()
                for token, (deadline, dbapi_conn, fired) in list(self._armed.items()):
                    if now >= deadline:
                        del self._armed[token]
                        fired.fired = True
                        fired.waiting = _waiting_on_database(dbapi_conn)
                        _shut(dbapi_conn, fired.waiting)


def _shut(dbapi_conn: Any, waiting: bool | None = None) -> None:
    """Shut the connection's socket (not close its descriptor, which the driver still owns)."""
    try:
        fd = dbapi_conn.fileno()
        sock = socket.socket(fileno=os.dup(fd))
    except Exception:  # already closed: nothing is blocked on it
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
        if waiting is False:
            log.warning("a transaction was held open past its deadline while this server worked between its "
                        "statements (the database was answering): closed its connection (the call fails with "
                        "UNAVAILABLE; a new connection is opened for the next one)")
        else:
            log.warning("database connection did not answer within its deadline: closed it (the call fails with "
                        "UNAVAILABLE; a new connection is opened for the next one)")
    except OSError:
        pass
    finally:
        sock.close()


_WATCHDOG = _Watchdog()


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, db_file: Path | None) -> None:
    if db_file is not None:
        @event.listens_for(engine, "handle_error")
        def _file_problem(context: Any) -> None:
            # A damaged file, or one this process cannot open or write (a read-only state directory),
            # becomes one line naming the file and what to do, wherever it shows: opening (the WAL
            # switch reads the header first), a migration or a query on a page damaged later. Raised
            # here, SQLAlchemy raises it in place of its own DatabaseError/OperationalError.
            problem = file_problem(context.original_exception, db_file)
            if problem is not None:
                raise problem

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        _set_wal(cur, busy_timeout_ms)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "BEGIN IMMEDIATE" if conn.get_execution_options().get("trimtab_write") else "BEGIN"
        conn.exec_driver_sql(mode)


def _set_wal(cur: Any, busy_timeout_ms: int) -> None:
    """Switch the file to WAL. On a new file, servers starting at once race for the switch, and
    SQLite answers "database is locked" at once rather than through its busy handler, so this
    retries like the busy handler would, within the same timeout (once WAL, the switch is a no-op)."""
    deadline = time.monotonic() + busy_timeout_ms / 1000.0
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn database failures into the server's errors.

    Lost connections, a locked SQLite file or a database that is gone become
    `Unavailable` (retryable); a unique-key clash becomes `AlreadyExists`, any other
    constraint the database enforces `FailedPrecondition` or `InvalidArgument` (`_integrity`).
    """
    try:
        yield
    except IntegrityError as exc:
        raise _integrity(exc) from exc
    except DataError as exc:
        # A value the database cannot take (a NUL in text, a number out of range): the caller's
        # input, not a server fault, so INVALID_ARGUMENT, never retried as it is.
        raise InvalidArgument(f"a value the database cannot store: {_first_line(exc)}{_where(exc)}") from exc
    except OperationalError as exc:
        raise Unavailable(f"database unavailable: {_first_line(exc)}",
                          retry_after_ms=RETRY_AFTER_MS) from exc
    except PoolTimeoutError as exc:
        # Every pooled connection is checked out and none came back within the pool's timeout:
        # this server is busy, not broken (was INTERNAL, "QueuePool limit ... reached").
        raise Unavailable("database connections all in use; retry", retry_after_ms=RETRY_AFTER_MS) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable(f"database connection lost: {_first_line(exc)}",
                              retry_after_ms=RETRY_AFTER_MS) from exc
        if getattr(exc.orig, "sqlstate", None) == READ_ONLY_SQLSTATE:
            # A standby after a failover (or a database set read-only): the primary is coming back
            # or being pointed at, so retry; it was INTERNAL, which agents park after a few tries.
            raise Unavailable(f"database is read-only: {_first_line(exc)}", retry_after_ms=RETRY_AFTER_MS) from exc
        raise


READ_ONLY_SQLSTATE = "25006"  # PostgreSQL's read_only_sql_transaction

# What each engine calls a constraint violation: PostgreSQL's SQLSTATE, SQLite's extended result code
# (`sqlite3.IntegrityError.sqlite_errorname`, Python 3.11+).
_UNIQUE = frozenset({"23505", "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_ROWID"})
_FOREIGN_KEY = frozenset({"23503", "SQLITE_CONSTRAINT_FOREIGNKEY"})


def _integrity(exc: IntegrityError) -> TrimtabError:
    """The server's error for a violated constraint.

    Only a unique (or primary) key clash is `AlreadyExists`: callers catch that to mean "stored
    already" (a resent run, another poll first), and an agent treats ALREADY_EXISTS as its batch's
    fate. A NOT NULL or CHECK violation mapped there too, so an ingest batch with a NaN (bound as
    NULL by SQLite) answered ALREADY_EXISTS. Those are a value the database refuses, like a
    `DataError`: `InvalidArgument`. A missing referenced row (deleted meanwhile) is `FailedPrecondition`.
    """
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None) or ""
    line = _first_line(exc)
    if code in _UNIQUE or (not code and "UNIQUE constraint failed" in line):
        return AlreadyExists(f"already exists: {line}")
    if code in _FOREIGN_KEY:
        return FailedPrecondition(f"refers to a row that does not exist: {line}{_where(exc)}")
    return InvalidArgument(f"a value the database refuses: {line}{_where(exc)}")


def _where(exc: DBAPIError) -> str:
    """`` (table t, column c)`` when PostgreSQL says which; SQLite never does."""
    diag = getattr(exc.orig, "diag", None)
    named = [f"{what} {value}" for what, value in (("table", getattr(diag, "table_name", None)),
                                                   ("column", getattr(diag, "column_name", None))) if value]
    return f" ({', '.join(named)})" if named else ""


def _first_line(exc: DBAPIError) -> str:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return text.strip().splitlines()[0] if text.strip() else exc.__class__.__name__


@contextmanager
def bounded(conn: Connection) -> Iterator[None]:
    """Run a transaction (or one statement) under the engine's deadline (PostgreSQL; see the module doc)."""
    seconds = conn.get_execution_options().get(_TIMEOUT_OPTION, 0)
    if not seconds:
        yield
        return
    with _WATCHDOG.armed(conn.connection.dbapi_connection, seconds) as fired:
        try:
            yield
        except DBAPIError as exc:
            if fired.fired and fired.waiting is False:
                # The database answered every statement; this process held the transaction open between
                # them (20 concurrent `trimtab savings` each making rows of 327,000 runs on 2 cores):
                # "did not answer" sent operators after a database that was fine.
                raise Unavailable(f"the call's database transaction ran longer than {seconds:g}s "
                                  "(TRIMTAB_DB_TIMEOUT_SECONDS) while this server worked between its statements "
                                  "(the database was answering; the server is overloaded or the call reads too "
                                  "much): its connection was closed; retry",
                                  retry_after_ms=RETRY_AFTER_MS) from exc
            if fired.fired:
                raise Unavailable(f"database did not answer within {seconds:g}s (TRIMTAB_DB_TIMEOUT_SECONDS): "
                                  "its connection was closed; retry", retry_after_ms=RETRY_AFTER_MS) from exc
            raise


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One write transaction (committed on exit, rolled back on error)."""
    with translate_errors(), engine.connect() as conn:
        conn = conn.execution_options(trimtab_write=True)
        with bounded(conn), conn.begin():
            yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """One read transaction."""
    with translate_errors(), engine.connect() as conn, bounded(conn), conn.begin():
        yield conn
