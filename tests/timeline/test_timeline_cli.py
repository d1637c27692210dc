"""`trimtab timeline` and `trimtab savings` against a real gRPC server on a real SQLite store."""

from __future__ import annotations

import dataclasses
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
    assert "phase    BBLLOOOOM" in lines  # the two runs as found are the baseline, no learning trials
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
    assert "$10.20" in row and "$5.55" in row and "rec 3 (2)" in row and "estimate" in row
    assert "ws/42/main: 2 run(s) on a cluster edited outside Trimtab are left out" in text
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
    assert (p["current_source"], p["current_recommendation_id"], p["current_runs"]) == ("applied", "3", 2)
    assert (p["cost_basis"], p["user_edited_runs"]) == ("estimate", 2)


def test_savings_say_when_the_applied_recommendation_has_no_run_within_the_sla_yet(
        served: tuple[RunningServer, str, Store], capsys: pytest.CaptureFixture[str]) -> None:
    running, token, store = served
    project = store.projects.find("ws/42/main")
    # A recommendation no run has used yet (5) is the one applied now.
    store.projects.update(dataclasses.replace(project, pending_apply={
        "recommendation_id": 5, "applied_after_run_id": 1009, "confirmed": False}))
    code, text = cli(capsys, running, token, "savings")
    assert code == 0, text
    row = next(line for line in text.splitlines() if "ws/42/main" in line)
    assert "$6.37" in row and "last 3" in row  # 8.0, 5.5, 5.6: what was shown before, labelled
    assert ("ws/42/main: the recommendation applied now has no succeeded run within the SLA yet: now/run is "
            "the last 3 succeeded Trimtab runs, learning trials included") in text
    code, text = cli(capsys, running, token, "--json", "savings", "ws/42/main")
    p = json.loads(text)["projects"][0]
    assert (p["current_source"], p["current_runs"]) == ("recent", 3) and p["current_recommendation_id"] == ""
    assert p["has_sla"] is True  # the note's "within the SLA" comes from the reply, not a second call


def test_unknown_project_is_one_clear_line(served: tuple[RunningServer, str, Store],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    running, token, _ = served
    code, text = cli(capsys, running, token, "timeline", "ws/1/nope")
    assert code == 1 and "not found" in text and len(text.strip().splitlines()) == 1


def test_savings_notes_say_the_cost_basis_when_bills_are_mixed() -> None:
    from protos.trimtab.v1 import admin_pb2
    from server.cli.savings import now_from, project_notes

    mixed = admin_pb2.ProjectSavings(project_name="p", current_source="applied", current_recommendation_id="4",
                                     current_runs=3, cost_basis="estimate", billed_runs=2)
    assert now_from(mixed) == "rec 4 (3)"
    assert project_notes(mixed) == ["2 of the runs compared have a bill; not all do, so every run is compared "
                                    "on its catalog estimate"]
    billed = admin_pb2.ProjectSavings(project_name="p", current_source="applied", cost_basis="billed", billed_runs=5)
    assert project_notes(billed) == []
