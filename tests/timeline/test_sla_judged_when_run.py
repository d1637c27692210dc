"""Each run is judged against the SLA in force when it was collected: tightening the SLA from 10m to
7m30s after run 9 is a new target for the runs after it, not a rewrite of runs 2-9, which met the 10m
SLA (a review: `trimtab timeline` said "SLA 7m30s: 21/27 met" and `project list` 77%, five of the six
misses runs of the 10m SLA). A run collected while the project had no SLA is judged against the SLA now."""

from __future__ import annotations

import pytest

from server.api.messages import timeline as timeline_message
from server.cli.timeline import chart_from_message
from server.collect.build import AgentData, Expected, build_run
from server.collect.run_parse import ClusterRun
from server.collect.usage import ClusterTimeline
from server.domain import ClusterConfig, CostBreakdown, Project, ProjectSettings, Run
from server.render.html import points_table, summary_line
from server.render.terminal import render_terminal
from server.services.projects import get_project, list_projects, update_settings
from server.services.timeline import get_timeline
from server.store import Store

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 4}
DAY = 86_400_000


def _piece(run_id: int, runtime_s: float) -> ClusterRun:
    start = 1_750_000_000_000 + run_id * DAY
    return ClusterRun(run_id=run_id, job_id=7, cluster_key="main", cluster_id=f"c-{run_id}", spark_context_id="",
                      spec=SPEC, task_keys=("main",), start_ms=start, end_ms=start + int(runtime_s * 1000),
                      outcome="succeeded", state_message="", setup_ms=None)


def _collect(store: Store, project_id: int, run_id: int, runtime_s: float) -> None:
    """A run as the collector builds it (`build_run`, which records the project's SLA then) and stores it."""
    project = store.projects.get(project_id)
    run, _ = build_run(project, _piece(run_id, runtime_s), cluster=None,
                       timeline=ClusterTimeline(0, int(runtime_s * 1000), (), 0, 0), agent=AgentData(), history=[],
                       expected=Expected({}, None))
    store.runs.add(Run(**{**run.__dict__, "cost": CostBreakdown(total=1.0),
                          "config": ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC)}))


def test_tightening_the_sla_does_not_rewrite_the_runs_before(any_store: Store) -> None:
    project = any_store.projects.add(Project(workspace="ws", job_id=7, cluster_key="main", current_spec=SPEC,
                                             original_spec=SPEC, settings=ProjectSettings()))
    pid = int(project.id or 0)
    _collect(any_store, pid, 1, 700.0)  # no SLA yet: judged against the SLA now
    update_settings(any_store, str(pid), {"sla_seconds": 600.0})
    for n in range(2, 10):  # 8:20, within the 10m SLA in force
        _collect(any_store, pid, n, 500.0)
    update_settings(any_store, str(pid), {"sla_seconds": 450.0})
    for n in range(10, 28):  # 7:00, within the new 7m30s, but one at 8:00
        _collect(any_store, pid, n, 480.0 if n == 20 else 420.0)

    runs = any_store.runs.history(pid)
    assert [r.sla_s for r in runs] == [None] + [600.0] * 8 + [450.0] * 18
    # 8 runs met 10m, 17 of 18 met 7m30s, run 1 (no SLA then, 11:40) missed 7m30s: 25/27 (was 21/27).
    assert get_project(any_store, str(pid)).sla_met_fraction == pytest.approx(25 / 27)
    (listed,) = list_projects(any_store)
    assert listed.sla_met_fraction == pytest.approx(25 / 27)
    # The dashboard's projects page and the savings read the runs' figures (FIGURE_COLUMNS) and judge
    # them the same way: its share agreed with `project list` only until the SLA changed.
    from server.dashboard.views import project_rows
    (row,) = project_rows(any_store)
    assert row.sla_met.every == pytest.approx(25 / 27)
    # Beside today's 7m30s: the 18 runs held to it and run 1 (none recorded: judged now), 17/19 met; 8 to 10m00s.
    assert (row.sla_met.now, row.sla_met.now_judged, row.sla_met.earlier_judged) == (pytest.approx(17 / 19), 19, 8)

    found = get_timeline(any_store, str(pid))
    chart = found.chart
    assert sum(1 for p in chart.points if chart.sla_met(p)) == 25
    # The terminal says which SLA the runs were judged against, on the server and through the wire.
    for drawn in (chart, chart_from_message(timeline_message(found))):
        text = render_terminal(drawn, legend=False)
        assert "SLA 7m30s: 17/19 met; earlier runs 8/8 met 10m00s, the SLA then" in text, text
    assert "SLA 7m30s met 93% (earlier runs against 10m00s, the SLA then)" in summary_line(chart)
    assert "met (10m00s then)" in points_table(chart)


def test_clearing_the_sla_keeps_the_verdicts_of_the_runs_made_under_it(any_store: Store) -> None:
    project = any_store.projects.add(Project(workspace="ws", job_id=7, cluster_key="main", current_spec=SPEC,
                                             original_spec=SPEC, settings=ProjectSettings(sla_seconds=600.0)))
    pid = int(project.id or 0)
    _collect(any_store, pid, 1, 500.0)
    _collect(any_store, pid, 2, 700.0)
    update_settings(any_store, str(pid), {"sla_seconds": None})
    _collect(any_store, pid, 3, 500.0)
    assert get_project(any_store, str(pid)).sla_met_fraction == pytest.approx(1 / 2)
    text = render_terminal(get_timeline(any_store, str(pid)).chart, legend=False)
    assert "no SLA now; earlier runs 1/2 met 10m00s, the SLA then" in text, text
