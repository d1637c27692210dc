"""The timeline charts draw the SLA as it was over time: a step line from the SLA each run was judged
against (the one in force when it was collected, `TimelinePoint.sla_s`), each step labelled, not one
line at today's SLA (runs 1-3 of a 10m SLA since tightened to 5m were drawn against 5m)."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

from server.render.html import timeline_page
from server.render.png import timeline_figure
from server.render.svg import legend_html, timeline_svg
from server.timeline import ProjectTimeline, SlaStep, timeline_of_runs
from tests.timeline.runs import run

SVG = "{http://www.w3.org/2000/svg}"


def _tightened(now: float | None = 300.0) -> ProjectTimeline:
    """Runs 1-3 collected under a 10m SLA, runs 4-6 under 5m; the project's SLA now ``now``."""
    runs = [dataclasses.replace(run(i, rt, 2.0), sla_s=sla)
            for i, (rt, sla) in enumerate([(480, 600.0), (500, 600.0), (520, 600.0),
                                           (250, 300.0), (260, 300.0), (400, 300.0)], start=1)]
    return timeline_of_runs(runs, sla_seconds=now, title="nightly")


def _classes(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def test_the_steps_are_the_stretches_of_runs_judged_against_one_sla() -> None:
    assert _tightened().sla_steps == (SlaStep(0, 2, 600.0), SlaStep(3, 5, 300.0))
    # A run collected while the project had no SLA is judged against today's: on today's step.
    runs = [run(1, 100, 1.0), dataclasses.replace(run(2, 100, 1.0), sla_s=600.0), run(3, 100, 1.0)]
    assert timeline_of_runs(runs, 300.0).sla_steps == (SlaStep(0, 0, 300.0), SlaStep(1, 1, 600.0),
                                                       SlaStep(2, 2, 300.0))
    assert timeline_of_runs(runs[::2], None).sla_steps == ()


def test_the_runtime_axis_reaches_an_earlier_higher_sla() -> None:
    runs = [dataclasses.replace(run(1, 100, 1.0), sla_s=3600.0), run(2, 100, 1.0)]
    assert timeline_of_runs(runs, 300.0).max_runtime_s == 3600.0


def test_svg_draws_one_labelled_step_per_sla_over_its_runs() -> None:
    root = ET.fromstring(timeline_svg(_tightened()))
    steps = _classes(root, "sla")
    assert [s.get("data-sla-s") for s in steps] == ["600", "300"]
    ten, five = (float(s.get("y1") or 0) for s in steps)
    assert ten < five  # 10m higher on the chart than 5m
    # Each runtime point lies within the x-range of the step of its own SLA.
    points = [c for c in _classes(root, "runtime") if c.tag == f"{SVG}circle"]
    for circle, step in zip(points, [steps[0]] * 3 + [steps[1]] * 3, strict=True):
        assert float(step.get("x1") or 0) <= float(circle.get("cx") or 0) <= float(step.get("x2") or 0)
    (riser,) = _classes(root, "sla-step")  # the step between them
    assert riser.get("x1") == steps[0].get("x2") == steps[1].get("x1")
    labels = [t.text for t in _classes(root, "sla-label")]
    assert labels == ["SLA 10m00s then", "SLA 5m00s"]


def test_svg_names_today_sla_when_it_changed_after_the_latest_run() -> None:
    root = ET.fromstring(timeline_svg(_tightened(now=240.0)))
    assert [t.text for t in _classes(root, "sla-label")] == ["SLA 10m00s then", "SLA 5m00s then (now 4m00s)"]
    root = ET.fromstring(timeline_svg(_tightened(now=None)))
    assert [t.text for t in _classes(root, "sla-label")][-1] == "SLA 5m00s then (no SLA now)"


def test_one_sla_throughout_is_one_line_across_the_panel() -> None:
    runs = [run(i, 100 + i, 1.0) for i in range(1, 5)]
    root = ET.fromstring(timeline_svg(timeline_of_runs(runs, 300.0)))
    (line,) = _classes(root, "sla")
    assert (float(line.get("x1") or 0), float(line.get("x2") or 0)) == (70.0, 880.0)  # LEFT to WIDTH - RIGHT
    assert [t.text for t in _classes(root, "sla-label")] == ["SLA 5m00s"]
    assert _classes(root, "sla-step") == []


def test_html_page_has_both_levels_and_the_legend_says_what_the_line_is() -> None:
    page = timeline_page(_tightened())
    assert "SLA 10m00s then" in page and "SLA 5m00s<" in page
    assert "SLA in force when each run was collected" in legend_html()


def test_png_plots_the_step_line_and_labels_each_step() -> None:
    runtime_ax = timeline_figure(_tightened()).axes[0]
    (line,) = [ln for ln in runtime_ax.get_lines() if ln.get_gid() == "sla"]
    # In minutes, over each run's half-run either side (x is the run's position + 1).
    assert list(line.get_xdata()) == [0.5, 3.5, 3.5, 6.5]
    assert list(line.get_ydata()) == [10.0, 10.0, 5.0, 5.0]
    labels = [t.get_text() for t in runtime_ax.texts if t.get_gid() == "sla-label"]
    assert labels == ["SLA 10m00s then", "SLA 5m00s"]


def test_png_one_sla_keeps_its_legend() -> None:
    runtime_ax = timeline_figure(timeline_of_runs([run(i, 100 + i, 1.0) for i in range(1, 5)], 300.0)).axes[0]
    (line,) = [ln for ln in runtime_ax.get_lines() if ln.get_gid() == "sla"]
    assert set(line.get_ydata()) == {5.0} and line.get_label() == "SLA 5m00s"
    legend = runtime_ax.get_legend()
    assert legend is not None and "SLA 5m00s" in [t.get_text() for t in legend.get_texts()]
