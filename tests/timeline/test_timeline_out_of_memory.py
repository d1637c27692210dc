"""A run that failed out of memory is shown as such on every timeline (not as a bare failure nor as
"?" in the terminal): the collector labels it `out_of_memory` (server/memory_failure.py)."""

from __future__ import annotations

from server.render.fmt import ANOMALY_COLORS
from server.render.terminal import ANOMALY_LETTERS, LEGEND
from server.timeline import ANOMALY_LABELS, TimelinePoint, annotations_of


def _point(outcome: str, anomalies: tuple[str, ...]) -> TimelinePoint:
    return TimelinePoint(run_id=7, start_time_ms=0, runtime_s=120.0, cost=1.0, phase="optimizing",
                         outcome=outcome, anomalies=anomalies)


def test_an_out_of_memory_failure_is_one_annotation_named_so() -> None:
    found = annotations_of([_point("failed", ("failure", "out_of_memory"))])
    assert [(a.kind, a.label) for a in found] == [("out_of_memory", "out of memory")]


def test_a_plain_failure_stays_a_failure() -> None:
    assert [a.kind for a in annotations_of([_point("failed", ())])] == ["failure"]


def test_every_renderer_knows_it() -> None:
    assert ANOMALY_LABELS["out_of_memory"] == "out of memory"
    assert ANOMALY_LETTERS["out_of_memory"] == "o" and "o out of memory" in LEGEND
    assert "out_of_memory" in ANOMALY_COLORS
