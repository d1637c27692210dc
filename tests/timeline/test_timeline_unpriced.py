"""A run without a cost is drawn as unpriced (a gap, marked), never as a free run."""

from __future__ import annotations

from server.timeline import UNPRICED, TimelinePoint, build_timeline, timeline_of_runs
from tests.timeline.runs import run


def test_an_unpriced_run_is_a_gap_with_a_mark_and_does_not_set_the_scale() -> None:
    tl = timeline_of_runs([run(1, 600, 4.0), run(2, 600, None), run(3, 600, 3.0)], None)
    assert [p.priced for p in tl.points] == [True, False, True]
    assert [p.known_cost for p in tl.points] == [4.0, None, 3.0]
    assert [(a.run_id, a.kind, a.label) for a in tl.annotations] == [(2, UNPRICED, "not priced")]
    alone = timeline_of_runs([run(1, 600, None)], None)
    assert alone.max_cost == 0.0 and not alone.points[0].priced


def test_a_point_from_the_wire_keeps_its_unpriced_mark() -> None:
    # GetTimeline carries cost as a plain number; the mark travels with the anomalies.
    point = TimelinePoint(run_id=7, start_time_ms=0, runtime_s=60.0, cost=0.0, phase="learning",
                          outcome="succeeded", anomalies=(UNPRICED,))
    tl = build_timeline([point], None)
    assert point.known_cost is None and [a.label for a in tl.annotations] == ["not priced"]
