from server.render.terminal import render_terminal
from server.timeline import build_timeline, points_from_runs, timeline_of_runs
from tests.timeline.runs import run, story


def test_points_follow_runs_in_start_order_with_costs_and_inputs() -> None:
    runs = story()
    tl = timeline_of_runs(list(reversed(runs)), sla_seconds=2000, title="nightly")
    assert [p.run_id for p in tl.points] == [r.id for r in runs]
    assert [p.cost for p in tl.points] == [r.cost.total for r in runs if r.cost]
    assert [p.runtime_s for p in tl.points] == [r.runtime_s for r in runs]
    assert tl.title == "nightly" and tl.sla_seconds == 2000


def test_apply_markers_sit_on_the_first_run_of_each_new_recommendation() -> None:
    tl = timeline_of_runs(story(), None)
    assert [(m.run_id, m.recommendation_id) for m in tl.markers] == [(3, 1), (4, 2), (5, 3), (8, 4)]
    assert [m.index for m in tl.markers] == [2, 3, 4, 7]


def test_a_return_to_the_original_cluster_then_a_reapply_is_marked_again() -> None:
    runs = [run(1, 10, 1.0, rec=5), run(2, 10, 1.0), run(3, 10, 1.0, rec=5)]
    assert [p.applied_recommendation_id for p in points_from_runs(runs)] == [5, None, 5]


def test_phase_bands_cover_consecutive_runs_of_one_phase() -> None:
    tl = timeline_of_runs(story(), None)
    # The two runs as found, stored in phase learning, are the baseline (`server.timeline.BASELINE`).
    assert [(b.phase, b.first, b.last) for b in tl.bands] == [
        ("baseline", 0, 1), ("learning", 2, 3), ("optimizing", 4, 7), ("monitoring", 8, 8)]
    back_and_forth = [run(1, 1, 1, phase="optimizing"), run(2, 1, 1, phase="learning"),
                      run(3, 1, 1, phase="optimizing")]
    assert len(timeline_of_runs(back_and_forth, None).bands) == 3


def test_anomalies_are_annotated_and_an_unsuccessful_run_is_a_failure() -> None:
    tl = timeline_of_runs(story(), None)
    kinds = [(a.run_id, a.kind, a.label) for a in tl.annotations]
    assert kinds == [(4, "spot_loss", "spot loss"), (7, "failure", "failure"),
                     (8, "data_growth", "data growth"), (8, "user_edit", "user edit")]


def test_a_run_the_cloud_failed_is_a_cloud_failure_not_a_failure_of_its_configuration() -> None:
    runs = [run(1, 100, 1.0), run(2, 0, 0.0, outcome="failed", anomalies=("failure", "launch_failed")),
            run(3, 0, 0.0, outcome="failed", anomalies=("failure",))]
    tl = timeline_of_runs(runs, None)
    assert [(a.run_id, a.kind, a.label) for a in tl.annotations] == [
        (2, "launch_failed", "launch failure"), (3, "failure", "failure")]
    text = render_terminal(tl)
    assert "c launch failure" in text
    assert "events    cF" in text.splitlines()  # run 1 none, run 2 the cloud's, run 3 its own


def test_sla_met_needs_success_within_the_sla() -> None:
    tl = timeline_of_runs(story(), sla_seconds=1500)
    met = {p.run_id: tl.sla_met(p) for p in tl.points}
    assert met[4] is True and met[1] is False and met[7] is False  # run 7 was short but failed
    assert timeline_of_runs(story(), None).sla_met(tl.points[0]) is None


def test_scales_include_the_sla_and_an_empty_timeline_is_fine() -> None:
    tl = timeline_of_runs([run(1, 100, 2.0)], sla_seconds=500)
    assert tl.max_runtime_s == 500 and tl.max_cost == 2.0
    empty = build_timeline([], None)
    assert empty.points == () and empty.bands == () and empty.max_cost == 0.0


def test_a_launch_failure_for_want_of_capacity_is_one_annotation() -> None:
    from server.timeline import annotations_of, points_from_runs

    runs = [run(1, 100, 1.0), run(2, 0, 0.0, outcome="failed", anomalies=("failure", "launch_failed", "no_capacity"))]
    assert [a.kind for a in annotations_of(points_from_runs(runs))] == ["launch_failed"]
