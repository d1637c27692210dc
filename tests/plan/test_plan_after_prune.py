"""`trimtab db prune` leaves the planner deciding as before: it keeps every detail of each project's
newest 50 runs (the planner reads stage metrics and driver peaks of its newest 30 at most) and every
run's stages (the change screen compares the stage structure of the runs the planner reads)."""

from __future__ import annotations

from server.domain import Workspace
from server.store import Store
from tests.plan.test_plan_history_reads import _plan, _project_with_history

YEAR_MS = 365 * 86_400_000


def test_a_plan_after_pruning_every_old_run_decides_as_before(any_store: Store) -> None:
    any_store.workspaces.add(Workspace(name="ws", host="http://x", cloud="aws", plan="premium"), "enc")
    # 90 daily runs with a code change half way, failures, lost spot nodes and driver peaks.
    project = _project_with_history(any_store, 90)
    before = _plan(any_store, project)
    assert before["change_kind"] == "code_change"

    # Every run is older than the cutoff: the newest 50 keep their detail, the first 40 lose theirs.
    report = any_store.retention.prune_detail(any_store.clock.now_ms() + YEAR_MS)
    assert report.runs > 30 and report.rows["stage_executor_peaks"] > 0 and report.rows["driver_peaks"] > 0
    assert _plan(any_store, project) == before

    # Pruned down to the newest 10, the code change (run 45, among the pruned) is still dated where it
    # was: the stages it is seen by stay.
    any_store.retention.prune_detail(any_store.clock.now_ms() + YEAR_MS, keep_newest=10)
    after = _plan(any_store, project)
    assert (after["change_run_id"], after["change_kind"]) == (before["change_run_id"], before["change_kind"])
