"""A lock held elsewhere, as a caller that skips it sees it (`server.store.locks`, real PostgreSQL):
the timed-out wait raises `LockedElsewhere` naming the lock's keys, and `waiting_at_most` shortens
this thread's waits (the collector's poll: it comes back to what is locked at its next poll)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from server.clock import FakeClock
from server.errors import Unavailable
from server.store import Store, open_store
from server.store.locks import PROJECT_NAMESPACE, LockedElsewhere, advisory_lock, waiting_at_most


@pytest.fixture
def two(migrated_postgres_url: str) -> Iterator[tuple[Store, Store]]:
    # Already migrated (a template copy): a migration per test was most of its setup, and no lock test
    # is about migrating; the first store still opens with upgrade, finding it at head.
    first = open_store(migrated_postgres_url)
    second = open_store(migrated_postgres_url, upgrade=False)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def _wait_for(store: Store, clock: FakeClock, key: int, wait_s: float) -> tuple[LockedElsewhere, float]:
    started = clock.monotonic()
    with pytest.raises(LockedElsewhere) as raised, \
            advisory_lock(store.engine, PROJECT_NAMESPACE, key, what=f"project {key}", clock=clock, wait_s=wait_s):
        pytest.fail("entered a lock another session holds")
    return raised.value, clock.monotonic() - started


def test_a_wait_that_times_out_names_the_lock_and_a_thread_may_wait_less(two: tuple[Store, Store]) -> None:
    first, second = two
    clock = FakeClock()
    with advisory_lock(first.engine, PROJECT_NAMESPACE, 5, what="project 5"):
        err, waited = _wait_for(second, clock, 5, 30)
        assert isinstance(err, Unavailable)  # callers that do not skip it still see UNAVAILABLE
        assert (err.namespace, err.key, err.what) == (PROJECT_NAMESPACE, 5, "project 5")
        assert waited == pytest.approx(30)

        with waiting_at_most(2):
            _, waited = _wait_for(second, clock, 5, 30)
            assert waited == pytest.approx(2)
            with waiting_at_most(10):  # nested: the shortest holds
                assert _wait_for(second, clock, 5, 30)[1] == pytest.approx(2)
            assert _wait_for(second, clock, 5, 1)[1] == pytest.approx(1)  # a shorter wait asked is kept

        # Another thread is not shortened, nor this one after the block.
        other: list[float] = []
        with waiting_at_most(2):
            thread = threading.Thread(target=lambda: other.append(_wait_for(second, clock, 5, 30)[1]))
            thread.start()
            thread.join(60)
        assert other == [pytest.approx(30)]
        assert _wait_for(second, clock, 5, 30)[1] == pytest.approx(30)
