"""One shift of the input size is data growth on the run where it happened, not on the runs after it
(a review: job C's 3x shift at run 9 was marked on runs 9, 11 and 12)."""

from __future__ import annotations

from collections.abc import Sequence

from server.collect.build import GROWTH_WINDOW, data_grew
from server.domain import Run

GB = 1_000_000_000
# Job C's inputs in the review (GB, run 1 first); "s": the run lost spot nodes (its input re-read them).
REVIEW_C = [(60.18, ""), (60.36, ""), (60.54, ""), (60.72, ""), (60.91, ""), (77.02, "s"), (61.27, ""),
            (61.46, ""), (184.92, ""), (185.47, "s"), (186.03, ""), (186.59, ""), (187.15, ""), (219.62, "s"),
            (188.27, ""), (188.84, "")]


def labelled(inputs: Sequence[tuple[float, str]]) -> list[int]:
    """The runs (1-based) marked data_growth when collected one after another as the collector does:
    each against the `GROWTH_WINDOW` runs before it, with the marks those got."""
    runs: list[Run] = []
    for i, (gb, flag) in enumerate(inputs):
        lost = ("spot_loss",) if flag == "s" else ()
        # The collector does not test a run that lost spot nodes (its input is not the data's size).
        grew = not lost and data_grew(int(gb * GB), runs[-GROWTH_WINDOW:])
        runs.append(Run(project_id=1, databricks_run_id=i + 1, input_bytes=int(gb * GB),
                        anomalies=lost + (("data_growth",) if grew else ())))
    return [r.databricks_run_id for r in runs if "data_growth" in r.anomalies]


def test_a_3x_shift_is_data_growth_once() -> None:
    assert labelled(REVIEW_C) == [9]


def test_a_shift_first_seen_on_a_spot_loss_is_marked_on_the_next_clean_run_alone() -> None:
    inputs = [(100.0, "")] * 5 + [(300.0, "s"), (300.0, ""), (301.0, ""), (302.0, "")]
    assert labelled(inputs) == [7]


def test_growth_on_top_of_growth_and_after_a_spike_is_still_seen() -> None:
    # 100 -> 300 (run 6), 300 -> 900 (run 9): two shifts, two marks.
    assert labelled([(100.0, "")] * 5 + [(300.0, "")] * 3 + [(900.0, "")] * 3) == [6, 9]
    # A one-run spike (run 6) and back: a real growth later (run 10) is still measured from the level before it.
    assert labelled([(100.0, "")] * 5 + [(300.0, "")] + [(100.0, "")] * 3 + [(300.0, "")]) == [6, 10]
