"""One project whose lock another server or database session holds must not stop its workspace's
collection (review F4): the poll waited the project lock's 30 s, then the `Unavailable` it raised
ended the whole workspace's poll ("workspace sbx2: poll stopped: project 1 is locked ..."), so every
other job of the workspace stayed uncollected while ``workspace list`` said ``ok``, poll after poll.

Now the locked project's job is skipped for this poll after a short wait (`COLLECT_LOCK_WAIT_S`), the
other jobs are collected, and its runs are collected at the first poll after the lock is released
(its cursor never moved). Once it stays locked for `NOTE_AFTER_POLLS` polls the workspace's
``last_error`` names the project and the lock (``trimtab workspace show``), its status staying ``ok``.

On PostgreSQL, with the lock held by another session (what another server, or a stuck ``psql``,
holds); on SQLite there is no lock across processes (one server per database file), and the only
holder can be a thread of this same server (an apply): waited for, nothing skipped. Real store,
the emulator over HTTP, the real gateway on a fake clock.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from sandbox.workspace import RunningWorkspace
from server.apply import project_lock
from server.collect import Collector
from server.collect.locked_projects import COLLECT_LOCK_WAIT_S, NOTE_AFTER_POLLS
from server.services import workspaces
from server.store import Store
from server.store.locks import PROJECT_NAMESPACE
from tests.collect.conftest import imported_jobs_run_once

POLL_S = 60.0




class _OtherSession:
    """Another PostgreSQL session on the store's database holding a project's advisory lock, as
    ``select pg_advisory_lock(1414819946, <project id>)`` in psql (or another server mid-apply) does."""

    def __init__(self, store: Store) -> None:
        self._engine = sa.create_engine(store.engine.url, isolation_level="AUTOCOMMIT")
        self._conn: Any = None

    def lock(self, project_id: int) -> None:
        self._conn = self._engine.connect()
        self._conn.execute(sa.text("SELECT pg_advisory_lock(CAST(:ns AS integer), CAST(:key AS integer))"),
                           {"ns": PROJECT_NAMESPACE, "key": project_id})

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._engine.dispose()


def _jobs_of(store: Store, runs: list[Any]) -> list[int]:
    return sorted({store.projects.get(r.project_id).job_id for r in runs})


def test_a_project_locked_by_another_session_is_skipped_and_the_other_jobs_are_collected(
        pg_store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    store = pg_store
    clock, secrets, admin, ids = imported_jobs_run_once(store, emulator, monkeypatch, 3)
    monkeypatch.setattr(store, "clock", clock)  # the lock's wait runs on the fake clock
    locked_job, others = ids[0], ids[1:]  # first in id order: before, it stopped every job after it
    (locked,) = [p for p in store.projects.list("sbx") if p.job_id == locked_job]
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=clock,
                          poll_interval_s=POLL_S)
    holder = _OtherSession(store)
    holder.lock(int(locked.id or 0))
    caplog.set_level(logging.INFO, logger="server.collect.collector")
    try:
        before = clock.monotonic()
        assert _jobs_of(store, collector.poll_once()) == others
        # The short wait of a poll, not the 30 s an apply waits, once per locked project.
        assert COLLECT_LOCK_WAIT_S <= clock.monotonic() - before < COLLECT_LOCK_WAIT_S + 15
        ws = store.workspaces.get("sbx")
        assert (ws.status, ws.last_error) == ("ok", "")  # one locked poll is no news yet
        assert store.runs.list(int(locked.id or 0)) == []
        assert store.projects.get(int(locked.id or 0)).last_seen_run_id == locked.last_seen_run_id
        said = [r.getMessage() for r in caplog.records if f"project {locked.name}" in r.getMessage()]
        assert said and "locked by another Trimtab server or database session" in said[0]
        assert not any("poll stopped" in r.getMessage() for r in caplog.records)

        # Still locked poll after poll: the other jobs' new runs are collected each time, and after
        # NOTE_AFTER_POLLS polls the workspace's last_error names the project and its lock.
        for _ in range(NOTE_AFTER_POLLS - 1):
            admin.run_now(others[0])
            assert emulator.wait_idle(120)
            clock.advance(POLL_S)
            assert _jobs_of(store, collector.poll_once()) == [others[0]]
        ws = store.workspaces.get("sbx")
        assert ws.status == "ok"
        assert ws.last_error.startswith(f"project {locked.name} (job {locked_job}) not collected: locked by another "
                                        "Trimtab server or database session since "), ws.last_error
        assert f"({NOTE_AFTER_POLLS} polls)" in ws.last_error
        assert f"pg_advisory_lock({PROJECT_NAMESPACE}, {locked.id})" in ws.last_error
        assert any(r.levelno == logging.WARNING and f"project {locked.name}" in r.getMessage()
                   and "still locked" in r.getMessage() for r in caplog.records)
    finally:
        holder.release()

    # Released: its run, kept behind its cursor, is collected at the next poll, and the note goes.
    clock.advance(POLL_S)
    assert _jobs_of(store, collector.poll_once()) == [locked_job]
    assert len(store.runs.list(int(locked.id or 0))) == 1
    ws = store.workspaces.get("sbx")
    assert (ws.status, ws.last_error) == ("ok", "")


def test_a_project_locked_while_planning_its_unplanned_run_is_planned_at_a_later_poll(
        pg_store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """`_plan_unplanned` takes each project's lock too: a locked one cost the whole workspace there."""
    store = pg_store
    clock, secrets, _, ids = imported_jobs_run_once(store, emulator, monkeypatch, 2)
    monkeypatch.setattr(store, "clock", clock)
    planned: list[int] = []
    gateway_for = lambda ws: workspaces.gateway_for(store, secrets, ws)  # noqa: E731
    # Collected by a server that stopped before planning: nothing planned them.
    assert len(Collector(store, gateway_for, clock=clock, poll_interval_s=POLL_S).poll_once()) == 2
    collector = Collector(store, gateway_for, clock=clock, poll_interval_s=POLL_S,
                          on_run_collected=lambda run: planned.append(run.project_id))
    (locked,) = [p for p in store.projects.list("sbx") if p.job_id == ids[0]]
    (other,) = [p for p in store.projects.list("sbx") if p.job_id == ids[1]]
    holder = _OtherSession(store)
    holder.lock(int(locked.id or 0))
    try:
        assert collector.poll_once() == []
        assert planned == [other.id]
    finally:
        holder.release()
    clock.advance(POLL_S)
    collector.poll_once()
    assert planned == [other.id, locked.id]


