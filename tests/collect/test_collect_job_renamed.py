"""A job renamed in Databricks after its import: the project follows the name as it follows the
schedule, on a full read of the job and on a poll that only lists it. Before, ``job_name`` was
written at import and re-attach only: `project show`, `workspace show` and the dashboard kept the
old name for good. Real store (SQLite, then PostgreSQL), the emulator over HTTP."""

from __future__ import annotations

from collections import Counter

import pytest

from sandbox.workspace import RunningWorkspace
from server.collect import Collector
from server.services import workspaces
from server.store import Store
from tests.collect.conftest import CountedGateway, imported_jobs_run_once


def test_a_renamed_job_is_followed_on_a_full_read_and_from_the_listing(
        store: Store, emulator: RunningWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    clock, secrets, admin, (job_id, other) = imported_jobs_run_once(store, emulator, monkeypatch, 2)
    calls: Counter[str] = Counter()
    collector = Collector(store, lambda ws: CountedGateway(workspaces.gateway_for(store, secrets, ws), calls,
                                                           per_job=True), clock=clock, poll_interval_s=60)

    def names() -> dict[int, str]:
        return {p.job_id: p.job_name for p in store.projects.list("sbx")}

    assert names() == {job_id: "job-0", other: "job-1"}
    # Renamed before this process's first poll, which reads every job in full (jobs/get).
    admin.update_job(job_id, {"name": "nightly-orders-v2"})
    assert len(collector.poll_once()) == 2
    assert names() == {job_id: "nightly-orders-v2", other: "job-1"}
    collector.poll_once()  # each job collected a run: read in full once more

    # Renamed again while idle: the poll only lists the jobs (no jobs/get) and still follows it.
    admin.update_job(job_id, {"name": "orders (nightly)"})
    calls.clear()
    assert collector.poll_once() == []
    assert calls["get_job"] == 0, calls
    assert names() == {job_id: "orders (nightly)", other: "job-1"}
    (project,) = [p for p in store.projects.list("sbx") if p.job_id == job_id]
    assert project.name == f"sbx/{job_id}/{project.cluster_key}"  # the project's own name stays
