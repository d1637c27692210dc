"""Spark's own History Server accepts simulated logs and shows the simulation's jobs, stages, tasks, executors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.sim.run import SimulatedRun, simulate_run


def _run(spec: dict[str, Any], profile: str, seed: int, spot: float, start_ms: int) -> SimulatedRun:
    return simulate_run(spec, profile, seed=seed, day=2, cluster_id=f"1124-{seed:06d}-sim", spark_context_id=str(
        7000 + seed), start_time_ms=start_ms, job_id=42, run_id=1000 + seed, app_name="Databricks Shell",
        spot_loss_prob=spot)


@pytest.fixture
def simulated_logs(tmp_path: Path) -> tuple[Path, list[SimulatedRun]]:
    runs = [
        # Spot workers, all reclaimed: ExecutorLostFailure, resubmitted map outputs, replacements.
        _run({"spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge", "num_workers": 3,
              "aws_attributes": {"availability": "SPOT_WITH_FALLBACK", "first_on_demand": 1}},
             "etl_join_aggregate", seed=0, spot=1.0, start_ms=1_790_000_000_000),
        # Autoscaling: executors added on backlog and killed by the driver when idle.
        _run({"spark_version": "15.4.x-scala2.12", "node_type_id": "r6id.xlarge",
              "autoscale": {"min_workers": 1, "max_workers": 8}}, "skewed_join", seed=3, spot=0.0,
             start_ms=1_790_100_000_000),
        # Many small jobs with a cached dataset.
        _run({"spark_version": "16.4.x-scala2.12", "node_type_id": "Standard_E8s_v5", "num_workers": 2},
             "iterative_ml", seed=5, spot=0.0, start_ms=1_790_200_000_000),
        # A hot key on small-memory nodes: OutOfMemoryError four times, stage aborted, job failed.
        _run({"spark_version": "15.4.x-scala2.12", "node_type_id": "c5.xlarge", "num_workers": 3}, "skewed_join",
             seed=1, spot=0.0, start_ms=1_790_300_000_000),
    ]
    log_dir = tmp_path / "spark-events"
    log_dir.mkdir()
    for run in runs:
        # Spark's single-file layout: one file named after the application id, the whole stream.
        (log_dir / run.spark_app_id).write_text("".join(line + "\n" for _, line in run.eventlog))
    return log_dir, runs


def test_history_server_shows_the_simulated_applications(simulated_logs, history_server_factory) -> None:
    log_dir, runs = simulated_logs
    assert any(r.summary["spot_losses"] for r in runs)
    assert any(e["reason"] == "Executor killed by driver." for r in runs for e in r.summary["executors_removed"])
    assert [r.result_state for r in runs] == ["SUCCESS", "SUCCESS", "SUCCESS", "FAILED"]
    server = history_server_factory(log_dir)
    server.wait_for_apps({r.spark_app_id for r in runs})
    apps = {a["id"]: a for a in server.get("/applications")}
    for run in runs:
        truth = run.summary
        app = apps[run.spark_app_id]
        assert app["name"] == "Databricks Shell"
        assert app["attempts"][0]["completed"] is True
        assert app["attempts"][0]["duration"] == truth["app_end_ms"] - _app_start(run)
        base = f"/applications/{run.spark_app_id}"

        jobs = sorted(server.get(base + "/jobs"), key=lambda j: j["jobId"])
        assert [j["jobId"] for j in jobs] == [j["job_id"] for j in truth["jobs"]]
        assert [j["status"] for j in jobs] == [j["status"] for j in truth["jobs"]]
        assert [sorted(j["stageIds"]) for j in jobs] == [sorted(j["stage_ids"]) for j in truth["jobs"]]

        stages = {s["stageId"]: s for s in server.get(base + "/stages")}
        assert sorted(stages) == [s["stage_id"] for s in truth["stages"]]
        for st in truth["stages"]:
            got = stages[st["stage_id"]]
            assert got["status"] == st["status"]
            assert got["numTasks"] == st["num_tasks"]
            assert got["numCompletedIndices"] == st["completed_indices"]
            assert got["numKilledTasks"] == st["killed"]
            assert got["numCompleteTasks"] == st["succeeded"]
            # Spark counts a resubmitted map output as a failed task of the stage.
            assert got["numFailedTasks"] == st["failed"] + st["resubmitted"]
            assert got["inputBytes"] == st["input_bytes"]
            assert got["shuffleWriteBytes"] == st["shuffle_write_bytes"]
            assert got["shuffleReadBytes"] == st["shuffle_read_bytes"]
            assert got["outputBytes"] == st["output_bytes"]
            assert got["memoryBytesSpilled"] == st["memory_spilled_bytes"]
            assert got["executorRunTime"] == st["executor_run_ms"]
            if st["status"] == "SKIPPED":
                continue
            tasks = server.get(f"{base}/stages/{st['stage_id']}/0/taskList?length=100000")
            assert sorted(t["taskId"] for t in tasks) == st["task_ids"]
            # A resubmitted task keeps its SUCCESS record; its re-run is a new task id.
            assert sum(t["status"] == "SUCCESS" for t in tasks) == st["succeeded"]
            assert sum(t["status"] == "FAILED" for t in tasks) == st["failed"]
            assert sum(t["status"] == "KILLED" for t in tasks) == st["killed"]

        executors = {e["id"]: e for e in server.get(base + "/allexecutors")}
        assert set(executors) == {*truth["executors_added"], "driver"}
        removed = {e["executor_id"]: e for e in truth["executors_removed"]}
        for executor_id, ex in executors.items():
            assert ex["isActive"] is (executor_id not in removed)
            if executor_id in removed:
                assert ex["removeReason"] == removed[executor_id]["reason"]
        assert sum(e["totalTasks"] for e in executors.values()) == truth["tasks"]
        active = {e["id"] for e in server.get(base + "/executors")}
        assert active == {*truth["executors_added"], "driver"} - set(removed)


def _app_start(run: SimulatedRun) -> int:
    import json

    for _, line in run.eventlog:
        event = json.loads(line)
        if event["Event"] == "SparkListenerApplicationStart":
            return event["Timestamp"]
    raise AssertionError("no ApplicationStart")
