"""The baseline is the cluster as found at import (`Project.original_spec`), not every run without a
recommendation: a backfill stores months-old runs on the cluster as it was before the owner resized
it, and they carry that real configuration (review rev15i: 10 runs on m5.2xlarge x8 put an unchanged
m5.xlarge x2 at a 43 % saving, $34 a year, for changing nothing)."""

from __future__ import annotations

import dataclasses

import pytest

from server.api import messages
from server.domain import ClusterConfig, CostBreakdown, Project, Recommendation, Run, Workspace
from server.render.savings_text import project_notes
from server.services.savings import (
    SavingsReport,
    get_savings,
    no_savings_yet,
    project_savings,
    savings_from_history,
)
from server.spec import config_from_spec
from server.store import Store

DAY_MS = 86_400_000
FOUND = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 2,
         "aws_attributes": {"availability": "ON_DEMAND"}}
BIGGER = {**FOUND, "node_type_id": "m5.2xlarge", "num_workers": 8}
# The import, after the backfilled history: only runs that started before it are judged by their
# configuration (review rev15j).
IMPORTED_MS = 23 * DAY_MS


def _run(n: int, spec: dict, cost: float, rec: int | None = None, outcome: str = "succeeded") -> Run:
    return Run(id=n + 1, project_id=1, databricks_run_id=1000 + n, start_ms=n * DAY_MS, end_ms=n * DAY_MS + 600_000,
               runtime_s=600.0, outcome=outcome, config=config_from_spec(spec), recommendation_id=rec,
               cost=CostBreakdown(total=cost, dbus=cost, dbu_cost=cost * 0.4, compute_cost=cost * 0.6))


def _history() -> list[Run]:
    """10 backfilled runs on the bigger cluster, 10 on the cluster as found, 3 Trimtab runs that cost
    what the cluster as found does (the recommendation kept it)."""
    old = [_run(n, BIGGER, 0.31) for n in range(10)]
    found = [_run(10 + n, FOUND, 0.12) for n in range(10)]
    kept = [_run(20 + n, FOUND, 0.12, rec=7) for n in range(3)]
    return old + found + kept


def test_runs_on_another_cluster_than_the_one_found_are_no_baseline() -> None:
    project = Project(id=1, workspace="ws", job_id=1, cluster_key="main", original_spec=FOUND, current_spec=FOUND,
                      created_at_ms=IMPORTED_MS)
    s = project_savings(project, _history())
    assert s is not None
    assert s.baseline_runs == 10 and s.other_config_runs == 10
    assert s.baseline_cost_per_run == pytest.approx(0.12)
    assert s.saving_fraction == pytest.approx(0.0)  # changing nothing saves nothing (was 43 %)
    assert s.saved_to_date == pytest.approx(0.0) and s.projected_annual == pytest.approx(0.0)
    # A field of the API's ProjectSavings, not only words in its baseline_note.
    [sent] = messages.savings(SavingsReport(projects=(s,), total_saved_to_date=0.0,
                                            total_projected_annual=0.0, currency="USD")).projects
    assert sent.other_config_runs == 10 and "10 run" in sent.baseline_note
    assert "10 run(s) without a Trimtab recommendation on another cluster" in s.baseline_note


def test_without_an_original_spec_every_run_without_a_recommendation_is_baseline() -> None:
    """Nothing to compare with (a project stored before its spec was kept): as before."""
    project = Project(id=1, workspace="ws", job_id=1, cluster_key="main")
    s = project_savings(project, _history())
    assert s is not None and s.baseline_runs == 20 and s.other_config_runs == 0 and s.baseline_note == ""


def test_a_spark_upgrade_is_still_the_cluster_as_found() -> None:
    """The configuration is compared by what Trimtab decides (node types, size, spot), not the runtime."""
    project = Project(id=1, workspace="ws", job_id=1, cluster_key="main", original_spec=FOUND, current_spec=FOUND,
                      created_at_ms=IMPORTED_MS)
    runs = [_run(n, {**FOUND, "spark_version": "16.4.x-scala2.12"}, 0.12) for n in range(5)] + \
        [_run(5 + n, FOUND, 0.10, rec=7) for n in range(3)]
    s = project_savings(project, runs)
    assert s is not None and s.baseline_runs == 5 and s.other_config_runs == 0


