"""Concurrent savings calls while the database stalls (PostgreSQL, runs locked by another session): each
caller fails within about one database deadline, sharing the failure of the call in flight, instead of
waiting out the deadline of every caller before it in turn (the k-th failed after k deadlines)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from benchmarks.savings import fill
from server.domain import Workspace
from server.errors import Unavailable
from server.services import savings_kept
from server.services.savings import get_savings
from server.store import Store, open_store

DEADLINE_S = 1.0  # the store's database deadline (TRIMTAB_DB_TIMEOUT_SECONDS)


@pytest.fixture
def stalled(migrated_postgres_url: str) -> Iterator[Store]:
    """A filled store with a 1 s database deadline, its runs table locked by another session while inside."""
    filler = open_store(migrated_postgres_url)
    try:
        filler.workspaces.add(Workspace(name="ws", host="https://ws.example", cloud="aws", plan="premium",
                                        region="us-east-1"), token_encrypted="x")
        fill(filler, 6, 10)
    finally:
        filler.close()
    store = open_store(migrated_postgres_url, timeout_s=DEADLINE_S)
    locker = sa.create_engine(store.engine.url, poolclass=sa.pool.NullPool)
    try:
        with locker.connect() as conn, conn.begin():
            conn.execute(sa.text("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE"))
            yield store  # a VACUUM FULL, a migration, a failover under way
    finally:
        locker.dispose()
        store.close()


def test_callers_during_a_stall_fail_within_one_deadline(stalled: Store) -> None:
    name = stalled.projects.list()[0].name
    started = time.monotonic()
    ended: list[tuple[str, float, BaseException | None]] = []

    def call(ref: str) -> None:
        error: BaseException | None = None
        try:
            get_savings(stalled, ref)
        except Exception as exc:  # noqa: BLE001  (what each caller got is the assertion)
            error = exc
        ended.append((ref or "(all)", time.monotonic() - started, error))

    # Five fleet-wide calls and one for a single project, arriving while the first is in flight.
    callers = [threading.Thread(target=call, args=("" if i < 5 else name,)) for i in range(6)]
    for t in callers:
        t.start()
        time.sleep(0.05)
    for t in callers:
        t.join(timeout=30)
    assert len(ended) == 6
    assert all(isinstance(error, Unavailable) for _, _, error in ended), ended
    slowest = max(seconds for _, seconds, _ in ended)
    assert slowest < 2 * DEADLINE_S, sorted((ref, round(s, 1)) for ref, s, _ in ended)


def test_a_waiter_whose_stop_is_set_returns_without_waiting_out_the_deadline(stalled: Store) -> None:
    projects = stalled.projects.list()
    first = threading.Thread(target=lambda: pytest.raises(Unavailable, get_savings, stalled))
    first.start()
    time.sleep(0.1)  # the first call is in flight, waiting on the locked runs
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert savings_kept.kept_savings(stalled, projects, stop=stop) == []
    waited = time.monotonic() - started
    first.join(timeout=30)
    assert waited < DEADLINE_S / 2, f"waited {waited:.2f} s after its stop"
