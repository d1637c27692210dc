"""The timeline shows how much of each run's runtime was the job cluster coming up (`Run.setup_s`):
from the store through the service and the gRPC API to the SVG, PNG and terminal charts."""

from __future__ import annotations

import dataclasses
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from server.render.png import timeline_png
from server.render.svg import timeline_svg
from server.render.terminal import render_terminal
from server.serve import RunningServer
from server.services.timeline import get_timeline
from server.store import Store, open_store
from server.timeline import ProjectTimeline, timeline_of_runs
from tests.timeline.runs import story
from tests.timeline.seed import cli, seed, serving

SVG = "{http://www.w3.org/2000/svg}"
# By `story` run id; the others (3, 4, 6, 8) did not report a setup. Run 7 failed after 5 minutes,
# 2 of them setup. The mean of the succeeded runs' (the model's `models.setup.estimate`) is 280 s; the
# median of all five, which the terminal said before, 250 s.
SETUPS = {1: 300.0, 2: 330.0, 5: 240.0, 7: 120.0, 9: 250.0}


def _with_setups() -> ProjectTimeline:
    runs = [dataclasses.replace(r, setup_s=SETUPS.get(int(r.id or 0))) for r in story()]
    return timeline_of_runs(runs, sla_seconds=2000, title="nightly")


def _classes(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def _runtime_circles(root: ET.Element) -> dict[str, ET.Element]:
    return {c.get("data-run-id") or "": c for c in _classes(root, "runtime") if c.tag == f"{SVG}circle"}


def test_points_carry_the_runs_setup() -> None:
    tl = _with_setups()
    assert [p.setup_s for p in tl.points] == [SETUPS.get(i) for i in range(1, 10)]


def test_the_service_passes_the_stored_setup_through(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'trimtab.db'}")
    try:
        seed(store, setups=SETUPS)
        points = get_timeline(store, "ws/42/main").points
    finally:
        store.close()
    assert [p.setup_s for p in points] == [SETUPS.get(i) for i in range(1, 10)]


def test_svg_has_one_setup_bar_per_run_with_a_setup_under_its_runtime_point() -> None:
    svg = timeline_svg(_with_setups())
    root = ET.fromstring(svg)
    bars = _classes(root, "setup")
    assert [b.get("data-run-id") for b in bars] == ["1", "2", "5", "7", "9"]
    assert all(b.tag == f"{SVG}rect" for b in bars)
    circles = _runtime_circles(root)
    # The runtime panel's zero line: every bar stands on it.
    baselines = {round(float(b.get("y") or 0) + float(b.get("height") or 0), 1) for b in bars}
    assert len(baselines) == 1
    base = baselines.pop()
    for bar in bars:
        run_id = bar.get("data-run-id") or ""
        circle = circles[run_id]
        point = _with_setups().points[int(run_id) - 1]
        assert float(bar.get("data-setup-s") or 0) == SETUPS[int(run_id)]
        # Centred on its run, and as tall against the runtime point as the setup is against the runtime.
        assert float(bar.get("x") or 0) + float(bar.get("width") or 0) / 2 == pytest.approx(
            float(circle.get("cx") or 0), abs=0.1)
        height = float(bar.get("height") or 0)
        assert height / (base - float(circle.get("cy") or 0)) == pytest.approx(
            SETUPS[int(run_id)] / point.runtime_s, rel=0.01)
        title = bar.find(f"{SVG}title")
        assert title is not None and "cluster setup" in (title.text or "")
    # Drawn before the runtime line and points, so they sit under them.
    assert svg.index('class="setup"') < svg.index('class="line runtime"') < svg.index('class="point runtime"')
    legend = _classes(root, "legend-setup")
    assert len(legend) == 1 and "cluster setup" in "".join(legend[0].itertext())


def test_tooltips_name_the_setup_only_for_runs_that_had_one() -> None:
    root = ET.fromstring(timeline_svg(_with_setups()))
    for run_id, circle in _runtime_circles(root).items():
        title = circle.find(f"{SVG}title")
        text = (title.text or "") if title is not None else ""
        if int(run_id) == 5:
            assert text == "run 5 · optimizing · 23m20s · setup 4m00s · $5.50 · succeeded"
        assert ("setup" in text) == (int(run_id) in SETUPS), text


def test_a_timeline_without_setups_draws_nothing_new() -> None:
    svg = timeline_svg(timeline_of_runs(story(), sla_seconds=2000, title="nightly"))
    root = ET.fromstring(svg)
    assert _classes(root, "setup") == [] and _classes(root, "legend-setup") == []
    assert "setup" not in svg


def test_png_draws_the_setups_in_the_runtime_panel_only() -> None:
    def pixels(png: bytes) -> np.ndarray:
        return np.asarray(mpimg.imread(io.BytesIO(png), format="png"))

    without = pixels(timeline_png(timeline_of_runs(story(), sla_seconds=2000, title="nightly")))
    with_setups = pixels(timeline_png(_with_setups()))
    changed = np.argwhere(np.any(np.abs(with_setups - without) > 0.05, axis=-1))
    assert len(changed) > 200  # five bars and a legend entry, not a stray pixel
    # The figure is 600 px high with the runtime panel on top: nothing below it changes.
    assert changed[:, 0].max() < 300


def test_terminal_names_the_models_mean_setup_and_keeps_its_columns() -> None:
    text = render_terminal(_with_setups())
    runtime = next(line for line in text.splitlines() if line.startswith("runtime"))
    assert runtime.endswith("5m00s .. 40m00s (mean setup 4m40s)  SLA 33m20s: 6/9 met")
    assert len(runtime.split()[1]) == 9
    # The legend names "w runtime without setup" (a backfilled run's mark): the chart itself says nothing.
    assert "setup" not in render_terminal(timeline_of_runs(story(), sla_seconds=2000, title="nightly"), legend=False)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[RunningServer, str, Store]]:
    with serving(tmp_path, setups=SETUPS) as running:
        yield running


