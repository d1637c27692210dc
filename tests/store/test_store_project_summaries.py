"""`trimtab project list` and gRPC ListProjects (`services.projects.summaries`) read four columns a
run instead of every run whole (a year of 300 nightly jobs took 10 s): the summaries are the ones
`summarize` makes from each project's whole history, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

from benchmarks.projects_page import fill
from server.domain import ClusterConfig, CostBreakdown, Project, ProjectSettings, Run, Workspace
from server.services import projects as svc
from server.store import Store
from tests.timeline.seed import seed


def _whole(store: Store) -> list[svc.ProjectSummary]:
    return [svc.summarize(store, p) for p in store.projects.list()]


def test_the_listing_is_what_each_projects_whole_history_says(any_store: Store) -> None:
    store = any_store
    store.workspaces.add(Workspace(name="ws", host="https://ws.example", cloud="aws", plan="premium",
                                   region="us-east-1"), token_encrypted="x")
    seed(store)  # SLA, failed runs, user-edited runs, a recommendation applied
    fill(store, 3, 20)  # SLA and none, failures
    store.projects.add(Project(workspace="ws", job_id=900, cluster_key="main"))  # no run yet
    # A pool-backed job: its node types are the ones its runs recorded.
    pooled = store.projects.add(Project(workspace="ws", job_id=901, cluster_key="main",
                                        settings=ProjectSettings(sla_seconds=100.0),
                                        current_spec={"instance_pool_id": "pool-1", "num_workers": 2}))
    for i, (runtime, outcome) in enumerate(((90.0, "succeeded"), (120.0, "succeeded"), (50.0, "failed"))):
        store.runs.add(Run(project_id=int(pooled.id or 0), databricks_run_id=10 + i, start_ms=1000 * i,
                           end_ms=1000 * i + 1, runtime_s=runtime, outcome=outcome,
                           config=ClusterConfig(node_type_id="m5.xlarge", num_workers=2,
                                                spec={"instance_pool_id": "pool-1", "num_workers": 2}),
                           cost=CostBreakdown(total=1.0)))
    # Two runs starting at once: the later id is the latest, as `history` orders them.
    twin = store.projects.add(Project(workspace="ws", job_id=902, cluster_key="main",
                                      settings=ProjectSettings(sla_seconds=60.0)))
    for i, runtime in enumerate((50.0, 70.0)):
        store.runs.add(Run(project_id=int(twin.id or 0), databricks_run_id=20 + i, start_ms=5, end_ms=6,
                           runtime_s=runtime, cost=CostBreakdown(total=2.0 + i)))

    listed = svc.summaries(store, store.projects.list())
    assert listed == _whole(store)
    assert {s.sla_met_fraction is None for s in listed} == {True, False}
    assert any(s.sla_met_fraction is not None and 0 < s.sla_met_fraction < 1 for s in listed)
    by_job = {s.project.job_id: s for s in listed}
    assert by_job[900].run_count == 0 and by_job[900].current_config is None
    assert by_job[901].current_config is not None and by_job[901].current_config.node_type_id == "m5.xlarge"
    assert by_job[902].latest_runtime_s == 70.0 and by_job[902].latest_cost == 3.0
    assert svc.list_projects(store) == listed
    assert svc.list_projects(store, "ws") == [s for s in listed if s.project.workspace == "ws"]

    # A run read again as failed changes the share as the whole read does.
    some = next(p for p in store.projects.list() if p.settings.sla_seconds is not None and p.job_id < 900)
    run = store.runs.history(int(some.id or 0))[-1]
    store.runs.update(dataclasses.replace(run, outcome="failed"))
    assert svc.summaries(store, store.projects.list()) == _whole(store)
