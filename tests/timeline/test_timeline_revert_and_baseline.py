"""A revert reads as a revert on the timeline, and the run of the cluster as found as the baseline
(review: coherence). A revert was drawn as "recommendation N applied" (the run went back to the
recommendation before, a change of recommendation id), the reverted recommendation kept a plain
"applied" marker, and the as-found run, stored in phase learning, counted as a learning trial (the
demo's "L2"). The stored phase is left as it is."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from server.domain import Recommendation
from server.render.html import points_table
from server.render.svg import timeline_svg
from server.render.terminal import render_terminal
from server.serve import RunningServer
from server.store import Store
from server.timeline import (
    BASELINE,
    REVERTED,
    build_timeline,
    points_from_runs,
    reverted_ids,
    timeline_of_runs,
)
from tests.timeline.runs import run
from tests.timeline.seed import cli, serving


def _story() -> list:
    """As found, recommendation 1 (learning), recommendation 2 applied and reverted back to 1."""
    return [run(1, 1800, 10.0), run(2, 1500, 6.0, rec=1), run(3, 1400, 7.0, rec=2, phase="optimizing"),
            run(4, 1500, 6.0, rec=1, phase="optimizing"), run(5, 1450, 6.1, rec=1, phase="optimizing")]


def test_a_revert_back_to_the_recommendation_before_is_no_apply() -> None:
    points = points_from_runs(_story())
    assert [p.applied_recommendation_id for p in points] == [None, 1, 2, None, None]
    assert [REVERTED in p.anomalies for p in points] == [False, False, False, True, False]
    tl = build_timeline(points, 2000.0)
    assert [(m.recommendation_id, m.reverted) for m in tl.markers] == [(1, False), (2, True)]
    assert tl.markers[1].label == "recommendation 2 applied, then reverted"
    assert [(a.run_id, a.label) for a in tl.annotations] == [(4, "reverted: back to the cluster before")]
    assert [p.phase for p in points] == [BASELINE, "learning", "optimizing", "optimizing", "optimizing"]


def test_a_revert_to_the_cluster_as_found_needs_the_recommendations_state() -> None:
    runs = [run(1, 1800, 10.0), run(2, 1500, 6.0, rec=1), run(3, 1800, 10.0, phase="optimizing")]
    assert not any(REVERTED in p.anomalies for p in points_from_runs(runs))  # a detach goes back too
    back = points_from_runs(runs, reverted={1})
    assert [REVERTED in p.anomalies for p in back] == [False, False, True]
    assert build_timeline(back, None).markers[0].reverted
    # A run of the cluster as found after Trimtab's runs keeps its stored phase (no learning trial anyway).
    assert back[2].phase == "optimizing"


def test_the_renderers_name_the_revert_and_the_baseline() -> None:
    tl = timeline_of_runs(_story(), 2000.0, "etl")
    text = render_terminal(tl)
    assert "phase    BLOOO" in text and "applied   ^^v" in text and "v reverted" in text
    assert "B baseline" in text
    svg = timeline_svg(tl)
    assert "<title>recommendation 2 applied, then reverted</title>" in svg and 'data-reverted="true"' in svg
    assert "reverted: back to the cluster before" in svg and 'data-phase="baseline"' in svg
    assert "rec 2 (reverted)" in points_table(tl)


def test_reverted_ids_are_the_rejected_recommendations_runs_used() -> None:
    from server.domain import ClusterConfig

    recs = [Recommendation(project_id=1, config=ClusterConfig(node_type_id="m5.xlarge"), id=i, state=state)
            for i, state in ((1, "applied"), (2, "rejected"), (3, "rejected"))]
    assert reverted_ids(recs, _story()) == {2}  # 3 was rejected before any run used it


@pytest.fixture
def served(tmp_path: Path):
    with serving(tmp_path) as running:
        yield running


def test_get_timeline_over_grpc_marks_a_revert_to_the_cluster_as_found(
        served: tuple[RunningServer, str, Store], capsys: pytest.CaptureFixture[str]) -> None:
    """The seeded story's recommendation 4 reverted to the cluster as found (rejected after its runs):
    the run after it is the revert, not an unmarked return; the story's two as-found runs are the baseline."""
    running, token, store = served
    pid = int(store.projects.list()[0].id or 0)
    last = store.runs.history(pid)[-1]
    assert last.recommendation_id == 4
    while (store.recommendations.latest(pid).id or 0) < 4:  # the story's runs name recommendations 1-4
        store.recommendations.add(Recommendation(project_id=pid, config=last.config, reason="story"))
    store.recommendations.set_state(4, "rejected")
    store.runs.add(dataclasses.replace(last, id=None, databricks_run_id=2000, start_ms=last.start_ms + 86_400_000,
                                       end_ms=last.end_ms + 86_400_000, recommendation_id=None, anomalies=(),
                                       phase="monitoring", application_ids=()))
    code, text = cli(capsys, running, token, "timeline", "ws/42/main")
    assert code == 0, text
    assert "phase    BBLLOOOOMM" in text, text
    assert "applied    ^^^  ^ v" in text, text


def test_the_dashboard_marks_a_revert_to_the_cluster_as_found(served: tuple[RunningServer, str, Store]) -> None:
    """The dashboard's timeline reads the reverted recommendations as the CLI's does: it drew the
    return to the cluster as found as an unmarked run."""
    from server.dashboard.views import project_timeline

    _, _, store = served
    project = store.projects.list()[0]
    pid = int(project.id or 0)
    last = store.runs.history(pid)[-1]
    while (store.recommendations.latest(pid).id or 0) < 4:
        store.recommendations.add(Recommendation(project_id=pid, config=last.config, reason="story"))
    store.recommendations.set_state(4, "rejected")
    store.runs.add(dataclasses.replace(last, id=None, databricks_run_id=2000, start_ms=last.start_ms + 86_400_000,
                                       end_ms=last.end_ms + 86_400_000, recommendation_id=None, anomalies=(),
                                       phase="monitoring", application_ids=()))
    tl = project_timeline(store, project, store.runs.history(pid))
    assert REVERTED in tl.points[-1].anomalies
    assert [m.reverted for m in tl.markers if m.recommendation_id == 4] == [True]
