"""Engines, transactions and database-error translation for both engines.

SQLite: WAL mode (readers never block the writer), ``synchronous=NORMAL``
(a commit survives a crash or ``kill -9`` of the process; only an OS crash
could lose the last commits), a ``busy_timeout`` so a briefly held lock is
waited for rather than failed, and foreign keys on. Write transactions start
with ``BEGIN IMMEDIATE`` so they take the write lock up front: a deferred
transaction that reads and then writes can fail on lock upgrade without the
busy handler ever being called.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from server.errors import AlreadyExists, InvalidArgument, Unavailable

SUPPORTED_URLS = "only sqlite:/// and postgresql:// URLs are supported"
# Retry hint sent with UNAVAILABLE when the database is down or locked.
RETRY_AFTER_MS = 500


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, busy_timeout_ms: int = 5000, pool_size: int = 8) -> Engine:
    """An engine for `url` with the per-engine settings described above."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise InvalidArgument(f"database URL is not a URL ({exc}): {SUPPORTED_URLS}") from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        # Refused here, not by a driver import (mysql:// failed with "No module named 'MySQLdb'").
        raise InvalidArgument(f"database URL {parsed.render_as_string(hide_password=True)!r}: {SUPPORTED_URLS}")
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            url,
            # The driver must not open transactions itself: we issue BEGIN.
            connect_args={"check_same_thread": False, "isolation_level": None,
                          "timeout": busy_timeout_ms / 1000.0},
            pool_size=pool_size, max_overflow=8,
        )
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    # A lock held elsewhere must not hang a call forever: give up (-> UNAVAILABLE) like SQLite does.
    return sa.create_engine(parsed, pool_size=pool_size, max_overflow=8, pool_pre_ping=True,
                            connect_args={"options": f"-c lock_timeout={int(busy_timeout_ms)}",
                                          "connect_timeout": max(1, busy_timeout_ms // 1000)})


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
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
    `Unavailable` (retryable); a unique-key clash becomes `AlreadyExists`.
    """
    try:
        yield
    except IntegrityError as exc:
        raise AlreadyExists(f"already exists: {_first_line(exc)}") from exc
    except DataError as exc:
        # A value the database cannot take (a NUL in text, a number out of range): the caller's
        # input, not a server fault, so INVALID_ARGUMENT, never retried as it is.
        raise InvalidArgument(f"a value the database cannot store: {_first_line(exc)}{_where(exc)}") from exc
    except OperationalError as exc:
        raise Unavailable(f"database unavailable: {_first_line(exc)}",
                          retry_after_ms=RETRY_AFTER_MS) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable(f"database connection lost: {_first_line(exc)}",
                              retry_after_ms=RETRY_AFTER_MS) from exc
        raise


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
def write(engine: Engine) -> Iterator[Connection]:
    """One write transaction (committed on exit, rolled back on error)."""
    with translate_errors(), engine.connect() as conn:
        conn = conn.execution_options(trimtab_write=True)
        with conn.begin():
            yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """One read transaction."""
    with translate_errors(), engine.connect() as conn, conn.begin():
        yield conn
