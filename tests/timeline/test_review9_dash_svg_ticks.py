"""The SVG timeline's value axes keep a handful of ticks whatever the values (review 9: the duration
steps stopped at one day, so 4 runs of 9.9e8 s drew 12,617 tick labels, a 1.89 MB SVG)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from server.render.svg import DAY_S, DURATION_STEPS, MAX_TICKS, _ticks, nice_step, timeline_svg
from server.timeline import timeline_of_runs
from tests.timeline.runs import run

SVG = "{http://www.w3.org/2000/svg}"


def _axis_labels(svg: str, panel: str) -> list[str]:
    """The tick labels of a panel's value axis (right-aligned, left of the plot)."""
    root = ET.fromstring(svg)
    group = next(g for g in root.iter(f"{SVG}g") if f"panel-{panel}" in (g.get("class") or "").split())
    return [t.text or "" for t in group.iter(f"{SVG}text")
            if t.get("text-anchor") == "end" and t.get("fill") == "#4b5563"]


@pytest.mark.parametrize("runtime_s", [5 * DAY_S, 400 * DAY_S, 9.9e8, 1e15])
def test_a_runtime_of_days_or_years_draws_a_handful_of_ticks(runtime_s: float) -> None:
    svg = timeline_svg(timeline_of_runs([run(i, runtime_s, 1.5e12) for i in range(1, 5)], 3600, "t"))
    labels = _axis_labels(svg, "runtime")
    assert 2 <= len(labels) <= MAX_TICKS, labels
    assert 2 <= len(_axis_labels(svg, "cost")) <= MAX_TICKS
    assert len(svg) < 20_000


def test_past_a_day_the_step_is_a_round_number_of_days() -> None:
    for top in (5 * DAY_S, 40 * DAY_S, 9.9e8 * 1.1, 3e12):
        step = nice_step(top, durations=True)
        days = step / DAY_S
        assert step >= top / 4 and days == int(days), (top, step)
        assert str(int(days)).rstrip("0") in ("1", "2", "5"), (top, step)  # 1, 2 or 5 x 10^k days
        assert 2 <= len(_ticks(top, durations=True)) <= MAX_TICKS


def test_steps_up_to_a_day_are_as_before() -> None:
    assert [nice_step(top, durations=True) for top in (30, 500, 4 * 3600, 4 * DAY_S)] == [10, 180, 3600, DAY_S]
    assert DURATION_STEPS[-1] == DAY_S
    assert nice_step(100.0, durations=False) == 50 and nice_step(3.0, durations=False) == 1
