"""A project whose Trimtab runs all failed (review rev15a finding 5): `trimtab savings` said "a
project needs a run as found and a run with an applied recommendation" though it had both (failed),
and the cost of those runs, which docs/savings.md counts against the savings, showed nowhere."""

from __future__ import annotations

import json

from server.domain import ClusterConfig, CostBreakdown, Project, Recommendation, Run
from server.store import Store
from tests.cli.conftest import NIGHTLY_SPEC, Trimtab

HOUR_MS = 3_600_000
T0 = 1_796_000_000_000


def _all_failed(store: Store, project: Project) -> None:
    pid = int(project.id or 0)
    config = ClusterConfig(node_type_id="m5.xlarge", num_workers=4, spec=NIGHTLY_SPEC)
    store.runs.add(Run(project_id=pid, databricks_run_id=200, start_ms=T0, end_ms=T0 + 600_000, runtime_s=600.0,
                       outcome="succeeded", config=config, cost=CostBreakdown(dbu_cost=0.4, compute_cost=0.6,
                                                                             total=1.0)))
    rec = store.recommendations.add(Recommendation(project_id=pid, config=config, predicted_runtime_s=100,
                                                   runtime_interval_s=(90, 110), predicted_cost=0.5,
                                                   cost_interval=(0.4, 0.6), reason="x", phase="learning"))
    for i in range(3):
        start = T0 + 24 * (i + 1) * HOUR_MS
        store.runs.add(Run(project_id=pid, databricks_run_id=201 + i, start_ms=start, end_ms=start + 600_000,
                           runtime_s=600.0, outcome="failed", config=config, recommendation_id=rec.id,
                           cost=CostBreakdown(dbu_cost=0.2, compute_cost=0.4, total=0.6)))


def test_a_project_whose_trimtab_runs_all_failed_says_so_with_their_cost(trimtab: Trimtab, cli_store: Store,
                                                                         nightly: Project) -> None:
    _all_failed(cli_store, nightly)
    code, out, _ = trimtab("savings")
    assert code == 0
    assert "a succeeded run as found and a succeeded run with an applied recommendation" in out
    assert ("prod/42/main: no savings yet: its 3 Trimtab run(s) all failed or were canceled; they cost $1.80, "
            "which counts against the savings once a Trimtab run succeeds") in out
    code, out, _ = trimtab("--json", "savings")
    report = json.loads(out)
    assert report["projects"] == [] and report["total_saved_to_date"] == 0.0
    [waiting] = report["waiting"]
    assert (waiting["project_id"], waiting["failed_runs"], waiting["baseline_runs"]) == (str(nightly.id), 3, 1)
    assert abs(waiting["failed_cost"] - 1.8) < 1e-9


def test_without_a_run_as_found_the_failed_runs_count_against_nothing_yet() -> None:
    # Review rev15d: with no succeeded run of the cluster as found, no saving follows a Trimtab
    # run's success either; the line promised their cost would count against one.
    from server.services.savings import NoSavingsYet

    reason = NoSavingsYet(1, "prod/42/main", failed_runs=2, failed_cost=3.0, baseline_runs=0).reason
    assert reason == ("no savings yet: its 2 Trimtab run(s) all failed or were canceled and no run of the cluster "
                      "as found succeeded; they cost $3.00; a saving needs a succeeded run of the cluster as "
                      "found to compare with first")
    assert "counts against" not in reason
