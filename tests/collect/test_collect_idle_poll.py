"""A poll's cost grows with what changed, not with the jobs imported (scale review,
import_scale.py): every poll read every job in full (``jobs/get`` and its ``runs/list``, and the
store's repair and re-price queries for each project), 3,000 calls and 6,000 queries a poll for
1,500 jobs, with nothing new. Now a poll lists the workspace's jobs and recent runs once and reads
in full only the jobs with a new finished run (or due a periodic full read), while what the job's
settings tell (a schedule changed, a job deleted) is still seen at every poll. Real store (SQLite,
then PostgreSQL), the emulator over HTTP, the real gateway on a fake clock; the calls are counted
by a wrapper around the real gateway, the queries on the store's engine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from sandbox.workspace import RunningWorkspace
from server.collect import Collector
from server.collect.look_over import FULL_EVERY_S
from server.domain import Workspace
from server.services import workspaces
from server.store import Store
from tests.collect.conftest import CountedGateway, imported_jobs_run_once

JOBS = 6


def _queries(store: Store) -> list[str]:
    """The statements the store sends from now on (SQLite's BEGIN left out: PostgreSQL sends none)."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if not statement.startswith("BEGIN"):
            seen.append(" ".join(statement.split())[:80])

    sa.event.listen(store.engine, "before_cursor_execute", note)
    return seen


def test_an_idle_poll_lists_the_workspace_once_and_reads_only_the_jobs_that_changed(
        store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    clock, secrets, admin, ids = imported_jobs_run_once(store, emulator, monkeypatch, JOBS)
    calls: Counter[str] = Counter()
    gateway_for: Callable[[Workspace], Any] = \
        lambda ws: CountedGateway(workspaces.gateway_for(store, secrets, ws), calls, per_job=True)  # noqa: E731
    collector = Collector(store, gateway_for, clock=clock, poll_interval_s=60)
    queries = _queries(store)

    assert len(collector.poll_once()) == JOBS  # this process's first poll: every job read in full
    assert calls["get_job"] == JOBS
    collector.poll_once()  # each job collected a run: read in full once more (a failure's repair re-read)
    calls.clear()
    queries.clear()

    # Idle: two listings, no job read, no per-project query.
    assert collector.poll_once() == []
    assert calls == Counter({"list_workspace_runs": 1, "list_job_settings": 1}), calls
    # The workspaces, its projects, its token, the projects' newest runs (the plan check): none per project.
    assert len(queries) <= 4, queries

    # A new run of one job: that job alone is read in full, its run collected.
    admin.run_now(ids[2])
    assert emulator.wait_idle(120)
    calls.clear()
    (run,) = collector.poll_once()
    assert store.projects.get(run.project_id).job_id == ids[2]
    assert calls["get_job"] == calls[f"get_job {ids[2]}"] == 1 and calls["list_runs"] == 1, calls
    collector.poll_once()  # read in full once more after its run (a failure would be re-read for a repair)

    # What the settings tell is still seen at every poll, from the listing: a schedule set, a job deleted.
    schedule = {"quartz_cron_expression": "0 0 3 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"}
    admin.update_job(ids[4], {"schedule": schedule})
    admin.delete_job(ids[5])
    calls.clear()
    collector.poll_once()
    by_job = {p.job_id: p for p in store.projects.list("sbx")}
    assert by_job[ids[4]].schedule is not None and by_job[ids[4]].schedule.quartz_cron_expression == "0 0 3 * * ?"
    assert by_job[ids[5]].orphaned and by_job[ids[5]].state["orphaned_reason"] == "the job was deleted"
    assert calls["get_job"] == calls[f"get_job {ids[5]}"] == 1, calls  # the job missing from the list only

    # And every job is read in full again within the periodic full read's bound.
    clock.advance(FULL_EVERY_S * 1.25)
    calls.clear()
    collector.poll_once()
    assert calls["get_job"] == JOBS - 1, calls  # all but the orphaned one
