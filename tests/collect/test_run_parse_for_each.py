"""A for-each task's iterations, read from runs/get of its own run, grouped on the nested task's
cluster key like tasks (server.collect.run_parse, pure)."""

from __future__ import annotations

from typing import Any

from server.collect.run_parse import cluster_runs, for_each_run_ids, with_iterations

SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 2}
OK = {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}
FAILED = {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "boom"}


def _run(nested: dict[str, Any]) -> dict[str, Any]:
    # As runs/get of the job run answers: the cluster is named only inside for_each_task.task.
    return {"run_id": 100, "job_id": 7, "state": OK, "start_time": 1000, "end_time": 90_000,
            "job_clusters": [{"job_cluster_key": "workers", "new_cluster": SPEC}],
            "tasks": [{"task_key": "loop", "run_id": 101, "start_time": 1000, "end_time": 90_000, "state": OK,
                       "for_each_task": {"inputs": "[1,2,3]", "concurrency": 2,
                                         "task": {"task_key": "loop_iteration", **nested}}}]}


def _iteration(run_id: int, start: int, end: int, cluster: str, state: dict[str, Any] = OK,
               **more: Any) -> dict[str, Any]:
    return {"task_key": "loop_iteration", "run_id": run_id, "start_time": start, "end_time": end, "state": state,
            "cluster_instance": {"cluster_id": cluster, "spark_context_id": "42"}, **more}


def test_without_its_iterations_a_for_each_task_makes_no_piece_and_is_named_for_reading() -> None:
    run = _run({"job_cluster_key": "workers"})
    assert cluster_runs(run) == [] and for_each_run_ids(run) == [101]
    # On an existing cluster or serverless: nothing Trimtab tunes, so nothing to read.
    assert for_each_run_ids(_run({"existing_cluster_id": "allpurpose"})) == []


def test_iterations_on_a_shared_job_cluster_are_one_piece_on_its_key() -> None:
    its = [_iteration(102, 1000, 40_000, "c-1", setup_duration=9000),
           _iteration(103, 1000, 41_000, "c-1", setup_duration=9000),
           _iteration(104, 41_000, 80_000, "c-1")]
    (piece,) = cluster_runs(with_iterations(_run({"job_cluster_key": "workers"}), {101: its}))
    assert (piece.cluster_key, piece.cluster_id, piece.outcome) == ("workers", "c-1", "succeeded")
    assert (piece.start_ms, piece.end_ms, piece.setup_ms, piece.spec) == (1000, 80_000, 9000, SPEC)
    # Each iteration is a task of its own, not a retry of the others.
    assert piece.task_keys == ("loop[102]", "loop[103]", "loop[104]") and piece.retried_attempts == 0
    assert piece.instances == (("c-1", 1000, 80_000),) and piece.wait_ms == 0


def test_a_retried_iteration_is_judged_by_its_last_attempt() -> None:
    its = [_iteration(102, 1000, 20_000, "c-1", FAILED, attempt_number=0),
           _iteration(105, 21_000, 40_000, "c-1", attempt_number=1, original_attempt_run_id=102),
           _iteration(103, 1000, 30_000, "c-1")]
    (piece,) = cluster_runs(with_iterations(_run({"job_cluster_key": "workers"}), {101: its}))
    assert piece.outcome == "succeeded" and piece.retried_attempts == 1
    assert piece.task_keys == ("loop[102]", "loop[103]")


def test_a_nested_new_cluster_is_one_piece_on_the_for_each_tasks_key_over_every_iterations_cluster() -> None:
    own = {**SPEC, "num_workers": 4}
    its = [_iteration(102, 1000, 30_000, "c-1"), _iteration(103, 1000, 32_000, "c-2", FAILED),
           _iteration(104, 32_000, 60_000, "c-3")]
    (piece,) = cluster_runs(with_iterations(_run({"new_cluster": own}), {101: its}))
    assert (piece.cluster_key, piece.spec, piece.outcome) == ("task:loop", own, "failed")
    assert [i[0] for i in piece.instances] == ["c-1", "c-2", "c-3"]