def test_the_setup_crosses_the_grpc_api_and_reaches_the_clis_charts(
        served: tuple[RunningServer, str, Store], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    running, token, _ = served
    code, text = cli(capsys, running, token, "--json", "timeline", "ws/42/main")
    assert code == 0, text
    points = json.loads(text)["points"]
    # proto3 optional: a run without a setup sends none, not a zero.
    assert [p.get("setup_s") for p in points] == [SETUPS.get(i) for i in range(1, 10)]
    code, text = cli(capsys, running, token, "timeline", "ws/42/main", "--out", str(tmp_path / "t.svg"))
    assert code == 0, text
    root = ET.fromstring((tmp_path / "t.svg").read_text())
    assert len(_classes(root, "setup")) == len(SETUPS)
    code, text = cli(capsys, running, token, "timeline", "ws/42/main")
    assert code == 0 and "(mean setup 4m40s)" in text.splitlines()[1]


def test_launches_that_failed_leave_the_setup_and_the_range_alone() -> None:
    # Three launches refused by the cloud (0 s, setup 0 s) among runs with a 4-minute start: the header
    # read "0s .. 40m00s (setup ~0s)".
    never_started = [dataclasses.replace(r, id=20 + i, runtime_s=0.0, setup_s=0.0, outcome="failed", cost=None)
                     for i, r in enumerate(story()[:3])]
    runs = [dataclasses.replace(r, setup_s=240.0) for r in story()[:5]] + never_started
    runtime = next(line for line in render_terminal(timeline_of_runs(runs, sla_seconds=2000)).splitlines()
                   if line.startswith("runtime"))
    assert "23m20s .. 40m00s (mean setup 4m00s)" in runtime


def test_the_terminals_setup_is_the_one_the_model_adds_to_its_predictions() -> None:
    """The same runs' setup as `models.setup.estimate` takes it (what a reason's "~219s cluster setup"
    is): a review read "setup ~3m36s" (a median) on the timeline beside a reason's 219 s (the mean)."""
    from models.observation import Observation
    from models.setup import RECENT, estimate
    from server.render.terminal import setup_mean_s

    runs = [dataclasses.replace(r, id=i + 1, start_ms=r.start_ms + i, setup_s=float(150 + (i * 37) % 200),
                                outcome="failed" if i % 7 == 3 else "succeeded")
            for i, r in enumerate(story() * 5)]
    assert len(runs) > RECENT  # the model's window of recent runs
    chart = timeline_of_runs(runs, sla_seconds=2000)
    history = [Observation(config_id="c", runtime_s=p.runtime_s, ok=p.outcome == "succeeded", setup_s=p.setup_s)
               for p in chart.points]
    mean = setup_mean_s(chart.points)
    assert mean is not None and mean == pytest.approx(estimate(history).mean_s)