def test_on_sqlite_a_project_lock_is_this_servers_own_and_is_waited_for(
        sqlite_store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite has no lock across processes (one server per database file: docs/operations.md): a
    project's lock is only this process's, held by another of its threads (an apply, a revert) for
    as long as that one's Databricks calls take. The poll waits for it and skips nothing."""
    store = sqlite_store
    clock, secrets, _, ids = imported_jobs_run_once(store, emulator, monkeypatch, 2)
    (busy,) = [p for p in store.projects.list("sbx") if p.job_id == ids[0]]
    collector = Collector(store, lambda ws: workspaces.gateway_for(store, secrets, ws), clock=clock,
                          poll_interval_s=POLL_S)
    taken, release = threading.Event(), threading.Event()

    def an_apply() -> None:
        with project_lock(int(busy.id or 0), store):
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=an_apply)
    holder.start()
    assert taken.wait(10)
    threading.Timer(0.5, release.set).start()  # the apply ends while the poll waits for it
    started = time.monotonic()
    try:
        assert _jobs_of(store, collector.poll_once()) == ids
    finally:
        release.set()
        holder.join(10)
    assert time.monotonic() - started >= 0.4
    ws = store.workspaces.get("sbx")
    assert (ws.status, ws.last_error) == ("ok", "")
