"""Savings per GB scale only the execution of a run as found, not its cluster setup (review: savings loop).

Two identical jobs, one tuned and one ("control") left on the cluster as found; five runs at 1x input,
then five at 4x. `trimtab savings` put the cluster as found at $1.30 a run on the 4x data, a 78 % saving,
$5.77 saved to date and $369 a year, because it scaled the whole baseline run's cost per GB: 181 s of
its 249 s were the cluster's setup, which the data does not grow. The control job, the cluster as found
actually run on the 4x data, cost $0.538 a run (~48 %, ~$94 a year), and the nine tuned runs cost $2.28
in all, less than the $5.77 "saved". The figures below are the reviewer's runs as stored."""

from __future__ import annotations

import dataclasses

import pytest

from server.domain import ClusterConfig, CostBreakdown, Project, ProjectSettings, Recommendation, Run
from server.services.savings import (
    EXTRAPOLATION_LIMIT,
    ProjectSavings,
    project_savings,
    stored_project_savings,
)
from server.store import Store
from server.timeline import INPUT_SHIFT, ChangePoint
from tests.timeline.runs import run

# (runtime s, setup s, $ estimate, input GB, recommendation) of the tuned job, as the reviewer's store has them.
TUNED = [
    (249.102, 181.262, 0.316320, 60.180, None),  # the cluster as found: m5d.2xlarge x 10
    (349.753, 219.075, 0.162372, 60.361, 1),
    (387.506, 241.276, 0.150424, 60.542, 3),
    (415.932, 308.927, 0.155118, 60.723, 5),
    (371.678, 249.540, 0.137594, 60.905, 5),
    (650.354, 230.134, 0.243791, 244.353, 5),  # the input is 4x from here (the model's input shift)
    (634.941, 247.315, 0.272577, 245.086, 11),
    (695.203, 201.327, 0.272365, 245.821, 13),
    (718.297, 316.955, 0.293304, 246.558, 15),
    (672.184, 292.780, 0.276038, 247.298, 15),
]
SHIFT_AT = 6
# The control job's last five runs: the cluster as found on the 4x data.
CONTROL_X4 = [0.571, 0.524, 0.440, 0.552, 0.601]
SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.2xlarge", "num_workers": 10}


def _runs(setups: bool = True) -> list[Run]:
    return [dataclasses.replace(run(i, rt, cost, rec=rec, input_gb=gb, phase="learning" if rec is None else "optimizing"),
                                setup_s=setup if setups else None)
            for i, (rt, setup, cost, gb, rec) in enumerate(TUNED, start=1)]


def _project() -> Project:
    return Project(workspace="ws", job_id=1, cluster_key="main", current_spec=SPEC, original_spec=SPEC, id=1,
                   settings=ProjectSettings(sla_seconds=720.0, auto_apply=True))


def _savings(runs: list[Run]) -> ProjectSavings:
    found = project_savings(_project(), runs, changes=[ChangePoint(SHIFT_AT, INPUT_SHIFT)])
    assert found is not None
    return found


def _expected_before(gb: float) -> float:
    """The run as found: its setup's share held, its execution scaled with input."""
    runtime, setup, cost, input_gb, _ = TUNED[0]
    fixed = cost * setup / runtime
    return fixed + (cost - fixed) / input_gb * gb


def test_after_the_input_grew_4x_only_the_execution_of_the_run_as_found_scales() -> None:
    found = _savings(_runs())
    truth = sum(CONTROL_X4) / len(CONTROL_X4)  # $0.538: the cluster as found, run on the 4x data
    today = sum(gb for *_, gb, _ in TUNED[-3:]) / 3
    assert found.basis == "per_input_gb"
    assert found.baseline_cost_per_run == pytest.approx(_expected_before(today))  # $0.583, was $1.30
    assert found.baseline_cost_per_run == pytest.approx(truth, rel=0.10)
    assert found.baseline_fixed_cost == pytest.approx(0.316320 * 181.262 / 249.102)
    assert found.baseline_cost_per_gb == pytest.approx(found.baseline_cost_per_run / today)
    # The saving: ~51 % against the truth's 47-48 %, not 78 %.
    assert found.saving_fraction is not None and 0.45 < found.saving_fraction < 0.55
    assert found.saving_fraction == pytest.approx(1 - found.current_cost_per_run / truth, abs=0.05)
    # Saved to date: each tuned run against a run as found of its own input; below what the nine tuned
    # runs cost in all ($2.28 + the control's ~$2.49 saving: the old $5.77 was more than both).
    expected = sum(_expected_before(gb) - cost for _, _, cost, gb, rec in TUNED if rec is not None)
    assert found.saved_to_date == pytest.approx(expected)
    assert 2.0 < found.saved_to_date < 2.6
    # A year of it (365 runs: one a day) at ~$0.30 a run, not ~$1.01.
    assert found.runs_per_year == pytest.approx(365.0)
    assert found.projected_annual == pytest.approx(
        (found.baseline_cost_per_run - found.current_cost_per_run) * 365.0)
    assert 90.0 < found.projected_annual < 120.0


