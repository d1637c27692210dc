"""The timeline marks where the model learns again after a change of the workload (review finding 7).

A code change, an input size shift or a runtime regression restarts learning (`models.changes`);
the timeline showed a learning band after an optimizing one and nothing saying why."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from server.api import messages
from server.cli.timeline import chart_from_message
from server.dashboard.views import project_page
from server.domain import ClusterConfig, CostBreakdown, Project, ProjectSettings, Recommendation, Run
from server.plan.planner import run_label
from server.render.png import timeline_png
from server.render.svg import legend_html, timeline_svg
from server.render.terminal import LEGEND, render_terminal
from server.services.projects import get_project
from server.services.savings import stored_changes
from server.services.timeline import Timeline
from server.store import Store
from server.timeline import CODE_CHANGE, INPUT_SHIFT, ChangePoint, timeline_of_runs
from tests.timeline.runs import run, story

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 8}


def _rows(text: str) -> dict[str, str]:
    return {line.split()[0]: line for line in text.splitlines()[1:] if line.strip() and not line.startswith(" ")}


def test_the_terminal_marks_the_rebase_with_its_kind() -> None:
    runs = story()  # ids 1..9
    plain = render_terminal(timeline_of_runs(runs, 2000.0))
    assert "rebase" not in _rows(plain)  # nothing changed: no row
    chart = timeline_of_runs(runs, 2000.0, changes=[ChangePoint(5, CODE_CHANGE), ChangePoint(8, INPUT_SHIFT)])
    assert [(m.index, m.run_id, m.kind) for m in chart.rebases] == [(4, 5, CODE_CHANGE), (7, 8, INPUT_SHIFT)]
    rows = _rows(render_terminal(chart))
    assert rows["rebase"] == "rebase       C  I"
    assert rows["events"] == _rows(plain)["events"]  # a rebase is no anomaly of its run: no "?" there
    assert "C code change" in LEGEND and "I input size shift" in LEGEND and "S runtime regression" in LEGEND
    # Cut to the last 3 runs: the mark keeps its column.
    assert _rows(render_terminal(chart, width=3))["rebase"] == "rebase    I"


def test_the_files_mark_the_rebase() -> None:
    chart = timeline_of_runs(story(), 2000.0, changes=[ChangePoint(5, CODE_CHANGE)])
    svg = ET.fromstring(timeline_svg(chart))
    marks = [g for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "rebase-marker"]
    assert [(g.get("data-run-id"), g.get("data-kind")) for g in marks] == [("5", CODE_CHANGE)]
    assert "run 5: code change: learning again" in ET.tostring(marks[0], encoding="unicode")
    assert "learning again" in legend_html()
    assert timeline_png(chart).startswith(b"\x89PNG")


def test_the_store_the_dashboard_and_the_wire_carry_the_mark(any_store: Store) -> None:
    """On SQLite and PostgreSQL: the recommendation made after the change point marks its run."""
    project = any_store.projects.add(Project(workspace="ws", job_id=9, cluster_key="main", current_spec=SPEC,
                                             original_spec=SPEC, settings=ProjectSettings(sla_seconds=2000.0)))
    pid = int(project.id or 0)
    stored = [any_store.runs.add(Run(**{**r.__dict__, "id": None, "project_id": pid, "recommendation_id": None,
                                        "config": ClusterConfig(node_type_id="m5.xlarge", num_workers=8, spec=SPEC),
                                        "cost": CostBreakdown(total=1.0)}))
              for r in [run(i, 1800.0, 1.0) for i in range(1, 7)]]
    changed = stored[3]
    any_store.recommendations.add(Recommendation(
        project_id=pid, config=ClusterConfig(node_type_id="m5.xlarge", num_workers=6), state="applied",
        reason=f"the stage structure changed (a code change) at {run_label(changed)}: learning again. "
               "learning run 1/3: m5.xlarge x 6 workers is the most informative configuration",
        change_run_id=changed.id, change_kind=CODE_CHANGE))
    assert stored_changes(any_store, project) == [ChangePoint(int(changed.id or 0), CODE_CHANGE)]
    page = project_page(any_store, pid)
    assert [(m.index, m.run_id) for m in page.timeline.rebases] == [(3, changed.id)]
    # `trimtab timeline` asks the service, which passes the change points too (it drew no mark).
    from server.services.timeline import get_timeline

    assert [(m.index, m.run_id) for m in get_timeline(any_store, str(pid)).chart.rebases] == [(3, changed.id)]
    # Over the wire (`GetTimeline`) the kind travels among the point's anomalies, so the CLI draws it.
    sent = messages.timeline(Timeline(project=get_project(any_store, str(pid)), chart=page.timeline))
    drawn = chart_from_message(sent)
    assert [(m.index, m.kind) for m in drawn.rebases] == [(3, CODE_CHANGE)]
    assert _rows(render_terminal(drawn))["rebase"] == "rebase      C"