def test_waiting_counts_only_the_cluster_as_found() -> None:
    project = Project(id=1, workspace="ws", job_id=1, cluster_key="main", original_spec=FOUND, current_spec=FOUND,
                      created_at_ms=IMPORTED_MS)
    runs = _history()[:20] + [_run(20, FOUND, 0.2, rec=7, outcome="failed")]
    why = no_savings_yet(project, runs)
    assert why is not None and why.baseline_runs == 10


def test_the_kept_report_equals_the_full_read_and_the_cli_says_it(any_store: Store) -> None:
    any_store.workspaces.add(Workspace(name="ws", host="https://ws.example", cloud="aws", plan="premium",
                                       region="us-east-1"), token_encrypted="x")
    project = any_store.projects.add(Project(workspace="ws", job_id=5, cluster_key="main", original_spec=FOUND,
                                             current_spec=FOUND))
    pid = int(project.id or 0)
    rec = any_store.recommendations.add(Recommendation(project_id=pid, config=config_from_spec(FOUND),
                                                       state="applied"))
    for r in _history():
        any_store.runs.add(dataclasses.replace(r, id=None, project_id=pid,
                                               recommendation_id=rec.id if r.recommendation_id else None))
    report = get_savings(any_store)
    assert report == savings_from_history(any_store)
    (s,) = report.projects
    assert s.baseline_runs == 10 and s.other_config_runs == 10
    assert any("on another cluster than the one found at import" in n for n in project_notes(s))
    # The original spec is part of the kept result's key: another spec as found, other figures.
    any_store.projects.update(dataclasses.replace(any_store.projects.get(pid), original_spec=BIGGER))
    moved = get_savings(any_store)
    assert moved == savings_from_history(any_store)
    assert moved.projects[0].baseline_runs == 10 and moved.projects[0].baseline_cost_per_run > s.baseline_cost_per_run


def test_a_pool_backed_cluster_as_found_takes_its_node_types_from_its_runs() -> None:
    """A spec on an instance pool names no node type; its runs recorded the pool's."""
    pooled = {"spark_version": "15.4.x-scala2.12", "instance_pool_id": "p1", "num_workers": 2}
    project = Project(id=1, workspace="ws", job_id=1, cluster_key="main", original_spec=pooled, current_spec=pooled,
                      created_at_ms=IMPORTED_MS)

    def on_pool(n: int, workers: int, cost: float, rec: int | None = None) -> Run:
        r = _run(n, pooled, cost, rec)
        config = ClusterConfig(node_type_id="m5.xlarge", driver_node_type_id="m5.xlarge", num_workers=workers,
                               spec={**pooled, "num_workers": workers})
        return dataclasses.replace(r, config=config)

    runs = [on_pool(n, 8, 0.3) for n in range(3)] + [on_pool(3 + n, 2, 0.12) for n in range(4)] + \
        [on_pool(7 + n, 2, 0.12, rec=7) for n in range(3)]
    s = project_savings(project, runs)
    assert s is not None and s.baseline_runs == 4 and s.other_config_runs == 3


def test_runs_collected_since_the_import_are_the_cluster_as_found_whatever_they_recorded() -> None:
    """Review rev15j: judged by their configuration, every run on a spot pool (the run records the
    pool's availability, the spec as found none) and every run after a detach, a resize and a
    re-attach left the baseline, and savings vanished. Runs since the import are the cluster as
    found (an owner's edit is flagged apart); only a backfilled history is judged by configuration."""
    project = Project(id=1, workspace="ws", job_id=1, cluster_key="main", original_spec=FOUND, current_spec=FOUND,
                      created_at_ms=0)  # imported before every run
    s = project_savings(project, _history())
    assert s is not None and s.baseline_runs == 20 and s.other_config_runs == 0
    # A pool owns its availability: backfilled runs on the spot pool the spec names are as found.
    pooled = {"spark_version": "15.4.x-scala2.12", "instance_pool_id": "p1", "num_workers": 2}
    on_spot_pool = ClusterConfig(node_type_id="m5.xlarge", driver_node_type_id="m5.xlarge", num_workers=2,
                                 availability="SPOT", spec=pooled)
    runs = [dataclasses.replace(_run(n, pooled, 0.12), config=on_spot_pool) for n in range(4)] + \
        [dataclasses.replace(_run(4 + n, pooled, 0.10, rec=7), config=on_spot_pool) for n in range(3)]
    pool_project = Project(id=1, workspace="ws", job_id=1, cluster_key="main", original_spec=pooled,
                           current_spec=pooled, created_at_ms=IMPORTED_MS)
    s = project_savings(pool_project, runs)
    assert s is not None and s.baseline_runs == 4 and s.other_config_runs == 0
