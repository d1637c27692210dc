import pytest

from server.domain import Project
from server.services.savings import YEAR_MS, input_drives_runtime, project_savings, savings_report
from tests.timeline.runs import HOUR_MS, run

PROJECT = Project(workspace="ws", job_id=7, cluster_key="main", id=1)


def test_per_run_savings_against_the_cluster_as_found() -> None:
    runs = [run(1, 1000, 10.0), run(2, 1000, 12.0),          # baseline: 11 a run
            run(3, 900, 13.0, rec=1),                         # a learning trial that cost more
            run(4, 800, 6.0, rec=2), run(5, 800, 5.0, rec=2), run(6, 800, 4.0, rec=2)]
    s = project_savings(PROJECT, runs)
    assert s is not None and s.basis == "per_run"
    assert s.baseline_cost_per_run == pytest.approx(11.0)
    assert s.current_cost_per_run == pytest.approx(5.0)  # the last three
    assert s.saved_to_date == pytest.approx((11 - 13) + (11 - 6) + (11 - 5) + (11 - 4))
    assert s.runs_per_year == pytest.approx(365.0)  # one a day
    assert s.projected_annual == pytest.approx(6.0 * 365)
    assert s.saving_fraction == pytest.approx(6 / 11)
    assert (s.baseline_runs, s.trimtab_runs, s.runs) == (2, 4, 6)


def test_failed_trimtab_runs_count_as_lost_and_failed_baseline_runs_are_not_the_baseline() -> None:
    runs = [run(1, 1000, 10.0), run(2, 200, 1.0, outcome="failed"),
            run(3, 300, 3.0, rec=1, outcome="failed"), run(4, 800, 6.0, rec=1)]
    s = project_savings(PROJECT, runs)
    assert s is not None
    assert s.baseline_cost_per_run == pytest.approx(10.0)
    assert s.saved_to_date == pytest.approx(-3.0 + 4.0)


def test_nothing_to_show_without_a_baseline_or_a_successful_trimtab_run() -> None:
    assert project_savings(PROJECT, [run(1, 1000, 10.0)]) is None
    assert project_savings(PROJECT, [run(1, 1000, 5.0, rec=1)]) is None
    assert project_savings(PROJECT, [run(1, 1000, 10.0), run(2, 10, 1.0, rec=1, outcome="failed")]) is None
    assert project_savings(PROJECT, [run(1, 1000, None), run(2, 900, 4.0, rec=1)]) is None


def test_growing_input_is_compared_per_gb() -> None:
    # Baseline: 1 per GB, runtime proportional to input. Then data doubles under Trimtab:
    # the cost per run rises, yet per GB it fell to 0.6, which is the saving.
    runs = [run(1, 100, 10.0, input_gb=10), run(2, 120, 12.0, input_gb=12), run(3, 140, 14.0, input_gb=14),
            run(4, 150, 15.0, rec=1, input_gb=25), run(5, 160, 15.0, rec=1, input_gb=25),
            run(6, 160, 15.0, rec=1, input_gb=25)]
    s = project_savings(PROJECT, runs)
    assert s is not None and s.basis == "per_input_gb"
    assert s.baseline_cost_per_gb == pytest.approx(1.0)
    assert s.current_cost_per_gb == pytest.approx(0.6)
    assert s.baseline_cost_per_run == pytest.approx(25.0) and s.current_cost_per_run == pytest.approx(15.0)
    assert s.saved_to_date == pytest.approx(3 * (25 - 15))
    per_run_view = (15 - 12) * 3  # what a per-run comparison would wrongly call a loss
    assert s.saved_to_date > 0 > -per_run_view


def test_input_that_does_not_drive_runtime_keeps_the_per_run_basis() -> None:
    noisy = [run(1, 100, 10.0, input_gb=10), run(2, 100, 10.0, input_gb=20), run(3, 100, 10.0, input_gb=30)]
    assert not input_drives_runtime(noisy, noisy)
    steady = [run(1, 100, 10.0, input_gb=10), run(2, 100, 10.0, input_gb=10.5)]
    assert not input_drives_runtime(steady, steady)
    unknown = [run(1, 100, 10.0, input_gb=10), run(2, 300, 10.0)]
    assert not input_drives_runtime(unknown, unknown)
    growing = [run(1, 100, 10.0, input_gb=10), run(2, 200, 20.0, input_gb=20), run(3, 300, 30.0, input_gb=30)]
    assert input_drives_runtime(growing, growing)
    # Input that changed only across clusters is no evidence: one baseline run, then a cache re-read.
    assert not input_drives_runtime(growing, growing[:2])


def test_cadence_comes_from_the_median_gap() -> None:
    runs = [run(1, 10, 2.0, gap_ms=HOUR_MS), run(2, 10, 2.0, gap_ms=HOUR_MS),
            run(3, 10, 1.0, rec=1, gap_ms=HOUR_MS)]
    s = project_savings(PROJECT, runs)
    assert s is not None and s.runs_per_year == pytest.approx(YEAR_MS / HOUR_MS)


def test_report_totals_only_projects_with_savings() -> None:
    other = Project(workspace="ws", job_id=8, cluster_key="main", id=2)
    a = [run(1, 10, 10.0), run(2, 10, 4.0, rec=1)]
    b = [run(1, 10, 3.0), run(2, 10, 2.0, rec=1)]
    c = [run(1, 10, 3.0)]
    report = savings_report([(PROJECT, a), (other, b), (Project(workspace="ws", job_id=9, cluster_key="k", id=3), c)])
    assert [p.project_id for p in report.projects] == [1, 2]
    assert report.total_saved_to_date == pytest.approx(6.0 + 1.0)
    assert report.total_projected_annual == pytest.approx((6.0 + 1.0) * 365)
    assert report.currency == "USD"
