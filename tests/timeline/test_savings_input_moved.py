"""A change of input size between the cluster as found's runs and Trimtab's is neither a saving nor a
loss (docs/savings.md, "Basis"): when every run's input is known and the two sides differ by more than
the noise, the comparison is per GB of input, preliminary without the baseline's own evidence, and said.
Per run, one baseline run at 100 GB against Trimtab's at 72 GB on a cluster as dear read as a 27.5 %
saving (review: data that shrank reported as a saving)."""

from __future__ import annotations

import pytest

from server.api import messages
from server.cli.savings import project_notes
from server.domain import ClusterConfig, CostBreakdown, Project, ProjectSettings, Run
from server.services.savings import project_savings, savings_report

DAY_MS = 86_400_000
SETUP_S = 120.0
S_PER_GB = 5.0  # execution seconds per GB of input, the same on both clusters

FOUND = ClusterConfig(node_type_id="m5d.xlarge", num_workers=4, availability="ON_DEMAND", first_on_demand=1,
                      spec={"node_type_id": "m5d.xlarge", "num_workers": 4,
                            "aws_attributes": {"availability": "ON_DEMAND"}})
TUNED = ClusterConfig(node_type_id="m6id.xlarge", num_workers=4, availability="ON_DEMAND", first_on_demand=1,
                      spec={"node_type_id": "m6id.xlarge", "num_workers": 4,
                            "aws_attributes": {"availability": "ON_DEMAND"}})


def _run(day: int, gb: float, rec: int | None, per_second: float) -> Run:
    """A run of ``gb`` GB; on one cluster its cost follows its time (setup included), as it is priced."""
    runtime = SETUP_S + S_PER_GB * gb
    total = per_second * runtime
    return Run(project_id=1, databricks_run_id=day, start_ms=day * DAY_MS, end_ms=day * DAY_MS + int(runtime * 1000),
               runtime_s=runtime, setup_s=SETUP_S, config=FOUND if rec is None else TUNED,
               input_bytes=int(gb * 1e9), recommendation_id=rec,
               cost=CostBreakdown(dbu_cost=total / 2, compute_cost=total / 2, total=total))


def _project() -> Project:
    return Project(id=1, workspace="w", job_id=1, cluster_key="main", settings=ProjectSettings(auto_apply=True))


def test_a_shrunk_input_on_a_cluster_as_dear_is_no_saving() -> None:
    # The review's case: one run as found at 100 GB (auto-apply on at import), then Trimtab's at 72 GB
    # (1.39x less: under the model's 1.5x shift) on a cluster that costs exactly as much a second.
    runs = [_run(1, 100, None, 0.001)] + [_run(day, 72, 7, 0.001) for day in range(2, 8)]
    s = project_savings(_project(), runs)
    assert s is not None
    assert s.saving_fraction == pytest.approx(0.0, abs=1e-9)
    assert s.saved_to_date == pytest.approx(0.0, abs=1e-9)
    assert s.projected_annual == pytest.approx(0.0, abs=1e-9)
    assert s.baseline_cost_per_run == pytest.approx(s.current_cost_per_run)
    assert (s.basis, s.per_gb_unproven, s.preliminary, s.saved_to_date_preliminary) == ("per_input_gb", True, True, True)
    assert (s.input_moved_from_gb, s.input_gb_now) == (pytest.approx(100.0), pytest.approx(72.0))
    assert "100 GB a run then, 72 GB now" in s.baseline_note
    # Nothing of the shrink reaches the totals.
    report = savings_report([(_project(), runs)])
    assert report.total_saved_to_date == pytest.approx(0.0, abs=1e-9)
    assert report.total_projected_annual == pytest.approx(0.0, abs=1e-9)
    # `trimtab savings` says why under its table (the server's baseline_note).
    [sent] = messages.savings(report).projects
    assert any("72 GB now" in note for note in project_notes(sent))


