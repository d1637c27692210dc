"""A job's timeout that fires while another cluster's task runs does not make this cluster too slow.

Cluster B's own task succeeds in 2 minutes; B's second task waits on a task on cluster A and the job's
timeout ends it before it ever starts (TERMINATED / TIMEDOUT, start_time 0, as the emulator's finish_run
and the service leave a task that never ran). B's piece is judged by the tasks that ran on it: canceled
and 2 minutes long, so the planner neither avoids B as "too slow" nor moves it bigger. A, whose task the
timeout stopped while it ran, stays timed out. (Review owndiff2: B came out timed_out after 59 minutes.)
"""

from __future__ import annotations

from typing import Any

from server.collect.run_parse import ClusterRun, cluster_runs, never_ran
from server.costing.catalog import load_catalog
from server.domain import Project, ProjectSettings, Run
from server.plan.planner import plan_project
from server.spec import config_from_spec
from server.store import Store

M = 60_000
DAY = 86_400_000
SPEC_B = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2,
          "aws_attributes": {"availability": "ON_DEMAND"}}
SPEC_A = {**SPEC_B, "num_workers": 8}


def _task(key: str, cluster: str, start: int, end: int, result: str, deps: tuple[str, ...] = ()) -> dict[str, Any]:
    """A task run as runs/get lists it; one that never started has start_time 0, no cluster and no time spent."""
    task: dict[str, Any] = {
        "task_key": key, "job_cluster_key": cluster, "run_id": 1000 + len(key) + ord(key[-1]), "attempt_number": 0,
        "start_time": start, "end_time": end, "depends_on": [{"task_key": d} for d in deps],
        "setup_duration": 0, "execution_duration": end - start if start else 0,
        "state": {"life_cycle_state": "TERMINATED", "result_state": result,
                  "state_message": "Run timed out" if result == "TIMEDOUT" else ""}}
    if start:
        task["cluster_instance"] = {"cluster_id": f"c-{cluster}", "spark_context_id": "1"}
    return task


def _run(b_after: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": 9, "job_id": 7, "start_time": DAY, "end_time": DAY + 60 * M,
            "state": {"life_cycle_state": "TERMINATED", "result_state": "TIMEDOUT"},
            "job_clusters": [{"job_cluster_key": "A", "new_cluster": SPEC_A},
                             {"job_cluster_key": "B", "new_cluster": SPEC_B}],
            "tasks": [_task("a_long", "A", DAY + M, DAY + 60 * M, "TIMEDOUT"),
                      _task("b_first", "B", DAY + M, DAY + 3 * M, "SUCCESS"), b_after]}


def _pieces(run: dict[str, Any]) -> dict[str, ClusterRun]:
    return {p.cluster_key: p for p in cluster_runs(run)}


def test_a_task_that_never_started_does_not_time_out_its_cluster() -> None:
    waiting = _task("b_after_a", "B", 0, DAY + 60 * M, "TIMEDOUT", deps=("a_long",))
    assert never_ran(waiting)
    pieces = _pieces(_run(waiting))
    assert (pieces["A"].outcome, pieces["A"].runtime_s) == ("timed_out", 59 * 60.0)
    # B: canceled (cut short by another cluster's slowness, as UPSTREAM_FAILED is), over the time its own task ran.
    assert (pieces["B"].outcome, pieces["B"].runtime_s) == ("canceled", 2 * 60.0)
    assert pieces["B"].task_keys == ("b_first", "b_after_a")


def test_a_task_the_timeout_stopped_while_it_ran_on_the_cluster_still_times_it_out() -> None:
    running = _task("b_after_a", "B", DAY + 4 * M, DAY + 60 * M, "TIMEDOUT")
    assert not never_ran(running)
    assert (_pieces(_run(running))["B"].outcome, _pieces(_run(running))["B"].runtime_s) == ("timed_out", 59 * 60.0)


def test_a_task_with_a_start_time_but_no_cluster_and_no_time_spent_never_ran() -> None:
    # The durations say what the start time alone does not: no setup, no execution, no cluster instance.
    queued = {**_task("b_after_a", "B", 0, DAY + 60 * M, "TIMEDOUT"), "start_time": DAY + 59 * M}
    assert never_ran(queued)
    assert _pieces(_run(queued))["B"].outcome == "canceled"


def _project(store: Store, job_id: int) -> int:
    settings = ProjectSettings(allowed_families=("m5d",), min_workers=1, max_workers=16, spot_allowed=False,
                               sla_seconds=1800.0)
    project = store.projects.add(Project(workspace="ws", job_id=job_id, cluster_key="B", current_spec=SPEC_B,
                                         original_spec=SPEC_B, settings=settings))
    return int(project.id or 0)


def test_the_planner_does_not_move_the_waiting_cluster_bigger(store: Store) -> None:
    pid = _project(store, 7)
    piece = _pieces(_run(_task("b_after_a", "B", 0, DAY + 60 * M, "TIMEDOUT", deps=("a_long",))))["B"]
    # As server.collect.build.build_run labels a piece: only a timed_out one carries "timeout".
    store.runs.add(Run(project_id=pid, databricks_run_id=piece.run_id, cluster_id=piece.cluster_id,
                       start_ms=piece.start_ms, end_ms=piece.end_ms, runtime_s=piece.runtime_s,
                       outcome=piece.outcome, config=config_from_spec(SPEC_B, cloud="aws"),
                       anomalies=("timeout",) if piece.outcome == "timed_out" else ()))
    rec = plan_project(store, pid, load_catalog())
    # Was m5d.2xlarge x 3, "timed out: m5d.xlarge x 2 workers after 3540s ... avoided": the next run bigger
    # than B. Now the cut-short run is not learned and says nothing of B: the first run to measure is the
    # one a project with no run at all would measure.
    fresh = plan_project(store, _project(store, 8), load_catalog())
    assert rec is not None and fresh is not None
    assert "timed out" not in rec.reason and "1 run was cancelled" in rec.reason, rec.reason
    assert rec.config == fresh.config, (rec.reason, fresh.reason)
