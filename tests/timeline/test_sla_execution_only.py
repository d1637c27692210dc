"""A run known from its event log alone (`Run.execution_only`, a backfill) has no cluster setup in its
runtime, so its runtime alone proves only a miss: within the SLA its verdict is unknown, and the
SLA-met share leaves it out of both its counts.

A 20-minute execution-only run against a 22-minute SLA was shown as met, though with the 3-5 minutes
a job cluster takes to come up it probably took 25.
"""

from __future__ import annotations

import pytest

from server.dashboard.views import project_rows
from server.domain import ClusterConfig, Project, ProjectSettings, Run
from server.services.projects import get_project, list_projects, sla_met_fraction
from server.services.timeline import get_timeline
from server.store import Store
from server.timeline import met_sla, timeline_of_runs

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 4}
SLA_S = 22 * 60.0
DAY_MS = 86_400_000

# (runtime, outcome, execution_only) oldest first, with what each says of the 22-minute SLA.
RUNS = [
    (20 * 60.0, "succeeded", True),   # unknown: with its setup it probably took 23-25 minutes
    (25 * 60.0, "succeeded", True),   # missed: its runtime alone is over
    (5 * 60.0, "failed", True),       # missed: a failed run delivered nothing
    (21 * 60.0, "succeeded", False),  # met
    (23 * 60.0, "succeeded", False),  # missed
]
VERDICTS = [None, False, False, True, False]


def _runs(project_id: int = 1) -> list[Run]:
    return [Run(project_id=project_id, databricks_run_id=100 + i, start_ms=1_750_000_000_000 + i * DAY_MS,
                runtime_s=runtime, outcome=outcome, execution_only=only,
                config=ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC))
            for i, (runtime, outcome, only) in enumerate(RUNS)]


def test_an_execution_only_run_within_the_sla_is_unknown_and_over_it_missed() -> None:
    assert met_sla("succeeded", 20 * 60.0, SLA_S, execution_only=True) is None
    assert met_sla("succeeded", 22 * 60.0, SLA_S, execution_only=True) is None  # at the SLA: setup pushes it over
    assert met_sla("succeeded", 25 * 60.0, SLA_S, execution_only=True) is False
    assert met_sla("failed", 60.0, SLA_S, execution_only=True) is False
    assert met_sla("succeeded", 20 * 60.0, None, execution_only=True) is None  # no SLA
    # A run with its setup in its runtime is judged as before.
    assert met_sla("succeeded", 20 * 60.0, SLA_S, execution_only=False) is True
    assert met_sla("succeeded", 25 * 60.0, SLA_S, execution_only=False) is False


def test_the_share_leaves_unknown_verdicts_out_of_both_counts() -> None:
    runs = _runs()
    assert sla_met_fraction(runs, SLA_S) == pytest.approx(1 / 4)  # was 2/5: the unknown run counted as met
    # Nothing judged: no share, not 0% (a history that is all backfill within the SLA).
    assert sla_met_fraction(runs[:1], SLA_S) is None
    chart = timeline_of_runs(runs, SLA_S)
    assert [chart.sla_met(p) for p in chart.points] == VERDICTS
    assert [p.execution_only for p in chart.points] == [True, True, True, False, False]


def test_every_share_of_the_store_agrees(any_store: Store) -> None:
    """`project show` (whole history), `project list` (the streamed outline) and the dashboard's
    projects page (the streamed figures) on SQLite and PostgreSQL."""
    project = any_store.projects.add(Project(workspace="ws", job_id=7, cluster_key="main", current_spec=SPEC,
                                             original_spec=SPEC, settings=ProjectSettings(sla_seconds=SLA_S)))
    pid = int(project.id or 0)
    for run in _runs(pid):
        any_store.runs.add(run)
    assert get_project(any_store, str(pid)).sla_met_fraction == pytest.approx(1 / 4)
    (listed,) = list_projects(any_store)
    assert listed.sla_met_fraction == pytest.approx(1 / 4)  # the streamed path: was 2/5
    (row,) = project_rows(any_store)
    assert row.sla_met.every == row.sla_met.now == pytest.approx(1 / 4)
    chart = get_timeline(any_store, str(pid)).chart
    assert [chart.sla_met(p) for p in chart.points] == VERDICTS