def test_a_grown_input_is_no_loss_and_the_saving_is_the_clusters() -> None:
    # Three runs as found at 100 GB (one size: no evidence that runtime follows input), then Trimtab's
    # at 125 GB on a cluster 20 % cheaper a second. Per run the growth ate the saving (3.9 %).
    runs = [_run(day, 100, None, 0.001) for day in range(1, 4)]
    runs += [_run(day, 125, 7, 0.0008) for day in range(4, 10)]
    s = project_savings(_project(), runs)
    assert s is not None
    assert s.basis == "per_input_gb" and s.per_gb_unproven
    assert s.saving_fraction == pytest.approx(0.20)
    assert s.saved_to_date == pytest.approx(6 * 0.2 * 0.001 * (SETUP_S + S_PER_GB * 125))
    assert s.input_moved_from_gb == pytest.approx(100.0)


def test_a_recent_move_is_compared_per_gb_though_the_runs_before_it_were_not() -> None:
    # Twenty Trimtab runs at the baseline's input, then three at 75 GB: the mean over all of them is
    # within the noise, but now/run and the projection are today's input's. Each run is compared with
    # the cluster as found at its own input: 20 % saved on every one.
    runs = [_run(day, 100, None, 0.001) for day in range(1, 4)]
    runs += [_run(day, 100, 7, 0.0008) for day in range(4, 24)]
    runs += [_run(day, 75, 7, 0.0008) for day in range(24, 27)]
    s = project_savings(_project(), runs)
    assert s is not None
    assert (s.basis, s.input_gb_now, s.input_moved_from_gb) == ("per_input_gb", pytest.approx(75.0),
                                                                pytest.approx(100.0))
    assert s.baseline_cost_per_run == pytest.approx(0.001 * (SETUP_S + S_PER_GB * 75))
    # Now/run at today's 75 GB from the runs of the cluster now, mostly at 100 GB: their setup is held,
    # not scaled with the input (scaled whole, it read 24.4 %).
    assert s.current_cost_per_run == pytest.approx(0.0008 * (SETUP_S + S_PER_GB * 75))
    assert s.saving_fraction == pytest.approx(0.20)
    assert s.saved_to_date == pytest.approx(0.2 * 0.001 * (20 * (SETUP_S + S_PER_GB * 100) + 3 * (SETUP_S + S_PER_GB * 75)))


def test_an_input_within_the_noise_or_not_known_everywhere_stays_per_run() -> None:
    # 100 GB then 95 GB: within the 10 % an input varies by from run to run. Compared per run as before,
    # but no longer when the same job's input has moved by 15 %.
    found = [_run(day, 100, None, 0.001) for day in range(1, 4)]
    near = project_savings(_project(), found + [_run(day, 95, 7, 0.0008) for day in range(4, 8)])
    moved = project_savings(_project(), found + [_run(day, 85, 7, 0.0008) for day in range(4, 8)])
    assert near is not None and moved is not None
    assert (near.basis, moved.basis) == ("per_run", "per_input_gb")
    assert (near.per_gb_unproven, near.input_moved_from_gb) == (False, None)
    assert moved.saving_fraction == pytest.approx(0.20)
    # One run's spike (175 GB among runs of 100) is that run's, not a new input size.
    spike = [_run(day, 175 if day == 5 else 100, 7, 0.0008) for day in range(4, 8)]
    spiked = project_savings(_project(), found + spike)
    assert spiked is not None and spiked.basis == "per_run"
    # Trimtab's earlier runs sent no input size (no agent then): per GB would put them at 0 GB.
    blind = [Run(**{**r.__dict__, "input_bytes": None}) for r in (_run(day, 100, 7, 0.0008) for day in range(4, 8))]
    partly = project_savings(_project(), found + blind + [_run(day, 72, 7, 0.0008) for day in range(8, 11)])
    assert partly is not None and partly.basis == "per_run"
