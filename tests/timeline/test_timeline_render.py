import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from server.render import write_timeline
from server.render.fmt import duration, money
from server.render.html import summary_line, timeline_page
from server.render.png import timeline_figure, timeline_png
from server.render.svg import legend_html, timeline_svg
from server.render.terminal import GAP, render_terminal
from server.timeline import ProjectTimeline, timeline_of_runs
from tests.timeline.runs import run, story

SVG = "{http://www.w3.org/2000/svg}"


def _classes(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def test_terminal_has_one_column_per_run_in_every_row() -> None:
    text = render_terminal(timeline_of_runs(story(), sla_seconds=2000, title="nightly"))
    rows = {line.split()[0]: line for line in text.splitlines()[1:6]}
    assert text.splitlines()[0] == "nightly  (9 runs)"
    assert rows["phase"] == "phase    BBLLOOOOM"  # the two runs as found: the baseline
    assert rows["applied"] == "applied    ^^^  ^"
    assert rows["events"][9:] == "   s  Fe"
    assert len(rows["runtime"].split()[1]) == 9
    assert "SLA 33m20s: 6/9 met" in rows["runtime"]


def test_terminal_keeps_only_the_last_runs_that_fit() -> None:
    runs = [run(i, 100 + i, 1.0 + i) for i in range(1, 31)]
    text = render_terminal(timeline_of_runs(runs, None, "t"), width=10)
    assert text.splitlines()[0] == "t  (30 runs, last 10 shown)"
    bars = text.splitlines()[1].split()[1]
    assert len(bars) == 10 and bars[-1] == "█" and list(bars) == sorted(bars)
    assert "$22.00 .. $31.00" in text


def test_svg_draws_every_point_band_marker_anomaly_and_the_sla() -> None:
    tl = timeline_of_runs(story(), sla_seconds=2000, title="nightly")
    root = ET.fromstring(timeline_svg(tl))
    assert root.get("data-points") == "9"
    assert [c.get("data-run-id") for c in _classes(root, "runtime") if c.tag == f"{SVG}circle"] == \
        [str(i) for i in range(1, 10)]
    assert len([c for c in _classes(root, "cost") if c.tag == f"{SVG}circle"]) == 9
    # The story's two runs as found are the baseline (`server.timeline.BASELINE`), not learning trials.
    assert [b.get("data-phase") for b in _classes(root, "band")][::2] == \
        ["baseline", "learning", "optimizing", "monitoring"]
    assert [m.get("data-run-id") for m in _classes(root, "apply-marker")] == ["3", "4", "5", "8"]
    assert len(_classes(root, "anomaly")) == 4
    assert len(_classes(root, "sla")) == 1
    # The SLA line sits where a 2000 s runtime would be.
    sla_y = float(_classes(root, "sla")[0].get("y1") or 0)
    below = [float(c.get("cy") or 0) for c in _classes(root, "runtime") if c.tag == f"{SVG}circle"]
    runtimes = [p.runtime_s for p in tl.points]
    for cy, rt in zip(below, runtimes, strict=True):
        assert (cy > sla_y) == (rt < 2000)


def test_svg_without_sla_or_runs() -> None:
    root = ET.fromstring(timeline_svg(timeline_of_runs(story(), None)))
    assert _classes(root, "sla") == []
    empty = ET.fromstring(timeline_svg(timeline_of_runs([], None)))
    assert empty.get("data-points") == "0"


def test_html_page_is_self_contained_with_a_row_per_run() -> None:
    page = timeline_page(timeline_of_runs(story(), sla_seconds=2000, title="a <b> job"))
    assert "a &lt;b&gt; job" in page
    assert len(re.findall(r'class="run-row"', page)) == 9
    # Nothing fetched: the only URL is the SVG namespace.
    assert set(re.findall(r"https?://[^\"' )]+", page)) == {"http://www.w3.org/2000/svg"}
    assert "<script" not in page and "<link" not in page


def test_png_is_an_image_with_the_sla_line_only_when_there_is_an_sla() -> None:
    def red_pixels(png: bytes) -> int:
        pixels = mpimg.imread(io.BytesIO(png), format="png")
        r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
        # The SLA's red (#dc2626); anomaly labels are tiny, the dashed line is long.
        return int(np.sum((r > 0.7) & (g < 0.4) & (b < 0.4)))

    runs = [run(i, 1000 + 10 * i, 2.0) for i in range(1, 8)]
    with_sla = timeline_png(timeline_of_runs(runs, sla_seconds=1200))
    without = timeline_png(timeline_of_runs(runs, None))
    assert with_sla[:8] == b"\x89PNG\r\n\x1a\n"
    assert mpimg.imread(io.BytesIO(with_sla), format="png").shape[:2] == (600, 1000)
    assert red_pixels(with_sla) > 300 > red_pixels(without)


def test_write_timeline_picks_the_format_from_the_suffix(tmp_path: Path) -> None:
    tl = timeline_of_runs(story(), 2000, "nightly")
    assert write_timeline(tl, tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in write_timeline(tl, tmp_path / "t.html").read_text()
    with pytest.raises(ValueError, match="use .png, .html or .svg"):
        write_timeline(tl, tmp_path / "t.txt")


def test_formats() -> None:
    # Every part kept, as `trimtab project show` writes an SLA (tests/cli/test_coherence_p_sla_and_sla_text.py).
    assert [duration(5), duration(95), duration(4000), duration(None)] == ["5s", "1m35s", "1h06m40s", "-"]
    assert [duration(86399), duration(86400), duration(450000)] == ["23h59m59s", "1d00h", "5d05h"]
    assert [money(1234.5), money(-2, "USD"), money(3, "CHF")] == ["$1,234.50", "-$2.00", "3.00 CHF"]


def _with_an_unpriced_run() -> ProjectTimeline:
    # Run 3 has no cost (a node type the catalog lacks): it must be a gap, never a $0 run.
    runs = [run(1, 1200, 4.0), run(2, 1100, 5.0), run(3, 1000, None), run(4, 900, 3.0), run(5, 800, 2.0)]
    return timeline_of_runs(runs, sla_seconds=1500, title="nightly")


def _points_of(polyline: ET.Element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in (polyline.get("points") or "").split())]


def test_svg_breaks_the_cost_line_at_an_unpriced_run_and_marks_it() -> None:
    root = ET.fromstring(timeline_svg(_with_an_unpriced_run()))
    cost_lines = [e for e in _classes(root, "cost") if e.tag == f"{SVG}polyline"]
    cost_dots = {c.get("data-run-id"): c for c in _classes(root, "cost") if c.tag == f"{SVG}circle"}
    runtime_dots = {c.get("data-run-id"): c for c in _classes(root, "runtime") if c.tag == f"{SVG}circle"}
    # Two stretches (runs 1-2 and 4-5), nothing drawn for run 3, least of all at the $0 baseline.
    assert sorted(cost_dots) == ["1", "2", "4", "5"]
    assert [[x for x, _ in _points_of(line)] for line in cost_lines] == \
        [[float(cost_dots[r].get("cx") or 0) for r in pair] for pair in (("1", "2"), ("4", "5"))]
    # The runtime line is one unbroken line through all five runs.
    runtime_lines = [e for e in _classes(root, "runtime") if e.tag == f"{SVG}polyline"]
    assert len(runtime_lines) == 1 and len(_points_of(runtime_lines[0])) == 5
    # Run 3 is marked in the cost panel, at its x, and says it was not priced.
    marks = _classes(root, "unpriced")
    assert [m.get("data-run-id") for m in marks] == ["3"]
    assert "not priced" in "".join(marks[0].itertext())
    assert float(marks[0].get("data-x") or 0) == float(runtime_dots["3"].get("cx") or 0)
    tooltip = "".join(runtime_dots["3"].itertext())
    assert "not priced" in tooltip and "$0.00" not in tooltip
    assert "$4.00" in "".join(runtime_dots["1"].itertext())
    assert [a.get("data-run-id") for a in _classes(root, "anomaly-unpriced")] == ["3"]


def test_svg_of_only_unpriced_runs_draws_no_cost_line() -> None:
    root = ET.fromstring(timeline_svg(timeline_of_runs([run(1, 600, None), run(2, 700, None)], None)))
    assert [e for e in _classes(root, "cost") if e.tag in (f"{SVG}polyline", f"{SVG}circle")] == []
    assert [m.get("data-run-id") for m in _classes(root, "unpriced")] == ["1", "2"]


def test_png_leaves_a_gap_in_the_cost_line_not_a_zero() -> None:
    fig = timeline_figure(_with_an_unpriced_run())
    runtime_ax, cost_ax = fig.axes[:2]
    costs = np.asarray(cost_ax.lines[0].get_ydata(), dtype=float)
    assert np.isnan(costs[2]) and list(costs[[0, 1, 3, 4]]) == [4.0, 5.0, 3.0, 2.0]
    assert not np.isnan(np.asarray(runtime_ax.lines[0].get_ydata(), dtype=float)).any()
    legend = cost_ax.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["not priced"]
    assert timeline_png(_with_an_unpriced_run())[:4] == b"\x89PNG"


def test_html_says_not_priced_where_the_others_say_a_cost() -> None:
    tl = _with_an_unpriced_run()
    page = timeline_page(tl)
    rows = re.findall(r'<tr class="run-row" data-run-id="(\d+)">(.*?)</tr>', page)
    costs = {run_id: re.findall(r"<td class=num>([^<]*)</td>", row)[1] for run_id, row in rows}
    assert costs == {"1": "$4.00", "2": "$5.00", "3": "not priced", "4": "$3.00", "5": "$2.00"}
    assert "not priced" in legend_html()
    last_unpriced = timeline_of_runs([run(1, 600, 4.0), run(2, 600, None)], None)
    summary = summary_line(last_unpriced)
    assert "latest 10m00s / not priced" in summary and "1 not priced" in summary and "$0.00" not in summary
    assert "not priced" not in summary_line(timeline_of_runs([run(1, 600, 4.0)], None))


def test_terminal_leaves_a_gap_and_keeps_the_range_to_priced_runs() -> None:
    text = render_terminal(_with_an_unpriced_run())
    rows = {line.split()[0]: line for line in text.splitlines()[1:6]}
    bars = rows["cost"][9:14]
    assert bars[2] == GAP and GAP not in bars[:2] + bars[3:]
    assert "$2.00 .. $5.00 (1 not priced)" in rows["cost"] and "$0.00" not in text
    assert rows["events"][9:] == "  u"
    assert "u not priced" in text.splitlines()[-1]
    alone = render_terminal(timeline_of_runs([run(1, 600, None)], None), legend=False)
    assert alone.splitlines()[2] == f"cost     {GAP}  not priced"


def test_terminal_names_every_label_collection_writes() -> None:
    # A dead driver, a retried task and a repair are explained runs: each has its own letter and
    # legend entry, not the "?" of an unknown label.
    runs = [run(1, 100, 1.0), run(2, 100, 1.0, anomalies=("driver_lost",)), run(3, 100, 1.0, anomalies=("retried",)),
            run(4, 100, 1.0, anomalies=("repaired",)),
            run(5, 100, 1.0, outcome="failed", anomalies=("repaired", "repaired_elsewhere"))]
    text = render_terminal(timeline_of_runs(runs, None, "t"))
    events = next(line for line in text.splitlines() if line.startswith("events"))
    assert events == "events    DrRF"  # run 5 failed on its configuration: failure wins its column
    assert "D driver lost" in text and "r task retried" in text and "R repaired" in text
    labels = [a.label for a in timeline_of_runs(runs, None, "t").annotations]
    assert "repaired on another configuration" in labels and "task retried" in labels


def test_the_svg_axis_names_runs_by_their_ids() -> None:
    runs = [run(i, 100 + i, 1.0) for i in (10, 7, 4)]
    root = ET.fromstring(timeline_svg(timeline_of_runs(runs, None, "t")))
    assert sorted(t.text or "" for t in _classes(root, "tick")) == ["10", "4", "7"]


def test_the_png_axis_names_runs_by_their_ids() -> None:
    fig = timeline_figure(timeline_of_runs([run(i, 100 + i, 1.0) for i in (10, 7, 4)], None, "t"))
    fig.canvas.draw()
    axis = fig.axes[-1]
    assert [t.get_text() for t in axis.get_xticklabels() if t.get_text()] == ["4", "7", "10"]
    assert axis.get_xlabel() == "run id"
