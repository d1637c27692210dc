"""`RetentionRepository` on both engines: old runs lose their per-executor detail and keep their
summary and stages; each project's newest runs keep everything; a removed project goes whole."""

from __future__ import annotations

import dataclasses

import pytest

from server.clock import FakeClock
from server.domain import AgentInfo, IngestBatch, IngestResult, Project, Run
from server.errors import FailedPrecondition
from server.store import Store
from server.store.repos.retention import RESEND_HORIZON_MS
from tests.store.retention_history import BASE_MS, DAY_MS, DETAIL_PER_RUN, detail_events, store_daily_runs


def _project(store: Store, job_id: int = 7, **flags: bool) -> Project:
    return store.projects.add(Project(workspace="ws", job_id=job_id, cluster_key="main", **flags))


def _detail(store: Store, app: str) -> dict[str, int]:
    stages = store.applications.stages(app)
    return {"stage_executor_peaks": sum(len(s.executor_peaks) for s in stages),
            "executors": len(store.applications.executors(app)), "executor_gauges": len(store.applications.gauges(app)),
            "driver_peaks": len(store.applications.driver_peaks(app)), "jobs": len(store.applications.jobs(app)),
            "sql_executions": len(store.applications.sql_executions(app))}


def test_prune_deletes_old_runs_executor_detail_and_keeps_summaries_stages_and_the_newest(
        store: Store, clock: FakeClock) -> None:
    project = _project(store)
    other = _project(store, job_id=8)
    runs = store_daily_runs(store, clock, project, 12)  # days 0..11
    store_daily_runs(store, clock, other, 3, first_day=12, prefix="o-")  # days 12..14: all recent
    before = {r.id: r for r in store.runs.history(int(project.id or 0))}
    cutoff = BASE_MS + 10 * DAY_MS  # runs of days 0..9 are older

    # Dry: counted, nothing deleted. Newest 4 kept: days 0..7 (8 runs) are pruned.
    dry = store.retention.prune_detail(cutoff, keep_newest=4, dry_run=True)
    assert (dry.runs, dry.applications) == (8, 8)
    assert {t: dry.rows[t] for t in DETAIL_PER_RUN} == {t: 8 * n for t, n in DETAIL_PER_RUN.items()}
    assert _detail(store, "app-0") == DETAIL_PER_RUN

    pruned = store.retention.prune_detail(cutoff, keep_newest=4)
    assert pruned == dry
    for n in range(12):
        assert _detail(store, f"app-{n}") == ({t: 0 for t in DETAIL_PER_RUN} if n < 8 else DETAIL_PER_RUN), n
        # The stages stay, metrics and all (the planner compares every run's stage structure).
        assert [(s.name, s.metrics["input_bytes"]) for s in store.applications.stages(f"app-{n}")] == \
            [("stage0", 10**9), ("stage1", 10**9)]
    assert store.retention.detail_pruned_at(["app-0"]) == clock.now_ms()
    assert store.retention.detail_pruned_at(["app-8", "app-9"]) is None
    # Every run's summary, cost and application as they were.
    assert {r.id: r for r in store.runs.history(int(project.id or 0))} == before
    assert [r.cost.total for r in runs if r.cost] == [3.0] * 12
    assert all(_detail(store, f"o-app-{n}") == DETAIL_PER_RUN for n in range(12, 15))

    # A second pass finds nothing left; a resent old event is still a duplicate, never stored again.
    assert store.retention.prune_detail(cutoff, keep_newest=4).applications == 0
    resent = IngestBatch(batch_id="again", agent=AgentInfo(agent_id="late"), events=detail_events("app-0", 0))
    assert store.ingest.write([resent]) == [IngestResult("again", 0, len(resent.events))]
    assert _detail(store, "app-0") == {t: 0 for t in DETAIL_PER_RUN}


def test_prune_never_touches_a_projects_newest_runs_nor_an_application_a_kept_run_shares(
        store: Store, clock: FakeClock) -> None:
    project = _project(store)
    store_daily_runs(store, clock, project, 6)
    # Every run is old, but the newest 50 keep their detail by default.
    clock.advance(400 * 86_400)
    assert store.retention.prune_detail(clock.now_ms()).applications == 0
    # An application tied to an old run and a kept one (a run re-collected under another id) stays.
    store.runs.add(Run(project_id=int(project.id or 0), databricks_run_id=99, start_ms=clock.now_ms(),
                       application_ids=("app-0",)))
    report = store.retention.prune_detail(clock.now_ms(), keep_newest=1)
    assert report.applications == 5 and _detail(store, "app-0") == DETAIL_PER_RUN


def test_agents_and_batch_records_go_only_past_the_resend_horizon(store: Store, clock: FakeClock) -> None:
    project = _project(store)
    store_daily_runs(store, clock, project, 3)  # agents of days 0, 1, 2
    clock.advance(3 * 86_400)  # day 5: agents last seen 3 to 5 days ago
    report = store.retention.prune_detail(clock.now_ms() - DAY_MS, keep_newest=0)
    # Inside the horizon: a live agent's resent batch must still count once.
    assert (report.rows["agents"], report.rows["ingest_batches"]) == (0, 0)
    assert len(store.ingest.agents()) == 3
    clock.advance(RESEND_HORIZON_MS / 1000 - 4 * 86_400)  # day 8 minus a bit: day 0's agent is past it
    report = store.retention.prune_detail(clock.now_ms() - DAY_MS, keep_newest=0)
    assert (report.rows["agents"], report.rows["ingest_batches"]) == (1, 1)
    assert sorted(a.agent_id for a in store.ingest.agents()) == ["agent-app-1", "agent-app-2"]


def test_purge_removes_a_detached_project_whole_and_refuses_an_attached_one(store: Store, clock: FakeClock) -> None:
    project = _project(store)
    kept = _project(store, job_id=8)
    store_daily_runs(store, clock, project, 3)
    store_daily_runs(store, clock, kept, 2, first_day=3, prefix="k-")
    with pytest.raises(FailedPrecondition, match="detach"):
        store.retention.purge_project(int(project.id or 0), "ws/7/main")
    assert store.runs.count(int(project.id or 0)) == 3

    store.projects.update(dataclasses.replace(store.projects.get(int(project.id or 0)), detached=True))
    report = store.retention.purge_project(int(project.id or 0), "ws/7/main")
    assert report.rows["runs"] == 3 and report.rows["run_costs"] == 3 and report.rows["applications"] == 3
    assert report.rows["stages"] == 6 and report.rows["events"] == 3 * len(detail_events("x", 0))
    assert [p.job_id for p in store.projects.list()] == [8]
    for n in range(3):
        assert store.applications.event_count(f"app-{n}") == 0 and _detail(store, f"app-{n}") == \
            {t: 0 for t in DETAIL_PER_RUN} and store.applications.stages(f"app-{n}") == []
    assert store.runs.count(int(kept.id or 0)) == 2 and _detail(store, "k-app-3") == DETAIL_PER_RUN
