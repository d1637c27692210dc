"""A run stored but not planned after is planned by the next poll (review of 515c233, kill_mid_collect.py).

The collector stores a run, then plans after it; a server killed between the two (or stopped past its
grace mid-poll) left the run stored and the cursor past it, and no poll planned after it again: the
project waited for its next run. A stopping server now also leaves its poll between jobs. Real
store (SQLite, then PostgreSQL), real emulator through the real databricks-sdk, real planner."""

from __future__ import annotations

import threading

from cryptography.fernet import Fernet

from sandbox.workspace import RunningWorkspace
from server.clock import FakeClock, SystemClock
from server.collect import Collector
from server.costing.catalog import load_catalog
from server.databricks import DatabricksGateway
from server.domain import Recommendation, Run, Workspace
from server.plan.planner import Planner
from server.services import workspaces
from server.services.secrets import SecretBox
from server.store import Store, open_store
from tests.collect.conftest import run_and_wait

START_MS = 1_790_000_000_000


def _gateway_for(store: Store, secrets: SecretBox):  # type: ignore[no-untyped-def]
    def gateway_for(workspace: Workspace) -> DatabricksGateway:
        return workspaces.gateway_for(store, secrets, workspace)

    return gateway_for


def _latest(store: Store, project_id: int) -> Recommendation:
    latest = store.recommendations.latest(project_id)
    assert latest is not None
    return latest


def test_a_run_stored_but_not_planned_is_planned_by_the_next_poll(migrated_db_url: str, emulator: RunningWorkspace) -> None:
    clock = FakeClock(START_MS)  # the store's: when runs and recommendations were made
    store = open_store(migrated_db_url, clock=clock)
    try:
        secrets = SecretBox(Fernet.generate_key())
        job_id = emulator.seed_jobs()[0]
        workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
        (imported,) = workspaces.import_jobs(store, secrets, "sbx", [job_id]).projects
        pid = int(imported.project.id or 0)
        gateway_for = _gateway_for(store, secrets)
        planner = Planner(store, load_catalog(), gateway_for, clock=clock)

        # The first server collects and plans after the first run.
        run_and_wait(emulator, job_id)
        (first,) = Collector(store, gateway_for, clock=SystemClock(), on_run_collected=planner).poll_once()
        planned = _latest(store, pid)
        clock.advance(60_000)
        # It stores the second run and ends before planning after it (no callback: killed there).
        run_and_wait(emulator, job_id)
        (second,) = Collector(store, gateway_for, clock=SystemClock()).poll_once()
        assert second.created_at_ms > planned.created_at_ms and _latest(store, pid).id == planned.id
        clock.advance(60_000)

        # The restarted server's first poll collects nothing new and plans after the second run.
        calls: list[Run] = []

        def planning(run: Run) -> None:
            calls.append(run)
            planner(run)

        restarted = Collector(store, gateway_for, clock=SystemClock(), on_run_collected=planning)
        assert restarted.poll_once() == []
        assert [r.id for r in calls] == [second.id]
        after = _latest(store, pid)
        assert after.id != planned.id and after.created_at_ms > second.created_at_ms
        # Once: neither its next poll nor another restart plans again (the plan follows the run).
        clock.advance(60_000)
        restarted.poll_once()
        Collector(store, gateway_for, clock=SystemClock(), on_run_collected=planning).poll_once()
        assert len(calls) == 1 and _latest(store, pid).id == after.id
        assert first.id != second.id
    finally:
        store.close()


def test_a_stopping_server_leaves_its_poll_between_jobs(store: Store, emulator: RunningWorkspace) -> None:
    secrets = SecretBox(Fernet.generate_key())
    job_ids = emulator.seed_jobs()[:2]
    workspaces.add_workspace(store, secrets, "sbx", emulator.host, emulator.token, "aws")
    projects = [i.project for i in workspaces.import_jobs(store, secrets, "sbx", job_ids).projects]
    assert len({p.job_id for p in projects}) == 2  # two jobs (a job may hold more than one project)
    for job_id in job_ids:
        run_and_wait(emulator, job_id)
    gateway_for = _gateway_for(store, secrets)
    stop = threading.Event()
    seen: list[Run] = []

    def stop_after_first(run: Run) -> None:  # the server is asked to stop while the first job is planned
        seen.append(run)
        stop.set()
        collector.wake()

    collector = Collector(store, gateway_for, clock=SystemClock(), on_run_collected=stop_after_first)
    collector.run_forever(stop)  # returns once its poll ends
    (run,) = seen
    stopped_job = next(p.job_id for p in projects if p.id == run.project_id)
    others = [p for p in projects if p.job_id != stopped_job]
    for other in others:  # the other job is left as it was: no run stored, its cursor where it was
        assert store.runs.count(int(other.id or 0)) == 0
        assert store.projects.get(int(other.id or 0)).last_seen_run_id == other.last_seen_run_id
    # The next server collects the job the stopped poll left.
    later = Collector(store, gateway_for, clock=SystemClock()).poll_once()
    assert later and {r.project_id for r in later} == {p.id for p in others}
