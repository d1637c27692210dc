"""Advisory locks and the connection pool (`server.store.locks`, `server.store.engine.lock_engine`).

A held project lock keeps a connection for its whole block while the block's own transactions need
pooled ones. Locks drew from the same pool (8 + 8 overflow): with 16 held, every holder waited on
the pool for a connection none would give back, and failed after 30 s with INTERNAL ("QueuePool
limit of size 8 overflow 8 reached"). Locks now get connections of their own; an exhausted pool
answers UNAVAILABLE; and a lock statement on a connection that stopped answering fails within the
engine's deadline instead of waiting on TCP keepalives.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from server.errors import Unavailable
from server.store import Store, open_store
from server.store import engine as db
from server.store.locks import PROJECT_NAMESPACE, advisory_lock
from tests.store.blackhole import BlackHoleRelay, within


def test_held_locks_take_no_pooled_connection(postgres_schema_url: str) -> None:
    store = open_store(postgres_schema_url)
    try:
        with contextlib.ExitStack() as held:
            for key in range(16):  # pool_size 8 + max_overflow 8
                held.enter_context(advisory_lock(store.engine, PROJECT_NAMESPACE, 700 + key, what=f"project {key}"))
            assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            assert within(10, store.projects.list) == []
        # Released: the lock connections are closed, not kept anywhere.
        with store.engine.connect() as conn:
            assert conn.execute(sa.text(
                # This database's only: pg_locks lists the whole cluster's, another database's tests too.
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 "
                "AND classid = CAST(CAST(:ns AS integer) AS oid) "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
                {"ns": PROJECT_NAMESPACE}).scalar_one() == 0
    finally:
        store.close()


def test_an_exhausted_pool_is_unavailable_not_internal(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}", pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        with engine.connect(), pytest.raises(Unavailable, match=r"^database connections all in use; retry$"), \
                db.read(engine):
            pytest.fail("got a connection from an exhausted pool")
    finally:
        engine.dispose()


@pytest.fixture
def relay(postgres_schema_url: str) -> Iterator[BlackHoleRelay]:
    r = BlackHoleRelay(postgres_schema_url)
    yield r
    r.close()  # ends whatever still waits on a black hole (a failing test must not hang)


@pytest.fixture
def relayed(relay: BlackHoleRelay) -> Iterator[Store]:
    s = open_store(relay.url, timeout_s=1.5, busy_timeout_ms=1000)
    yield s
    s.close()


def test_a_lock_wait_on_a_dead_connection_fails_within_the_deadline(
        postgres_schema_url: str, relay: BlackHoleRelay, relayed: Store) -> None:
    other = open_store(postgres_schema_url, upgrade=False)
    try:
        with advisory_lock(other.engine, PROJECT_NAMESPACE, 21, what="project 21"):
            def wait() -> None:
                with advisory_lock(relayed.engine, PROJECT_NAMESPACE, 21, what="project 21", wait_s=30):
                    pytest.fail("entered a lock another server holds")

            threading.Timer(0.5, relay.blackhole).start()  # while it polls pg_try_advisory_lock
            started = time.monotonic()
            err = within(10, wait)
            assert isinstance(err, Unavailable), err
            assert "database did not answer within 1.5s" in str(err)
            assert time.monotonic() - started < 5
    finally:
        other.close()


def test_a_release_on_a_dead_connection_ends_within_the_deadline(
        relay: BlackHoleRelay, relayed: Store, caplog: pytest.LogCaptureFixture) -> None:
    def hold_then_lose() -> None:
        with advisory_lock(relayed.engine, PROJECT_NAMESPACE, 22, what="project 22"):
            relay.blackhole()

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="server.store.locks"):
        assert within(10, hold_then_lose) is None
    assert time.monotonic() - started < 5
    assert "project 22: could not release its lock" in caplog.text
