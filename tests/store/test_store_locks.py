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
def two(migrated_postgres_url: str) -> Iterator[tuple[Store, Store]]:
    """Two stores on one database: what two server processes each open."""
    # Already migrated (a template copy): a migration per test was most of its setup, and no lock test
    # is about migrating; the first store still opens with upgrade, finding it at head.
    first = open_store(migrated_postgres_url)
    second = open_store(migrated_postgres_url, upgrade=False)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


# pg_locks is the whole cluster's: other tests' databases (another worker, another checkout) hold
# locks on the same keys.
THIS_DATABASE = "database = (SELECT oid FROM pg_database WHERE datname = current_database())"


def _held(store: Store, key: int) -> int:
    """Advisory locks granted on ``(PROJECT_NAMESPACE, key)`` (two-int form: objsubid 2)."""
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(
            f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND {THIS_DATABASE} AND granted "
            "AND objsubid = 2 "
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
                f"SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND {THIS_DATABASE} "
                "AND objsubid = 2 AND objid = 9"))
            conn.commit()
        time.sleep(0.2)
        assert _held(second, 9) == 0  # released by the server: another may take it
    # Review: only a WARNING that "closing its connection releases it", when the lock had been gone, and
    # another server free to take it, for part of the block.
    [record] = [r for r in caplog.records if r.name == "server.store.locks"]
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("project 9: its lock was lost during the block (its database "
                                          "connection ended: ")
    assert record.getMessage().endswith("another server may have worked on it at the same time")
    with advisory_lock(second.engine, PROJECT_NAMESPACE, 9, what="project 9", wait_s=0):
        pass


def _end_lock_session(store: Store, key: int) -> None:
    """The database ends the session holding ``(PROJECT_NAMESPACE, key)`` (pg_terminate_backend, as an
    idle_session_timeout or a failover would), and the lock is free for another server."""
    with store.engine.connect() as conn:
        ended = conn.execute(sa.text(
            f"SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND {THIS_DATABASE} "
            "AND objsubid = 2 "
            "AND classid = CAST(CAST(:ns AS integer) AS oid) AND objid = CAST(CAST(:key AS integer) AS oid)"),
            {"ns": PROJECT_NAMESPACE, "key": key}).scalars().all()
        conn.commit()
    assert ended == [True]
    deadline = time.monotonic() + 10
    while _held(store, key) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _held(store, key) == 0


def test_a_held_lock_verifies_while_held_and_refuses_once_its_session_ended(
        two: tuple[Store, Store], caplog: pytest.LogCaptureFixture) -> None:
    first, second = two
    with advisory_lock(first.engine, PROJECT_NAMESPACE, 13, what="project 13") as held:
        held.verify("writing to the job")  # held: nothing raised
        _end_lock_session(second, 13)
        # Another server takes it meanwhile, and holds it while this block would write.
        lost = (r"^project 13: its lock was lost during the block \(its database connection ended: .*\); another "
                r"server may be working on it: stopped before writing to the job, which was not done; retry$")
        with (advisory_lock(second.engine, PROJECT_NAMESPACE, 13, what="project 13", wait_s=0),
              pytest.raises(Unavailable, match=lost)):
            held.verify("writing to the job")


def test_project_lock_is_verified_only_by_the_thread_holding_it(two: tuple[Store, Store]) -> None:
    from server.apply_lock import verify_project_lock

    first, second = two
    verify_project_lock(14, "writing to the job")  # not held anywhere: nothing to verify
    with project_lock(14, first):
        verify_project_lock(14, "writing to the job")
        _end_lock_session(second, 14)
        with pytest.raises(Unavailable, match="project 14: its lock was lost during the block"):
            verify_project_lock(14, "writing to the job")
        # Another thread of this process does not hold it (it would wait for the in-process lock first).
        seen: list[BaseException] = []

        def verify_elsewhere() -> None:
            try:
                verify_project_lock(14, "writing to the job")
            except BaseException as err:  # handed to the test's thread
                seen.append(err)

        # Daemon: were verify to wait for the in-process lock, this thread would block until the block ends.
        other = threading.Thread(target=verify_elsewhere, daemon=True)
        other.start()
        other.join(10)
        assert not other.is_alive(), "verify_project_lock waited for the lock another thread holds"
        assert seen == []


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
    with (advisory_lock(sqlite_store.engine, PROJECT_NAMESPACE, 1, what="project 1", wait_s=0) as held,
          project_lock(1, sqlite_store)):
        sqlite_store.ping()
        held.verify("writing to the job")  # nothing held across processes: nothing to lose


def test_keys_fold_into_int4() -> None:
    assert int4(5) == 5 and int4(2**31) == -(2**31) and int4(2**32 + 5) == 5
    assert -(2**31) <= int4(PROJECT_NAMESPACE) < 2**31


def test_an_import_lock_held_by_another_server_says_an_import_holds_it(two: tuple[Store, Store],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait's error names what the other server does: an import, not an apply or a collection."""
    from server.domain import Workspace
    from server.services import import_lock

    monkeypatch.setattr(import_lock, "IMPORT_LOCK_WAIT_S", 0.0)
    first, second = two
    ws = Workspace(name="sb", host="https://x.cloud.databricks.com", cloud="aws")
    locked = (r"the import of job 42 of workspace sb is locked by another Trimtab server on this database "
              r"\(its import of the same job in progress there\)")
    with (import_lock.job_import_lock(first, ws, 42), pytest.raises(Unavailable, match=locked),
          import_lock.job_import_lock(second, ws, 42)):
        pytest.fail("entered an import lock another server holds")