def test_a_baseline_far_from_todays_input_is_preliminary_saved_to_date_too() -> None:
    found = _savings(_runs())
    assert found.extrapolated and found.extrapolated_from_gb == pytest.approx(60.180)
    assert found.input_gb_now == pytest.approx(246.559, abs=1e-3)
    assert found.preliminary and found.saved_to_date_preliminary
    assert "extrapolated from the cluster as found's runs at 60 GB" in found.baseline_note
    # Before the shift, today's input is the baseline's own: measured, not extrapolated.
    early = project_savings(_project(), _runs()[:5])
    assert early is not None and early.basis == "per_run" and not early.extrapolated
    assert early.baseline_note == ""


def test_within_the_limit_the_baseline_is_not_extrapolated() -> None:
    # Today's input 1.4x the baseline's (below EXTRAPOLATION_LIMIT): per GB, setup split, no mark for it.
    runs = _runs()[:5] + [dataclasses.replace(r, input_bytes=int(r.input_bytes * 1.4 / 4.06))
                          for r in _runs()[5:]]
    found = _savings(runs)
    assert found.basis == "per_input_gb" and 1.3 < (found.input_gb_now or 0) / 60.18 < EXTRAPOLATION_LIMIT
    assert not found.extrapolated and found.baseline_fixed_cost > 0


def test_a_baseline_run_without_a_setup_figure_takes_the_projects_mean_setup() -> None:
    runs = _runs()
    runs[0] = dataclasses.replace(runs[0], setup_s=None)
    found = _savings(runs)
    mean_setup = sum(setup for _, setup, *_ in TUNED[1:]) / (len(TUNED) - 1)  # the tuned runs' setups
    runtime, _, cost, *_ = TUNED[0]
    assert found.setup_known
    assert found.baseline_fixed_cost == pytest.approx(cost * min(mean_setup / runtime, 0.95))


def test_no_setup_known_scales_the_whole_cost_and_says_so() -> None:
    found = _savings(_runs(setups=False))
    assert not found.setup_known and found.baseline_fixed_cost == 0.0
    assert found.baseline_cost_per_run == pytest.approx(1.296, abs=0.001)  # the old figure, as an upper bound
    assert "no run reports its cluster setup" in found.baseline_note
    assert found.saved_to_date_preliminary


# ------------------------------------------------------------------ the store (SQLite and PostgreSQL)


def test_the_store_keeps_the_setup_the_split_needs(any_store: Store) -> None:
    project = any_store.projects.add(dataclasses.replace(_project(), id=None))
    pid = int(project.id or 0)
    recs: dict[int, int] = {}
    stored: list[Run] = []
    for r in _runs():
        rec_id = None
        if r.recommendation_id is not None:
            if r.recommendation_id not in recs:
                # The planner stores the input shift on the recommendations it makes after it.
                after_shift = r.id is not None and r.id > SHIFT_AT
                recs[r.recommendation_id] = int(any_store.recommendations.add(Recommendation(
                    project_id=pid, config=ClusterConfig(node_type_id="c6id.2xlarge", num_workers=3), state="applied",
                    change_run_id=stored[SHIFT_AT - 1].id if after_shift else None,
                    change_kind=INPUT_SHIFT if after_shift else None)).id or 0)
            rec_id = recs[r.recommendation_id]
        stored.append(any_store.runs.add(dataclasses.replace(
            r, id=None, project_id=pid, recommendation_id=rec_id,
            cost=CostBreakdown(total=r.cost.total if r.cost else 0.0)))
        )
    found = stored_project_savings(any_store, project)
    pure = _savings(_runs())
    assert found is not None and found.basis == "per_input_gb" and found.input_shift_run_id == stored[SHIFT_AT - 1].id
    assert found.baseline_cost_per_run == pytest.approx(pure.baseline_cost_per_run)
    assert found.saved_to_date == pytest.approx(pure.saved_to_date)
    assert found.extrapolated and found.saved_to_date_preliminary
