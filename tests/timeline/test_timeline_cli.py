"""`trimtab timeline` and `trimtab savings` against a real gRPC server on a real SQLite store."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.serve import RunningServer
from server.store import Store
from tests.timeline.seed import cli, serving


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[RunningServer, str, Store]]:
    with serving(tmp_path) as running:
        yield running


def test_timeline_in_the_terminal(served: tuple[RunningServer, str, Store],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    running, token, _ = served
    code, text = cli(capsys, running, token, "timeline", "ws/42/main")
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0] == "nightly etl (ws/42/main)  (9 runs)"
    assert "phase    LLLLOOOOM" in lines
    assert "SLA 33m20s: 6/9 met" in lines[1]


def test_timeline_files(served: tuple[RunningServer, str, Store], capsys: pytest.CaptureFixture[str],
                        tmp_path: Path) -> None:
    running, token, _ = served
    code, text = cli(capsys, running, token, "timeline", "ws/42/main", "--out", str(tmp_path / "t.html"))
    assert code == 0 and "(9 runs)" in text
    page = (tmp_path / "t.html").read_text()
    svg = page[page.index("<svg"):page.index("</svg>") + 6]
    assert ET.fromstring(svg).get("data-points") == "9"
    code, _ = cli(capsys, running, token, "timeline", "ws/42/main", "--out", str(tmp_path / "t.png"))
    assert code == 0 and (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    code, text = cli(capsys, running, token, "timeline", "ws/42/main", "--out", str(tmp_path / "t.jpg"))
    assert code == 2 and "must end in .png, .html or .svg" in text


def test_savings_table_and_json(served: tuple[RunningServer, str, Store],
                                capsys: pytest.CaptureFixture[str]) -> None:
    running, token, _ = served
    code, text = cli(capsys, running, token, "savings")
    assert code == 0, text
    row = next(line for line in text.splitlines() if "ws/42/main" in line)
    # Baseline: mean of 10.0 and 10.4. Now: recommendation 3, the one on the cluster (runs 8 and 9 are
    # on the user's edit), its runs within the 2000 s SLA: 5.5 and 5.6 (not the last three, 8.0, 5.5, 5.6).
    assert "$10.20" in row and "$5.55" in row
    # The fixture's job has no schedule: runs a year come from the gaps between its runs.
    assert "(observed)" in row
    assert "runs/year: from each job's unpaused schedule, else the observed gaps" in text
    code, text = cli(capsys, running, token, "--json", "savings", "ws/42/main")
    data = json.loads(text)
    # Runs 8 and 9 (the user's configuration) are not Trimtab's to credit.
    saved = (10.2 - 6.0) + (10.2 - 8.0) + (10.2 - 5.5) + (10.2 - 5.6) - 1.0
    p = data["projects"][0]
    assert p["saved_to_date"] == pytest.approx(saved)
    assert data["total_saved_to_date"] == pytest.approx(saved)
    assert p["cadence_basis"] == "observed" and p["runs_per_year"] > 0


def test_unknown_project_is_one_clear_line(served: tuple[RunningServer, str, Store],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    running, token, _ = served
    code, text = cli(capsys, running, token, "timeline", "ws/1/nope")
    assert code == 1 and "not found" in text and len(text.strip().splitlines()) == 1
