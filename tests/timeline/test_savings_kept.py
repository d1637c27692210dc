"""`get_savings` (one streamed read, each project's savings kept while its inputs are unchanged) gives
exactly the report `savings_from_history` makes from every run of every project, on SQLite and
PostgreSQL, as runs, costs, settings, applies, change points, Spark stages and the plan change; and
an unchanged project is not computed again."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from benchmarks.savings import fill
from server.domain import (
    ClusterConfig,
    CostBreakdown,
    Project,
    ProjectSettings,
    Recommendation,
    Run,
    Workspace,
)
from server.services import savings_kept
from server.services.savings import SavingsReport, get_savings, savings_from_history
from server.store import Store, open_store
from server.store.tables import StageRow
from server.timeline import CODE_CHANGE, INPUT_SHIFT
from tests.timeline.seed import seed

DAY_MS = 86_400_000


def _same(store: Store, project_ref: str = "") -> SavingsReport:
    report = get_savings(store, project_ref)
    assert report == savings_from_history(store, project_ref)
    return report


def _by_project(report: SavingsReport) -> dict[int, object]:
    return {**{p.project_id: p for p in report.projects}, **{w.project_id: w for w in report.waiting}}


def _next_run(store: Store, pid: int, **changes: object) -> Run:
    last = store.runs.history(pid)[-1]
    fields = dict(id=None, databricks_run_id=last.databricks_run_id + 1, start_ms=last.start_ms + DAY_MS,
                  end_ms=last.end_ms + DAY_MS)
    fields.update(changes)
    return store.runs.add(dataclasses.replace(last, **fields))


@pytest.fixture
def store(any_store: Store) -> Store:
    any_store.workspaces.add(Workspace(name="ws", host="https://ws.example", cloud="aws", plan="premium",
                                       region="us-east-1"), token_encrypted="x")
    seed(any_store)  # the story: SLA, failed runs, user-edited runs, a recommendation applied
    # Varied inputs, failures, billed and re-priced runs, runtime regressions and code changes (with
    # their Spark stages), user edits, recorded applies, and a waiting project (j = 24).
    fill(any_store, 26, 30)
    any_store.projects.add(Project(workspace="ws", job_id=900, cluster_key="main"))  # no run yet
    gone = any_store.projects.add(Project(workspace="gone", job_id=901, cluster_key="main"))  # no workspace
    any_store.runs.add(Run(project_id=int(gone.id or 0), databricks_run_id=1, start_ms=1, end_ms=2, runtime_s=90.0,
                           cost=CostBreakdown(total=1.0, dbus=2.0, dbu_cost=0.5, compute_cost=0.5)))
    # Backfilled: past runs stored after newer ones (history orders by start, not by id).
    p = next(p for p in any_store.projects.list() if p.job_id == 3)
    first = any_store.runs.history(int(p.id or 0))[0]
    for k in (1, 2):
        any_store.runs.add(dataclasses.replace(first, id=None, databricks_run_id=first.databricks_run_id - k,
                                               start_ms=first.start_ms - k * DAY_MS, runtime_s=first.runtime_s * 1.1))
    return any_store


def test_the_report_is_the_full_reads_as_the_store_changes(store: Store) -> None:
    before = _same(store)
    assert len(before.projects) >= 20 and before.waiting
    assert any(not p.comparable or p.workload_change for p in before.projects)
    assert any(p.repriced_runs for p in before.projects) and any(p.cost_basis == "billed" for p in before.projects)
    assert _same(store) == before  # kept: nothing changed
    projects = [p for p in store.projects.list() if p.job_id < 900]
    pid = int(projects[1].id or 0)

    # A new run of one project: its savings move, the others' stay.
    _next_run(store, pid, runtime_s=store.runs.history(pid)[-1].runtime_s * 1.5)
    after = _same(store)
    assert _by_project(after)[pid] != _by_project(before)[pid]
    assert {k: v for k, v in _by_project(after).items() if k != pid} == \
        {k: v for k, v in _by_project(before).items() if k != pid}

    # A bill for a run (its cost replaced in place), a run read again as failed, a tag dropped.
    history = store.runs.history(pid)
    run = history[-3]
    assert run.cost is not None and run.id is not None
    store.runs.set_cost(run.id, dataclasses.replace(run.cost, source="billed", total=run.cost.total * 0.9))
    _same(store)
    store.runs.update(dataclasses.replace(history[-2], outcome="failed"))
    store.runs.update(dataclasses.replace(history[-5], recommendation_id=None))
    _same(store)

    # Settings: the SLA dropped on one project, set on another; a revert recorded on a third.
    kept = _same(store)
    store.projects.update_settings(pid, ProjectSettings(sla_seconds=None))
    other = int(projects[3].id or 0)
    store.projects.update_settings(other, ProjectSettings(sla_seconds=1200.0))
    moved = _same(store)
    assert _by_project(moved)[other] != _by_project(kept)[other]
    third = store.projects.get(int(projects[5].id or 0))
    store.projects.update(dataclasses.replace(third, pending_apply={
        "recommendation_id": None, "reverted": True, "applied_after_run_id": 10**9, "confirmed": False}))
    reverted = _same(store)
    assert _by_project(reverted)[int(third.id or 0)].current_source == "original"  # type: ignore[union-attr]

    # A change of plan re-prices every run's DBUs.
    store.workspaces.set_plan_region("ws", cloud="aws", plan="enterprise")
    enterprise = _same(store)
    assert {p.dbu_plan for p in enterprise.projects} == {"enterprise"}
    assert enterprise.total_saved_to_date != reverted.total_saved_to_date

    # The workload changed: an input shift, then a code change (whose savings read Spark stages).
    runs = store.runs.history(other)
    for at, kind in ((runs[20], INPUT_SHIFT), (runs[25], CODE_CHANGE)):
        store.recommendations.add(Recommendation(project_id=other, config=ClusterConfig(node_type_id="m5.xlarge"),
                                                 change_run_id=at.id, change_kind=kind))
        _same(store)
    # One project alone, by reference, and the whole report again.
    _same(store, str(other))
    _same(store)


def test_stages_arriving_after_the_runs_change_a_code_changes_comparison(store: Store) -> None:
    """A code-changed project compares by its runs' stage signatures, which arrive with the agent's
    events after the run: new stages for a stored run are read, not a kept signature."""
    report = _same(store)
    changed = [p for p in report.projects if p.workload_change == CODE_CHANGE]
    assert changed
    pid = changed[0].project_id
    # The runs after the code change run the old code again (the agent resent their stages).
    runs = store.runs.history(pid)
    apps = store.runs.application_ids_by_run([int(r.id or 0) for r in runs])
    stages = StageRow.__table__  # type: ignore[attr-defined]
    with store.engine.begin() as conn:
        late = [a for r in runs[len(runs) * 3 // 5:] for a in apps.get(int(r.id or 0), ())]
        conn.execute(sa.delete(stages).where(stages.c.application_id.in_(late)))
        conn.execute(sa.insert(stages), [dict(application_id=a, stage_id=s, attempt_id=0, name=name,
                                              parent_ids=[s - 1] if s else [])
                                         for a in late for s, name in enumerate(["read", "join", "write"])])
    after = _same(store)
    assert _by_project(after)[pid] != _by_project(report)[pid]


def test_an_unchanged_project_is_not_computed_again(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[int] = []
    real = savings_kept._computed
    monkeypatch.setattr(savings_kept, "_computed", lambda key, project, *a: computed.append(int(project.id or 0))
                        or real(key, project, *a))
    first = get_savings(store)
    assert len(computed) == len(store.projects.list())
    computed.clear()
    assert get_savings(store) == first and computed == []
    # A new run written by another process (another store on the database): that project alone.
    pid = first.projects[2].project_id
    url = store.engine.url.render_as_string(hide_password=False)
    elsewhere = open_store(url)
    try:
        _next_run(elsewhere, pid)
    finally:
        elsewhere.close()
    assert get_savings(store) == savings_from_history(store)
    assert computed == [pid]
    computed.clear()
    # A plan change: every project of the workspace.
    store.workspaces.set_plan_region("ws", cloud="aws", plan="enterprise")
    assert get_savings(store) == savings_from_history(store)
    assert len(computed) == sum(1 for p in store.projects.list() if p.workspace == "ws")
