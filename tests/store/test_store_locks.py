"""Cross-process locks (`server.store.locks`, `server.apply.project_lock`) on a real PostgreSQL:
a lock held on one connection blocks every other connection (another server) for a bounded wait,
is released when the block ends however it ends, and is never left on a pooled connection."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from server.apply import project_lock
from server.clock import FakeClock, SystemClock
from server.errors import Unavailable
from server.store import Store, open_store
from server.store.locks import PROJECT_NAMESPACE, advisory_lock, int4


@pytest.fixture
def two(postgres_schema_url: str) -> Iterator[tuple[Store, Store]]:
    """Two stores on one database: what two server processes each open."""
    first = open_store(postgres_schema_url)
    second = open_store(postgres_schema_url, upgrade=False)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def _held(store: Store, key: int) -> int:
    """Advisory locks granted on ``(PROJECT_NAMESPACE, key)`` (two-int form: objsubid 2)."""
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
            "AND classid = CAST(CAST(:ns AS integer) AS oid) AND objid = CAST(CAST(:key AS integer) AS oid)"),
            {"ns": PROJECT_NAMESPACE, "key": key}).scalar_one())


def test_a_lock_held_on_one_engine_times_out_on_another_on_the_injected_clock(two: tuple[Store, Store]) -> None:
    first, second = two
    clock = FakeClock()
    with advisory_lock(first.engine, PROJECT_NAMESPACE, 7, what="project 7"):
        assert _held(first, 7) == 1
        started, real = clock.monotonic(), time.monotonic()
        with (pytest.raises(Unavailable, match=r"project 7 is locked by another Trimtab server .* for 30s; retry"),
              advisory_lock(second.engine, PROJECT_NAMESPACE, 7, what="project 7", clock=clock, wait_s=30)):
            pytest.fail("entered a lock another connection holds")
        assert clock.monotonic() - started == pytest.approx(30)  # waited its full bound, on its clock
        assert time.monotonic() - real < 10
        # Another key is not blocked.
        with advisory_lock(second.engine, PROJECT_NAMESPACE, 8, what="project 8", clock=clock, wait_s=0):
            assert _held(first, 8) == 1
    assert _held(first, 7) == 0 and _held(first, 8) == 0
    with advisory_lock(second.engine, PROJECT_NAMESPACE, 7, what="project 7", wait_s=0):
        assert _held(first, 7) == 1


def test_a_waiter_gets_the_lock_as_soon_as_the_other_engine_releases_it(two: tuple[Store, Store]) -> None:
    first, second = two
    order: list[str] = []
    entered = threading.Event()

    def wait_for_it() -> None:
        with advisory_lock(second.engine, PROJECT_NAMESPACE, 3, what="project 3", clock=SystemClock(), wait_s=20):
            order.append("second")
            entered.set()

    with advisory_lock(first.engine, PROJECT_NAMESPACE, 3, what="project 3"):
        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        assert not entered.wait(1.0)
        order.append("first done")
    assert entered.wait(10)
    waiter.join(10)
    assert order == ["first done", "second"]


def test_the_lock_is_released_when_the_block_fails_and_the_connection_goes_back_clean(
        two: tuple[Store, Store]) -> None:
    first, second = two
    with pytest.raises(RuntimeError), advisory_lock(first.engine, PROJECT_NAMESPACE, 5, what="project 5"):
        raise RuntimeError("the apply failed")
    assert _held(second, 5) == 0
    # Every pooled connection of the first engine is free of it: another engine takes it at once.
    with advisory_lock(second.engine, PROJECT_NAMESPACE, 5, what="project 5", wait_s=0):
        pass


def test_a_lock_lost_with_its_connection_is_logged_not_raised(
        two: tuple[Store, Store], caplog: pytest.LogCaptureFixture) -> None:
    first, second = two
    with (caplog.at_level(logging.WARNING, logger="server.store.locks"),
          advisory_lock(first.engine, PROJECT_NAMESPACE, 9, what="project 9")):
        with second.engine.connect() as conn:  # the database ends the lock's session (a failover)
            conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND objsubid = 2 AND objid = 9"))
            conn.commit()
        time.sleep(0.2)
        assert _held(second, 9) == 0  # released by the server: another may take it
    assert "project 9: could not release its lock" in caplog.text
    with advisory_lock(second.engine, PROJECT_NAMESPACE, 9, what="project 9", wait_s=0):
        pass


def test_project_lock_is_reentrant_and_takes_the_database_lock_once(two: tuple[Store, Store]) -> None:
    first, second = two
    with project_lock(11, first):
        with project_lock(11, first):
            assert _held(second, 11) == 1
        assert _held(second, 11) == 1  # the inner exit does not release the outer's lock
    assert _held(second, 11) == 0
    # An outer holder without the store (in-process only) does not stop an inner one naming it
    # from locking out other servers.
    with project_lock(12):
        assert _held(second, 12) == 0
        with project_lock(12, first):
            assert _held(second, 12) == 1
        assert _held(second, 12) == 0


def test_on_sqlite_only_the_in_process_lock_is_taken(sqlite_store: Store) -> None:
    with (advisory_lock(sqlite_store.engine, PROJECT_NAMESPACE, 1, what="project 1", wait_s=0),
          project_lock(1, sqlite_store)):
        sqlite_store.ping()


def test_keys_fold_into_int4() -> None:
    assert int4(5) == 5 and int4(2**31) == -(2**31) and int4(2**32 + 5) == 5
    assert -(2**31) <= int4(PROJECT_NAMESPACE) < 2**31
