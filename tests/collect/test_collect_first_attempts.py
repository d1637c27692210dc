"""`first_attempts`: a repaired run as its first attempt left it, before any repair (pure)."""

from __future__ import annotations

from typing import Any

from server.collect.run_parse import cluster_runs, first_attempts

FIRST = {"spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.xlarge", "num_workers": 4}
REPAIR = {**FIRST, "num_workers": 6}


def _task(run_id: int, attempt: int, cluster: str, start: int, end: int, result: str) -> dict[str, Any]:
    return {"run_id": run_id, "task_key": "main", "job_cluster_key": "main", "attempt_number": attempt,
            "cluster_instance": {"cluster_id": cluster, "spark_context_id": f"ctx-{cluster}"},
            "start_time": start, "end_time": end,
            "state": {"life_cycle_state": "TERMINATED", "result_state": result}}


def _repaired_run(with_original: bool) -> dict[str, Any]:
    history: list[dict[str, Any]] = [{"type": "REPAIR", "id": 9, "start_time": 5000, "end_time": 8000,
                                      "task_run_ids": [12]}]
    if with_original:
        history.insert(0, {"type": "ORIGINAL", "start_time": 1000, "end_time": 3000, "task_run_ids": [11]})
    return {"run_id": 10, "job_id": 1, "start_time": 1000, "end_time": 8000,
            "job_clusters": [{"job_cluster_key": "main", "new_cluster": REPAIR}],  # the repair's settings
            "tasks": [_task(11, 0, "c-first", 1000, 3000, "FAILED"), _task(12, 1, "c-repair", 5000, 8000, "SUCCESS")],
            "repair_history": history}


def test_a_repaired_runs_first_attempt_is_its_original_task_runs() -> None:
    for with_original in (True, False):  # without an ORIGINAL item: the task runs no repair started
        (piece,) = first_attempts(_repaired_run(with_original)).values()
        assert (piece.cluster_id, piece.outcome, piece.start_ms, piece.end_ms) == ("c-first", "failed", 1000, 3000)
        assert piece.repaired_attempts == 0 and piece.instances == (("c-first", 1000, 3000),)
        # The run's job_clusters show the repair's settings: the first attempt's is its cluster's.
        assert piece.spec == {}
    (whole,) = cluster_runs(_repaired_run(True))
    assert (whole.cluster_id, whole.outcome, whole.repaired_attempts, whole.spec) == ("c-repair", "succeeded", 1, REPAIR)


def test_a_run_never_repaired_has_no_first_attempts() -> None:
    run = _repaired_run(True)
    run["repair_history"] = []
    assert first_attempts(run) == {}
