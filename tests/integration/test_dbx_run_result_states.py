"""Each Jobs API result state (databricks-sdk ``RunResultState``) and termination code
(``TerminationCodeCode``) a task of a tuned cluster can end with, mapped on purpose (server.collect.run_parse)."""

from __future__ import annotations

from typing import Any

import pytest

from server.collect.run_parse import cluster_runs, task_outcome
from server.render.fmt import outcome_text

SPEC = {"node_type_id": "m5.xlarge", "num_workers": 2}


def _task(key: str, result: str | None, *, ran: bool = True, code: str | None = None,
          life: str = "TERMINATED") -> dict[str, Any]:
    task: dict[str, Any] = {"task_key": key, "job_cluster_key": "etl",
                            "state": {"life_cycle_state": life, **({"result_state": result} if result else {})}}
    if ran:
        task.update({"start_time": 1000, "end_time": 5000, "cluster_instance": {"cluster_id": "c-1"}})
    if code:
        task["status"] = {"termination_details": {"code": code}}
    return task


def _piece_outcome(*tasks: dict[str, Any]) -> str:
    run = {"run_id": 7, "job_id": 3, "start_time": 1000, "end_time": 5000, "state": {"life_cycle_state": "TERMINATED"},
           "job_clusters": [{"job_cluster_key": "etl", "new_cluster": SPEC}], "tasks": list(tasks)}
    (piece,) = cluster_runs(run)
    return piece.outcome


@pytest.mark.parametrize(("result", "outcome"), [
    ("SUCCESS", "succeeded"), ("SUCCESS_WITH_FAILURES", "succeeded"), ("FAILED", "failed"),
    ("TIMEDOUT", "timed_out"), ("CANCELED", "canceled"), ("UPSTREAM_FAILED", "canceled"),
    ("UPSTREAM_CANCELED", "canceled"), ("EXCLUDED", "left_out"), ("DISABLED", "left_out"),
    ("MAXIMUM_CONCURRENT_RUNS_REACHED", "left_out"), ("SOMETHING_NEW", "failed"),
])
def test_every_result_state_has_a_deliberate_outcome(result: str, outcome: str) -> None:
    assert task_outcome(_task("a", result)) == outcome


@pytest.mark.parametrize(("code", "outcome"), [
    ("SUCCESS", "succeeded"), ("USER_CANCELED", "canceled"), ("CANCELED", "canceled"), ("SKIPPED", "left_out"),
    ("RUN_EXECUTION_ERROR", "failed"), ("CLUSTER_ERROR", "failed"), ("DRIVER_ERROR", "failed"),
])
def test_without_a_result_state_the_termination_code_decides(code: str, outcome: str) -> None:
    assert task_outcome(_task("a", None, code=code)) == outcome


def test_a_timed_out_task_makes_its_piece_timed_out_not_failed() -> None:
    assert _piece_outcome(_task("a", "SUCCESS"), _task("b", "TIMEDOUT")) == "timed_out"
    # A failure of its own on the cluster is worse than a timeout; a timeout worse than a cancel.
    assert _piece_outcome(_task("a", "FAILED"), _task("b", "TIMEDOUT")) == "failed"
    assert _piece_outcome(_task("a", "CANCELED"), _task("b", "TIMEDOUT")) == "timed_out"
    assert outcome_text("timed_out") == "timed out" and outcome_text("failed") == "failed"


def test_a_task_skipped_for_another_clusters_failure_does_not_fail_this_cluster() -> None:
    # a ran and succeeded on etl; b, on etl too, never ran because a task on another cluster failed: etl's
    # configuration is not to blame (as "failed" it was avoided), but its run was cut short (not learned).
    assert _piece_outcome(_task("a", "SUCCESS"), _task("b", "UPSTREAM_FAILED", ran=False)) == "canceled"


def test_a_branch_the_job_did_not_take_leaves_the_cluster_run_whole() -> None:
    # An if/else whose other branch shares the cluster: EXCLUDED every night by design. As "canceled" no
    # run of such a job was ever learned.
    assert _piece_outcome(_task("a", "SUCCESS"), _task("else", "EXCLUDED", ran=False)) == "succeeded"
    assert _piece_outcome(_task("a", "SUCCESS"), _task("off", "DISABLED", ran=False)) == "succeeded"
    assert _piece_outcome(_task("a", "SUCCESS"), _task("skip", None, ran=False, life="SKIPPED")) == "succeeded"
