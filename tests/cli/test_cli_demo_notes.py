"""Under `trimtab demo`'s table: why the saving stays preliminary however long the demo runs (the
cluster as found runs in the first round only) and why a final cluster may be slower than the one
found (the cheapest that meets the SLA). A newcomer read both as faults."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli.demo import _print_summary
from server.demo import DemoResult, JobSummary
from server.domain import Project


def _job(name: str, job_id: int, tmp_path: Path, *, start_s: float, final_s: float,
         baseline_runs: int, current_runs: int) -> JobSummary:
    return JobSummary(
        name=name, profile="sort", project=Project(workspace="sandbox", job_id=job_id, cluster_key="main", id=job_id),
        runs=12, start_cost=10.0, start_runtime_s=start_s, final_cost=4.0, final_runtime_s=final_s,
        saving_fraction=0.6, projected_annual=None, runs_per_year=None, cadence_basis=None, sla_seconds=None,
        sla_met_fraction=None, phases={"baseline": 1, "learning": 3, "optimizing": 8},
        timeline_png=tmp_path / f"{name}.png", timeline_html=tmp_path / f"{name}.html", terminal_timeline=name,
        baseline_runs=baseline_runs, current_runs=current_runs, preliminary=min(baseline_runs, current_runs) < 3)


def _out(jobs: tuple[JobSummary, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    _print_summary(DemoResult(jobs=jobs, rounds_total=12, runs_ingested_completely=24, runs_simulated=24,
                              state_dir=tmp_path))
    return capsys.readouterr().out


def test_a_slower_final_cluster_is_said_to_be_the_cheapest_by_design(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _out((_job("orders-etl-sla", 1, tmp_path, start_s=249, final_s=396, baseline_runs=1, current_runs=9),
                _job("nightly-sort-disk", 2, tmp_path, start_s=600, final_s=480, baseline_runs=1, current_runs=9)),
               tmp_path, capsys)
    note = next(line for line in out.splitlines() if line.startswith("FINAL TIME above START TIME"))
    assert "(orders-etl-sla)" in note and "nightly-sort-disk" not in note
    assert "cheapest" in note and "--sla" in note


def test_a_preliminary_saving_says_the_as_found_side_does_not_grow(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _out((_job("orders-etl-sla", 1, tmp_path, start_s=249, final_s=200, baseline_runs=1, current_runs=9),),
               tmp_path, capsys)
    assert "60% (1 vs 9 runs, preliminary)" in out
    assert "first round only" in out
    assert "FINAL TIME above" not in out


def test_no_note_when_nothing_needs_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _out((_job("orders-etl-sla", 1, tmp_path, start_s=249, final_s=200, baseline_runs=3, current_runs=9),),
               tmp_path, capsys)
    assert "preliminary" not in out and "FINAL TIME above" not in out
