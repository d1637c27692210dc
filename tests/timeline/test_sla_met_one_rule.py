"""One SLA rule for every figure of it: a failed or canceled run did not meet the SLA.

`project show` (and the dashboard, and the demo's summary) said "SLA met 100%" beside the timeline's
"27/28 met" for the same runs: the fraction counted succeeded runs only (review finding 5)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from server.domain import ClusterConfig, CostBreakdown, Project, ProjectSettings, Run
from server.services.projects import get_project, sla_met_fraction
from server.services.timeline import get_timeline
from server.store import Store
from server.timeline import met_sla, timeline_of_runs
from tests.timeline.seed import cli, serving

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 4}


def test_a_failed_or_canceled_run_never_met_the_sla() -> None:
    assert met_sla("succeeded", 100.0, 200.0, execution_only=False) is True
    assert met_sla("succeeded", 300.0, 200.0, execution_only=False) is False
    assert met_sla("failed", 10.0, 200.0, execution_only=False) is False  # failed fast: not "within" anything
    assert met_sla("canceled", 10.0, 200.0, execution_only=False) is False
    assert met_sla("failed", 10.0, None, execution_only=False) is None  # no SLA: nothing to meet
    assert sla_met_fraction([], 200.0) is None


def test_project_and_timeline_agree_on_the_store(any_store: Store) -> None:
    """27 runs within the SLA and one failure: 27/28 on both, on SQLite and PostgreSQL."""
    project = any_store.projects.add(Project(workspace="ws", job_id=7, cluster_key="main", current_spec=SPEC,
                                             original_spec=SPEC, settings=ProjectSettings(sla_seconds=720.0)))
    assert project.id is not None
    for i in range(28):
        any_store.runs.add(Run(project_id=project.id, databricks_run_id=100 + i, start_ms=1_750_000_000_000 + i * 86_400_000,
                               end_ms=1_750_000_600_000 + i * 86_400_000, runtime_s=600.0 if i != 20 else 90.0,
                               outcome="failed" if i == 20 else "succeeded",
                               config=ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=SPEC),
                               cost=CostBreakdown(total=1.0)))
    summary = get_project(any_store, str(project.id))
    chart = get_timeline(any_store, str(project.id)).chart
    met = sum(1 for p in chart.points if chart.sla_met(p))
    assert (met, len(chart.points)) == (27, 28)
    assert summary.sla_met_fraction == pytest.approx(27 / 28)  # was 1.0: the failure was not counted
    runs = any_store.runs.history(project.id)
    # A canceled run is one the job did not deliver either.
    canceled = [dataclasses.replace(r, outcome="canceled") if i == 3 else r for i, r in enumerate(runs)]
    chart = timeline_of_runs(canceled, 720.0)
    assert sla_met_fraction(canceled, 720.0) == pytest.approx(
        sum(1 for p in chart.points if chart.sla_met(p)) / len(chart.points)) == pytest.approx(26 / 28)


def test_project_show_and_timeline_agree_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The seeded story: 9 runs, one failed, SLA 2000 s: 6/9 met on the timeline, 67% on `project show`."""
    with serving(tmp_path) as (running, token, _):
        code, timeline = cli(capsys, running, token, "timeline", "ws/42/main")
        assert code == 0, timeline
        met, total = map(int, re.search(r"SLA \S+: (\d+)/(\d+) met", timeline).groups())  # type: ignore[union-attr]
        code, shown = cli(capsys, running, token, "project", "show", "ws/42/main")
        assert code == 0, shown
    line = next(line for line in shown.splitlines() if line.strip().startswith("SLA met"))
    assert line.split()[-1] == f"{met / total:.0%}" == "67%", (line, timeline)  # was 75%: 6 of 8 succeeded
