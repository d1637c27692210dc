"""A PostgreSQL connection that stops answering fails the call within its deadline; the pool reconnects.

Through `BlackHoleRelay`: every connection open when it black-holes stays open and never answers
again (a failover or partition without a reset), while new connections work. Before, a call on
such a connection (or the pool's check-out ping of one) waited forever.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from server.errors import Unavailable
from server.store import Store, open_store
from server.store import engine as db
from tests.store.blackhole import BlackHoleRelay, within


@pytest.fixture
def relay(postgres_schema_url: str) -> Iterator[BlackHoleRelay]:
    r = BlackHoleRelay(postgres_schema_url)
    yield r
    r.close()  # ends whatever still waits on a black hole (a failing test must not hang)


@pytest.fixture
def store(relay: BlackHoleRelay) -> Iterator[Store]:
    s = open_store(relay.url, timeout_s=1.5, busy_timeout_ms=1000)
    yield s
    s.close()



def _sessions(postgres_schema_url: str) -> list[str]:
    name = sa.engine.make_url(postgres_schema_url).database
    admin = sa.create_engine(postgres_schema_url)
    try:
        with admin.connect() as conn:
            return list(conn.execute(sa.text(
                "SELECT state FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
                {"d": name}).scalars())
    finally:
        admin.dispose()


def test_a_transaction_on_a_dead_connection_fails_within_its_deadline(
        store: Store, relay: BlackHoleRelay, postgres_schema_url: str) -> None:
    def stuck_read() -> None:
        with db.read(store.engine) as conn:
            conn.execute(sa.text("SELECT 1"))
            relay.blackhole()
            conn.execute(sa.text("SELECT 2"))

    started = time.monotonic()
    err = within(10, stuck_read)
    assert isinstance(err, Unavailable), err
    assert str(err) == ("database did not answer within 1.5s (TRIMTAB_DB_TIMEOUT_SECONDS): its connection "
                        "was closed; retry")
    assert 1.4 < time.monotonic() - started < 4
    # The next call gets a new connection (the dead one was dropped from the pool).
    assert within(10, store.ping) is None
    # PostgreSQL ends the dead client's session, left idle in its transaction, holding its locks.
    deadline = time.monotonic() + 10
    while "idle in transaction" in _sessions(postgres_schema_url) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "idle in transaction" not in _sessions(postgres_schema_url)


def test_an_idle_pooled_connection_that_died_is_replaced_at_check_out(store: Store, relay: BlackHoleRelay) -> None:
    store.ping()  # one connection now waits in the pool
    relay.blackhole()
    started = time.monotonic()
    # The check-out ping meets the black hole, gives up within its deadline, and a new connection serves.
    assert within(10, store.ping) is None
    assert time.monotonic() - started < 4
    assert within(10, store.ping) is None


def test_no_deadline_when_off(relay: BlackHoleRelay) -> None:
    """timeout_s=0 keeps no watchdog (the test's own relay close ends the wait)."""
    s = open_store(relay.url, timeout_s=0)
    try:
        with db.read(s.engine) as conn:
            assert conn.get_execution_options().get("trimtab_timeout_s") == 0
    finally:
        s.close()
