"""The projects list's rows (`views.project_rows`, which reads no project's whole history while its
savings' inputs are unchanged) are the rows made from every run of every project, and its savings are
`trimtab savings`' (`get_savings`), on SQLite and PostgreSQL, as runs, costs, plans and settings change."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.projects_page import fill
from server.dashboard import views
from server.domain import (
    ClusterConfig,
    CostBreakdown,
    Project,
    ProjectSettings,
    Recommendation,
    Run,
    Workspace,
)
from server.services.savings import get_savings
from server.store import Store
from server.timeline import CODE_CHANGE, INPUT_SHIFT
from tests.timeline.seed import seed


def _full_read(store: Store) -> list[views.ProjectRow]:
    """The rows as the page made them before: every run of every project read and made into a `Run`."""
    return [views._row(store, p, store.runs.history(int(p.id or 0))) for p in store.projects.list()]


def _same(store: Store) -> list[views.ProjectRow]:
    rows = views.project_rows(store)
    assert rows == _full_read(store)
    # The savings are the CLI's, to the last digit.
    cli = {s.project_id: s for s in get_savings(store).projects}
    assert {int(r.project.id or 0): r.savings for r in rows if r.savings is not None} == cli
    return rows


@pytest.fixture
def store(any_store: Store) -> Store:
    any_store.workspaces.add(Workspace(name="ws", host="https://ws.example", cloud="aws", plan="premium",
                                       region="us-east-1"), token_encrypted="x")
    seed(any_store)  # the story: SLA, failed runs, user-edited runs, a recommendation applied
    fill(any_store, 4, 30)  # SLA and none, a schedule, runs priced under another plan, failures
    any_store.projects.add(Project(workspace="ws", job_id=900, cluster_key="main"))  # no run yet
    gone = any_store.projects.add(Project(workspace="gone", job_id=901, cluster_key="main",  # no workspace
                                          settings=ProjectSettings(sla_seconds=60.0)))
    any_store.runs.add(Run(project_id=int(gone.id or 0), databricks_run_id=1, start_ms=1, end_ms=2, runtime_s=90.0,
                           cost=CostBreakdown(total=1.0, dbus=2.0, dbu_cost=0.5, compute_cost=0.5)))
    return any_store


def test_the_rows_are_the_full_reads_and_the_savings_the_clis_as_the_store_changes(store: Store) -> None:
    rows = _same(store)
    assert sum(1 for r in rows if r.savings is not None) == 5
    assert {r.sla_met.every is None for r in rows} == {True, False}
    assert any(r.latest is not None and r.latest.outcome == "failed" for r in rows) or \
        any(r.sla_met.every is not None and r.sla_met.every < 1 for r in rows)
    assert _same(store) == rows  # reused: nothing changed

    # A change of plan re-prices every run's DBUs.
    store.workspaces.set_plan_region("ws", cloud="aws", plan="enterprise")
    assert _same(store) != rows

    projects = [p for p in store.projects.list() if p.job_id < 900]
    pid = int(projects[1].id or 0)
    history = store.runs.history(pid)
    # A bill arrives for a run (its cost replaced in place: no run added).
    run = history[-3]
    assert run.cost is not None and run.id is not None
    store.runs.set_cost(run.id, dataclasses.replace(run.cost, source="billed", total=run.cost.total * 0.9))
    _same(store)
    # A run read again as failed (a repair), and another's recommendation tag dropped.
    store.runs.update(dataclasses.replace(history[-2], outcome="failed"))
    store.runs.update(dataclasses.replace(history[-5], recommendation_id=None))
    _same(store)
    # A new run.
    last = history[-1]
    store.runs.add(dataclasses.replace(last, id=None, databricks_run_id=last.databricks_run_id + 1,
                                       start_ms=last.start_ms + 86_400_000, end_ms=last.end_ms + 86_400_000,
                                       runtime_s=last.runtime_s * 1.5))
    _same(store)

    # The SLA dropped on one project, set on another; a revert to the cluster as found on a third.
    store.projects.update_settings(pid, ProjectSettings(sla_seconds=None))
    other = int(projects[2].id or 0)
    store.projects.update_settings(other, ProjectSettings(sla_seconds=1200.0))
    _same(store)
    third = store.projects.get(int(projects[3].id or 0))
    store.projects.update(dataclasses.replace(third, pending_apply={
        "recommendation_id": None, "reverted": True, "applied_after_run_id": 10**9, "confirmed": False}))
    _same(store)

    # The workload changed: an input shift, then a code change (whose savings read Spark stages).
    runs = store.runs.history(other)
    for at, kind in ((runs[20], INPUT_SHIFT), (runs[25], CODE_CHANGE)):
        store.recommendations.add(Recommendation(project_id=other, config=ClusterConfig(node_type_id="m5.xlarge"),
                                                 change_run_id=at.id, change_kind=kind))
        _same(store)


def test_nothing_changed_reads_no_history(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    first = views.project_rows(store)

    def history(project_id: int) -> list[Run]:
        raise AssertionError(f"project {project_id}'s whole history read again though nothing changed")

    with monkeypatch.context() as m:
        m.setattr(store.runs, "history", history)
        assert views.project_rows(store) == first
    # One new run: that project's figures are read again (`savings_kept`), still no whole history.
    p = next(p for p in store.projects.list() if p.job_id == 1)
    last = store.runs.history(int(p.id or 0))[-1]
    store.runs.add(dataclasses.replace(last, id=None, databricks_run_id=last.databricks_run_id + 1,
                                       start_ms=last.start_ms + 1))
    read: list[int] = []
    real = store.runs.history
    with monkeypatch.context() as m:
        m.setattr(store.runs, "history", lambda project_id: read.append(project_id) or real(project_id))
        rows = views.project_rows(store)
    assert read == []
    assert rows == _full_read(store)


def test_the_servers_dashboard_computes_the_page_ahead(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """`Dashboard.warm` (the server starts it with `--http`): the first visit after a start reads no
    project's history, as a later one does; and `stop` ends the warm-up between two projects."""
    from server.dashboard import serve_dashboard

    dashboard = serve_dashboard(store, "127.0.0.1:0")
    try:
        dashboard.warm()
        assert dashboard._warming is not None
        dashboard._warming.join(timeout=60)
        assert not dashboard._warming.is_alive()

        def history(project_id: int) -> list[Run]:
            raise AssertionError(f"project {project_id}'s whole history read on the first visit")

        with monkeypatch.context() as m:
            m.setattr(store.runs, "history", history)
            rows = views.project_rows(store)
        assert rows == _full_read(store)
    finally:
        dashboard.stop()
    stopped = dashboard._stop_warming
    assert stopped.is_set() and views.project_rows(store, stop=stopped) == []
